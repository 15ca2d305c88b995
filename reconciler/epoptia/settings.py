"""How carefully the client talks to a target: request spacing and retries, as configuration values.

Light on purpose: reconciler.yaml is validated with these before any HTTP code is imported.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Spacing(_Value):
    """Minimum time between requests to one target, in seconds, across all processes."""

    read_interval: Annotated[float, Field(ge=0)]
    write_interval: Annotated[float, Field(ge=0)]


# What kept a real integration from being blocked (EPOPTIA_API.md, "Rate limits").
REAL_TENANT_SPACING = Spacing(read_interval=1.0, write_interval=2.0)
NO_SPACING = Spacing(read_interval=0.0, write_interval=0.0)


class RetryPolicy(_Value):
    """Retries of idempotent calls after timeouts, connection errors and 5xx."""

    attempts: Annotated[int, Field(ge=1, le=10)] = 4
    backoff: Annotated[float, Field(ge=0)] = 1.0  # seconds before the second try, doubled each time

    def delays(self) -> Iterator[float]:
        for n in range(self.attempts - 1):
            yield self.backoff * (2**n)
