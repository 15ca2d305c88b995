"""The review rule: a fresh plan is applied only if it does exactly what the reviewed one did."""

from __future__ import annotations

import pytest

from reconciler.planning import Action, Blocked, BlockReason, FieldChange, Plan, Verb
from reconciler.planning.plan import Label
from reconciler.planning.review import Difference, PlanDifference, compare, plan_digest
from reconciler.resources import Kind


def line(
    verb: Verb = Verb.UPDATE,
    id_: str = "131319",
    *,
    quantity: int = 250,
    comments: str = "δεύτερη",
    blocked: BlockReason | None = None,
    **extra: object,
) -> Action:
    return Action(
        verb=verb,
        kind=Kind.WORK_ORDER_LINE,
        id=id_,
        parent="WO-1",
        changes=(FieldChange(path="comments", before="πρώτη", after=comments),),
        payload={"quantity": quantity, "comments": comments},
        blocked=Blocked(reason=blocked, message="line 131319 has started at LASER", advice="archive it")
        if blocked
        else None,
        **extra,
    )  # type: ignore[arg-type]


def plan(*actions: Action, **fields: object) -> Plan:
    values: dict[str, object] = {
        "target": "production",
        "lineage": "L-1",
        "serial": 4,
        "created_at": "t0",
        "actions": actions,
        **fields,
    }
    return Plan(**values)  # type: ignore[arg-type]


REVIEWED = plan(line(), line(Verb.ARCHIVE, "131320"))


@pytest.mark.parametrize(
    ("fresh", "expected"),
    [
        # Display and fingerprints do not count: labels, timestamps, serial, pages read, what was observed.
        (
            plan(
                line(label=Label(product="Προφίλ"), prior_digest="other", observed_fingerprint="moved"),
                line(Verb.ARCHIVE, "131320"),
                created_at="t1",
                serial=9,
                pages_read=3,
            ),
            [],
        ),
        (plan(line()), [("WorkOrderLine/131320", (Difference.REMOVED,))]),
        (
            plan(line(), line(Verb.ARCHIVE, "131320"), line(Verb.DELETE, "131321")),
            [("WorkOrderLine/131321", (Difference.ADDED,))],
        ),
        (
            plan(line(quantity=200), line(Verb.ARCHIVE, "131320")),  # another PR's quantity, sent back
            [("WorkOrderLine/131319", (Difference.PAYLOAD,))],
        ),
        (
            plan(line(comments="τρίτη"), line(Verb.ARCHIVE, "131320")),
            [("WorkOrderLine/131319", (Difference.CHANGES, Difference.PAYLOAD))],
        ),
        (
            plan(
                line(blocked=BlockReason.STARTED_QUANTITY), line(Verb.ARCHIVE, "131320")
            ),  # the line started meanwhile
            [("WorkOrderLine/131319", (Difference.BLOCKED,))],
        ),
        (plan(line(), line(Verb.DELETE, "131320")), [("WorkOrderLine/131320", (Difference.VERB,))]),
    ],
)
def test_compare(fresh: Plan, expected: list[tuple[str, tuple[Difference, ...]]]) -> None:
    comparison = compare(REVIEWED, fresh)
    assert [(d.address, d.kinds) for d in comparison.actions] == expected
    assert comparison.identical is (expected == [])
    assert (plan_digest(fresh) == plan_digest(REVIEWED)) is comparison.identical


def test_plans_from_another_state_or_selection_are_different_plans() -> None:
    assert compare(REVIEWED, plan(*REVIEWED.actions, lineage="L-2")).plan == (PlanDifference.LINEAGE,)
    assert compare(REVIEWED, plan(*REVIEWED.actions, only=("WorkOrder/WO-1",))).plan == (PlanDifference.SELECTION,)
    assert compare(REVIEWED, plan(*REVIEWED.actions, target="staging")).plan == (PlanDifference.TARGET,)
    assert not compare(REVIEWED, plan(*REVIEWED.actions, lineage="L-2")).identical


def test_the_digest_names_what_a_plan_does_whatever_the_order() -> None:
    assert plan_digest(plan(*reversed(REVIEWED.actions))) == plan_digest(REVIEWED)
    assert len(plan_digest(REVIEWED)) == 16 and plan_digest(plan()) != plan_digest(REVIEWED)
