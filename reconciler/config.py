"""reconciler.yaml: where the manifests are and the targets they are applied to.

A target is one Epoptia tenant (or the built-in emulator): its endpoint, the
name of the environment variable holding its API key (never the key itself),
its state file, its request spacing and its deletion limit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .errors import ConfigError, ManifestError
from .load import load_yaml_model
from .planning import DeleteLimit
from .relay.config import RelayConfig
from .windows import ApplyWindows

CONFIG_FILE = "reconciler.yaml"
EMULATOR = "emulator"


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Throttle(_Config):
    """Minimum spacing between requests, in seconds."""

    read_interval: Annotated[float, Field(ge=0)]
    write_interval: Annotated[float, Field(ge=0)]


# What kept a real integration from being blocked (EPOPTIA_API.md, "Rate limits").
REAL_TENANT_THROTTLE = Throttle(read_interval=1.0, write_interval=2.0)
EMULATOR_THROTTLE = Throttle(read_interval=0.0, write_interval=0.0)


class DeleteLimitConfig(_Config):
    count: Annotated[int, Field(ge=0)] = 10
    percent: Annotated[float, Field(ge=0, le=100)] = 10.0


class Retries(_Config):
    attempts: Annotated[int, Field(ge=1, le=10)] = 4
    backoff: Annotated[float, Field(ge=0)] = 1.0  # seconds before the second try, doubled each time


class Target(_Config):
    endpoint: Annotated[str, Field(min_length=1)]
    api_key_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = "EPOPTIA_API_KEY"
    state: Annotated[str, Field(min_length=1)]
    throttle: Throttle | None = None
    delete_limit: DeleteLimitConfig = DeleteLimitConfig()
    timeout: Annotated[float, Field(gt=0)] = 120.0
    retries: Retries | None = None
    # Overrides of the wire profile (reconciler/epoptia/profile.py) for this target.
    profile: dict[str, Any] | None = None
    apply_windows: ApplyWindows | None = None
    relay: RelayConfig | None = None

    @model_validator(mode="after")
    def _endpoint_shape(self) -> "Target":
        if self.endpoint != EMULATOR and not self.endpoint.startswith(("https://", "http://")):
            raise ValueError(
                f"endpoint {self.endpoint!r} must be 'emulator' or a URL such as https://acme.epoptia.io"
            )
        return self

    @property
    def is_emulator(self) -> bool:
        return self.endpoint == EMULATOR

    @property
    def effective_throttle(self) -> Throttle:
        if self.throttle is not None:
            return self.throttle
        return EMULATOR_THROTTLE if self.is_emulator else REAL_TENANT_THROTTLE

    @property
    def effective_retries(self) -> Retries:
        if self.retries is not None:
            return self.retries
        return Retries(backoff=0.05) if self.is_emulator else Retries()

    @property
    def deletion_limit(self) -> DeleteLimit:
        return DeleteLimit(count=self.delete_limit.count, percent=self.delete_limit.percent)


class Config(_Config):
    manifests: str = "manifests"
    default_target: str
    targets: Annotated[dict[str, Target], Field(min_length=1)]

    @model_validator(mode="after")
    def _default_exists(self) -> "Config":
        if self.default_target not in self.targets:
            raise ValueError(
                f"default_target {self.default_target!r} is not one of the targets: {', '.join(self.targets)}"
            )
        return self


def find_config(start: Path) -> Path:
    """reconciler.yaml in ``start`` or the nearest folder above it, the way git finds .git."""
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_FILE
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"no {CONFIG_FILE} in {start} or any folder above it",
        hint=f"run from your manifests repository, or pass --config PATH; the README shows a minimal {CONFIG_FILE}",
    )


def load_config(path: Path) -> Config:
    try:
        return load_yaml_model(path, Config, "configuration file")  # type: ignore[return-value]
    except ManifestError as error:
        raise ConfigError(error.message, hint=error.hint) from None
