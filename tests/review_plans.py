"""Random plans for renderer tests: lines with planners' labels, blocked and removed ones, shared routings.

Built as Plan values directly (not through the planner), so that a test can make 10,000 changed
lines in well under a second and vary what the planner would rarely produce.
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import strategies as st

from reconciler.planning.plan import (
    Action,
    Blocked,
    BlockReason,
    Drift,
    DriftCause,
    FieldChange,
    Label,
    Plan,
    RefreshScope,
    RoutingChange,
    Verb,
)
from reconciler.resources import Kind

NAMES = [
    "Κατασκευαστική Αιγαίου ΑΕ",
    "Nordic Glazing AB",
    'ΥΑΛΟΘΕΤΗΣΗ "Β" [#2]; <νέα>',
    "`tick` & <b>bold</b>",
    "Θερμοπρόσοψη ΟΕ",
    "x" * 120,
    "*stars* _under_ |pipe|",
]
STATIONS = ["LASER", "ΜΟΝΤΑΖ 1", "ΒΑΦΕΙΟ", "ΔΙΑΤΡΗΣΗ", 'ΥΑΛΟΘΕΤΗΣΗ "Β" [#2]; <νέα>', "ΣΥΣΚΕΥΑΣΙΑ"]
ROUTE_A = ({"workstation": "LASER", "job_task": "Κοπή"}, {"workstation": "ΜΟΝΤΑΖ 1", "job_task": "Πλαίσιο"})
ROUTE_B = (ROUTE_A[0], {"workstation": STATIONS[4]}, ROUTE_A[1])


def _label(rng: Any, wo: str, qty: int) -> Label:
    return Label(
        work_order=wo,
        client=rng.choice(NAMES),
        product=rng.choice(NAMES),
        quantity=qty,
        due=f"2026-12-{rng.randrange(1, 29):02d}",
        workstations=tuple(rng.sample(STATIONS, 2)),
    )


def make_plan(rng: Any, changed: int, *, risky: int, long_ids: bool, per_order: int, drift: int = 0) -> Plan:
    """``changed`` line actions, of which ``risky`` are blocked or deletions/archives."""
    actions: list[Action] = [Action(verb=Verb.CREATE, kind=Kind.CLIENT, id="C-1", payload={"name": NAMES[0]})]
    risky_at = set(rng.sample(range(changed), min(risky, changed)))
    for i in range(changed):
        wo = f"WO-{i // per_order:06d}" + ("-" + "Ω" * 12 if long_ids else "")
        line_id = f"{100000 + i}" + ("-ΓΡΑΜΜΗ-" + "Z" * 6 if long_ids else "")
        qty = rng.randrange(1, 5000)
        label = _label(rng, wo, qty)
        if i in risky_at:
            kind = rng.choice(["blocked", "delete", "archive"])
            if kind == "blocked":
                actions.append(
                    Action(
                        verb=Verb.UPDATE,
                        kind=Kind.WORK_ORDER_LINE,
                        id=line_id,
                        parent=wo,
                        label=label,
                        changes=(FieldChange(path="quantity", before=qty, after=qty + 50),),
                        blocked=Blocked(
                            reason=BlockReason.STARTED_QUANTITY,
                            message=f"line {line_id} has started at LASER (1 of {qty} done): quantity cannot change",
                            advice="create a new line for the extra 50",
                        ),
                    )
                )
            else:
                actions.append(
                    Action(
                        verb=Verb.DELETE if kind == "delete" else Verb.ARCHIVE,
                        kind=Kind.WORK_ORDER_LINE,
                        id=line_id,
                        parent=wo,
                        label=label,
                    )
                )
            continue
        shape = rng.randrange(4)
        if shape == 0:
            actions.append(
                Action(
                    verb=Verb.CREATE,
                    kind=Kind.WORK_ORDER_LINE,
                    id=line_id,
                    parent=wo,
                    label=label,
                    payload={
                        "product": "P-1",
                        "quantity": qty,
                        "target_day": label.due,
                        "routing": {"name": "ΚΟΠΗ", "steps": list(ROUTE_B)},
                    },
                )
            )
        elif shape == 1:
            actions.append(
                Action(
                    verb=Verb.UPDATE,
                    kind=Kind.WORK_ORDER_LINE,
                    id=line_id,
                    parent=wo,
                    label=label,
                    payload={"quantity": qty, "routing": {"name": "ΚΟΠΗ", "steps": list(ROUTE_B)}},
                    changes=(FieldChange(path="routing.steps[1].workstation", before="ΜΟΝΤΑΖ 1", after=STATIONS[4]),),
                    routing=RoutingChange(before=ROUTE_A, after=ROUTE_B),
                )
            )
        elif shape == 2:
            actions.append(
                Action(
                    verb=Verb.UPDATE,
                    kind=Kind.WORK_ORDER_LINE,
                    id=line_id,
                    parent=wo,
                    label=label,
                    payload={"quantity": qty, "target_day": "2026-12-11"},
                    changes=(FieldChange(path="target_day", before=label.due, after="2026-12-11"),),
                )
            )
        else:
            actions.append(
                Action(
                    verb=Verb.UPDATE,
                    kind=Kind.WORK_ORDER_LINE,
                    id=line_id,
                    parent=wo,
                    label=label,
                    payload={"quantity": qty, "comments": rng.choice(NAMES)},
                    changes=(FieldChange(path="comments", before=None, after=rng.choice(NAMES)),),
                )
            )
    drifts = tuple(
        Drift(
            cause=rng.choice([DriftCause.PROGRESS, DriftCause.OWNED]),
            kind=Kind.WORK_ORDER_LINE,
            id=str(200000 + i),
            message=f"line {200000 + i}: LASER: 0 → {i} done (in_progress)",
        )
        for i in range(drift)
    )
    return Plan(
        target="production",
        lineage="5b0c2f8e-0000-4000-8000-000000000001",
        serial=3,
        created_at="2026-11-24T09:30:00+00:00",
        actions=tuple(actions),
        unchanged=rng.randrange(1000),
        refresh=RefreshScope.TARGETED,
        pages_read=3,
        drift=drifts,
    )


def plans(changed: int) -> st.SearchStrategy[Plan]:
    """Plans with ``changed`` changed lines; blocked plus removed lines up to 1,000."""
    return st.builds(
        make_plan,
        st.integers(0, 2**32).map(random.Random),
        st.just(changed),
        risky=st.integers(0, min(changed, 1000)),
        long_ids=st.booleans(),
        per_order=st.sampled_from([1, 3, 10, 50, 1000]),
        drift=st.sampled_from([0, 5, 2000]),
    )
