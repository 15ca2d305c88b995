"""The relay's settings: `relay:` under a target in reconciler.yaml.

Everything the relay decides by is here, validated once: the period and the
threshold of each workstation, the spool, the MQTT broker and how its payloads
map onto counts, and the names the machines use for Epoptia's workstations.
This module imports nothing from the rest of the package (config.py imports it).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_PERIOD = 600.0  # Epoptia's example: report every 10 minutes ...


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def threshold_for(rate_per_hour: float, period: float) -> float:
    """The pieces an ideal period makes, rounded up to two significant figures.

    Epoptia's example: 7,000 pcs/hour is 116.6 pcs/min, 1,166.7 in 10 minutes, so 'every 10
    minutes or every 1,200 pcs': the period usually comes first, and the threshold only when
    the machine runs faster than its ideal rate.
    """
    expected = rate_per_hour * period / 3600.0
    if expected <= 0:
        return math.inf
    step = 10 ** max(0, math.floor(math.log10(expected)) - 1)
    return float(math.ceil(expected / step - 1e-9) * step)


class Policy(_Frozen):
    """When one workstation's sum is sent: the period elapsed or the threshold reached, whichever first.

    Give at most one of `threshold` (pieces), `cycle_time` (ideal seconds per piece) or `rate`
    (ideal pieces per hour); the last two compute the threshold as Epoptia's example does.
    """

    period: Annotated[float, Field(gt=0)] | None = None
    threshold: Annotated[float, Field(gt=0)] | None = None
    cycle_time: Annotated[float, Field(gt=0)] | None = None
    rate: Annotated[float, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _one_threshold(self) -> Policy:
        given = [n for n in ("threshold", "cycle_time", "rate") if getattr(self, n) is not None]
        if len(given) > 1:
            raise ValueError(f"give only one of threshold, cycle_time or rate (got {', '.join(given)})")
        return self


class Fields(_Frozen):
    """Names of the fields of a JSON count (stdin line or MQTT payload); dotted paths reach inside objects."""

    workstation: str = "workstation"
    quantity: str = "quantity"
    event: str = "event"
    id: str = "id"


class Mqtt(_Frozen):
    host: Annotated[str, Field(min_length=1)] = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    topics: Annotated[tuple[str, ...], Field(min_length=1)] = ("factory/+/count",)
    qos: Literal[0, 1, 2] = 1
    # A persistent session, so the broker keeps what arrives while the relay is down.
    client_id: str | None = None  # default: reconciler-relay-<target>
    username_env: str | None = None  # names of environment variables, never the secrets
    password_env: str | None = None
    keepalive: Annotated[int, Field(ge=5)] = 60
    # Where the workstation is when the payload does not say: the topic level at this index
    # (factory/LASER/count -> 1). None: the payload must name it.
    topic_workstation: Annotated[int, Field(ge=0)] | None = 1
    fields: Fields = Fields()


class RelayConfig(_Frozen):
    """`relay:` of a target. Times are seconds."""

    period: Annotated[float, Field(gt=0)] = DEFAULT_PERIOD
    threshold: Annotated[float, Field(gt=0)] | None = None  # default for every workstation (None: period only)
    # Names the machines use -> Epoptia workstation ids. Plain integer ids always work too.
    workstations: dict[str, int] = {}
    # Per workstation (by name or id): its own period and threshold / cycle_time / rate.
    policy: dict[str, Policy] = {}
    spool: str | None = None  # default: .reconciler/relay/<target>.sqlite next to reconciler.yaml
    fields: Fields = Fields()  # JSON lines on stdin
    mqtt: Mqtt | None = None
    # Backoff of retries after a failed send or read: doubled from `backoff` up to `backoff_max`.
    backoff: Annotated[float, Field(gt=0)] = 5.0
    backoff_max: Annotated[float, Field(gt=0)] = 300.0
    # After a send with no answer (timeout, dropped connection, 5xx, a crash), the relay reads
    # the lines to learn whether it took effect; it waits the target's timeout plus this first,
    # so that a request still running at Epoptia has finished.
    settle_grace: Annotated[float, Field(ge=0)] = 30.0
    # Event ids (the `id` field) are remembered this long to drop a source's repeats.
    dedupe_window: Annotated[float, Field(gt=0)] = 7 * 24 * 3600.0
    # 'full' survives a power cut; 'normal' survives a crash of the relay only, and is faster.
    synchronous: Literal["full", "normal"] = "full"

    def policy_for(self, workstation_id: int, name: str | None = None) -> tuple[float, float]:
        """(period, threshold) of one workstation; threshold is inf when only the period counts."""
        own = self.policy.get(str(workstation_id)) or (self.policy.get(name) if name else None) or Policy()
        period = own.period or self.period
        if own.threshold is not None:
            return period, own.threshold
        if own.cycle_time is not None:
            return period, threshold_for(3600.0 / own.cycle_time, period)
        if own.rate is not None:
            return period, threshold_for(own.rate, period)
        return period, self.threshold if self.threshold is not None else math.inf
