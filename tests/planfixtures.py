"""Small readable fixtures for planner tests: a tiny factory, applied or not, started or not."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from reconciler.load import load_manifests
from reconciler.resources import Desired
from reconciler.state import Observed, ResourceState, State, StepProgress

from .conftest import write

NOW = dt.datetime(2026, 11, 24, 9, 30, tzinfo=dt.UTC)

FACTORY = """
kind: Client
items:
  - {id: C-1, name: Κατασκευαστική Αιγαίου ΑΕ}
  - {id: C-2, name: Θερμοπρόσοψη ΟΕ}
---
kind: Product
items:
  - {id: P-1, name: Προφίλ 60x40}
  - {id: P-2, name: Παράθυρο 1200x1400}
---
kind: Routing
id: ΚΟΠΗ
steps:
  - {workstation: LASER, job_task: Κοπή}
  - {workstation: ΜΟΝΤΑΖ 1, job_task: Πλαίσιο}
---
kind: WorkOrder
id: WO-1
client: C-1
comments: φάση Α
lines:
  - id: "131319"
    product: P-1
    quantity: 200
    comments: πρώτη παρτίδα
    routing: ΚΟΠΗ
    bom: [{item: ΜΠΙΛΙΕΤΑ, quantity: 10, unit: kg}]
    custom_fields: {ΔΙΑΣΤΑΣΕΙΣ: 60x40}
  - id: "131320"
    product: P-2
    quantity: 24
    workflow: Συναρμολόγηση
"""


def desired(tmp: Path, text: str = FACTORY) -> Desired:
    folder = tmp / "manifests"
    for old in folder.glob("*.yaml") if folder.exists() else []:
        old.unlink()
    write(tmp, "manifests/factory.yaml", text)
    return load_manifests(folder)


def started(workstation: str = "LASER", done: float = 120) -> Observed:
    return Observed(
        status="production",
        started=True,
        steps=(
            StepProgress(workstation="LASER", job_task="Κοπή", status="in_progress", qty_done=done),
            StepProgress(workstation="ΜΟΝΤΑΖ 1", job_task="Πλαίσιο"),
        ),
        observed_at=NOW.isoformat(),
    )


def not_started() -> Observed:
    return Observed(status="standby", started=False, observed_at=NOW.isoformat())


def applied(
    d: Desired, observed: dict[str, Observed] | None = None, *, archived: tuple[str, ...] = (), serial: int = 7
) -> State:
    """The state after applying ``d``, with production facts for some lines."""
    observed = observed or {}
    resources = {}
    for addr, res in d.resources.items():
        state = ResourceState.applied(res, observed.get(res.id) if res.kind.value == "WorkOrderLine" else None)
        if res.id in archived:
            state = state.model_copy(update={"archived": True})
        resources[addr] = state
    return State(lineage="5b0c2f8e-0000-4000-8000-000000000001", serial=serial, resources=resources)
