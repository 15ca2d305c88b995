"""`reconciler drift`: what changed in Epoptia outside the reconciler; changes nothing."""

from __future__ import annotations

from dataclasses import dataclass

from ..context import Context
from ..planning import Drift
from .hooks import Hooks
from .plan import read_refreshed


@dataclass(frozen=True)
class DriftOutcome:
    drift: tuple[Drift, ...]
    managed: int  # resources the state manages


def drift_of_target(context: Context, hooks: Hooks) -> DriftOutcome:
    snapshot = context.state_store.snapshot()
    with context.connect() as client:
        _, _, result = read_refreshed(context, snapshot, client, hooks)
    return DriftOutcome(drift=result.drift, managed=len(snapshot))
