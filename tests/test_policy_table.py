"""Every row of the policy table, both sides of the start: one manifest edit per field path.

Each case changes exactly one field of the small factory (tests/planfixtures.py) and is planned
twice, once with the line not started and once with it started. Before the start every change is
an update; after it, the fields of rule 1 (and our cautious readings) are blocked with their own
reason and every other field is still an update. A new row in POLICY without a case here fails
``test_every_policy_row_has_a_case``.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest

from reconciler.planning import BlockReason, Verb, make_plan
from reconciler.planning.policy import POLICY, Mutability, rule_for
from reconciler.resources import Kind

from .planfixtures import FACTORY, NOW, applied, desired, not_started, started

# The second work order a line may be moved to.
WO_2 = """
---
kind: WorkOrder
id: WO-2
client: C-2
lines:
  - id: "131400"
    product: P-2
    quantity: 1
"""


class Case(NamedTuple):
    kind: Kind
    path: str  # the POLICY key this edit exercises
    after_start: BlockReason | None  # what a started line does with it, written out here, not read from POLICY
    line: str  # the line that is started in the "after" half
    old: str
    new: str
    extra: str = ""  # appended to the factory before and after the edit


R = BlockReason


CASES = [
    Case(Kind.WORK_ORDER_LINE, "quantity", R.STARTED_QUANTITY, "131319", "quantity: 200", "quantity: 250"),
    Case(
        Kind.WORK_ORDER_LINE,
        "workflow",
        R.STARTED_WORKFLOW,
        "131320",
        "workflow: Συναρμολόγηση",
        "workflow: Συναρμολόγηση Β",
    ),
    Case(Kind.WORK_ORDER_LINE, "routing", R.STARTED_ROUTING, "131319", "    routing: ΚΟΠΗ\n", ""),
    Case(
        Kind.WORK_ORDER_LINE,
        "routing.steps",
        R.STARTED_ROUTING,
        "131319",
        "  - {workstation: ΜΟΝΤΑΖ 1, job_task: Πλαίσιο}\n",
        "  - {workstation: ΜΟΝΤΑΖ 1, job_task: Πλαίσιο}\n  - {workstation: ΒΑΦΕΙΟ, job_task: Βαφή}\n",
    ),
    Case(
        Kind.WORK_ORDER_LINE,
        "routing.steps[].workstation",
        R.STARTED_ROUTING,
        "131319",
        "{workstation: ΜΟΝΤΑΖ 1,",
        "{workstation: ΜΟΝΤΑΖ 2,",
    ),
    Case(
        Kind.WORK_ORDER_LINE,
        "routing.steps[].job_task",
        R.STARTED_ROUTING,
        "131319",
        "job_task: Πλαίσιο}",
        "job_task: Κάσα}",
    ),
    Case(
        Kind.WORK_ORDER_LINE,
        "routing.steps[].bom",
        None,
        "131319",
        "job_task: Πλαίσιο}",
        "job_task: Πλαίσιο, bom: [{item: ΓΩΝΙΑ, quantity: 4}]}",
    ),
    Case(
        Kind.WORK_ORDER_LINE,
        "routing.steps[].custom_fields",
        None,
        "131319",
        "job_task: Πλαίσιο}",
        "job_task: Πλαίσιο, custom_fields: {ΧΡΩΜΑ: RAL 9016}}",
    ),
    Case(
        Kind.WORK_ORDER_LINE, "routing.name", None, "131319", "id: ΚΟΠΗ\n", "id: ΚΟΠΗ-2\n"
    ),  # with the reference below: same steps, a new label
    Case(Kind.WORK_ORDER_LINE, "product", R.STARTED_PRODUCT, "131319", "product: P-1", "product: P-2"),
    Case(
        Kind.WORK_ORDER_LINE,
        "workorder",
        R.STARTED_WORK_ORDER,
        "131320",
        '  - id: "131320"\n    product: P-2\n    quantity: 24\n    workflow: Συναρμολόγηση\n',
        "",
        extra=WO_2,
    ),
    Case(
        Kind.WORK_ORDER_LINE,
        "status",
        R.STARTED_STATUS,
        "131319",
        "    quantity: 200\n",
        "    quantity: 200\n    status: standby\n",
    ),
    Case(Kind.WORK_ORDER_LINE, "bom", None, "131319", "quantity: 10, unit: kg", "quantity: 12, unit: kg"),
    Case(Kind.WORK_ORDER_LINE, "custom_fields", None, "131319", "ΔΙΑΣΤΑΣΕΙΣ: 60x40", "ΔΙΑΣΤΑΣΕΙΣ: 60x45"),
    Case(Kind.WORK_ORDER_LINE, "comments", None, "131319", "comments: πρώτη παρτίδα", "comments: δεύτερη παρτίδα"),
    Case(Kind.WORK_ORDER_LINE, "code", None, "131319", "    quantity: 200\n", "    quantity: 200\n    code: L-1\n"),
    Case(
        Kind.WORK_ORDER_LINE,
        "description",
        None,
        "131319",
        "    quantity: 200\n",
        "    quantity: 200\n    description: κομμένο στα 6 m\n",
    ),
    Case(
        Kind.WORK_ORDER_LINE,
        "target_day",
        None,
        "131319",
        "    quantity: 200\n",
        "    quantity: 200\n    target_day: 2026-12-04\n",
    ),
    Case(
        Kind.WORK_ORDER_LINE,
        "over_under_percentage",
        None,
        "131319",
        "    quantity: 200\n",
        "    quantity: 200\n    over_under_percentage: 5\n",
    ),
    Case(
        Kind.WORK_ORDER_LINE, "tags", None, "131319", "    quantity: 200\n", "    quantity: 200\n    tags: [επείγον]\n"
    ),
    Case(
        Kind.WORK_ORDER_LINE,
        "files",
        None,
        "131319",
        "    quantity: 200\n",
        "    quantity: 200\n    files: [{name: σχέδιο.pdf, url: 'https://files.example.com/s.pdf'}]\n",
    ),
    Case(Kind.WORK_ORDER, "client", R.STARTED_CLIENT, "131319", "client: C-1", "client: C-2"),
    Case(Kind.WORK_ORDER, "comments", None, "131319", "comments: φάση Α", "comments: φάση Β"),
    Case(Kind.WORK_ORDER, "code", None, "131319", "comments: φάση Α", "comments: φάση Α\ncode: ΠΑΡ-1"),
    Case(
        Kind.WORK_ORDER,
        "files",
        None,
        "131319",
        "comments: φάση Α",
        "comments: φάση Α\nfiles: [{name: συμβόλαιο.pdf, url: 'https://files.example.com/c.pdf'}]",
    ),
]


def _edited(case: Case) -> str:
    assert case.old in FACTORY, case.old
    text = FACTORY.replace(case.old, case.new, 1)
    if case.path == "routing.name":
        text = text.replace("routing: ΚΟΠΗ\n", "routing: ΚΟΠΗ-2\n")
    if case.path == "workorder":  # the line removed from WO-1 reappears in WO-2
        return text + case.extra + case.old.replace("  - ", "  - ", 1)
    return text + case.extra


def _address(case: Case) -> str:
    return f"WorkOrderLine/{case.line}" if case.kind is Kind.WORK_ORDER_LINE else "WorkOrder/WO-1"


def test_every_policy_row_has_a_case() -> None:
    assert sorted({(c.kind, c.path) for c in CASES}) == sorted(POLICY)


@pytest.mark.parametrize("line_started", [False, True], ids=["before-start", "after-start"])
@pytest.mark.parametrize("case", CASES, ids=[f"{c.kind.value}.{c.path}" for c in CASES])
def test_each_field_both_sides_of_the_start(tmp_path: Path, case: Case, line_started: bool) -> None:
    before = desired(tmp_path, FACTORY + case.extra)
    progress = {case.line: started() if line_started else not_started()}
    plan = make_plan(desired(tmp_path, _edited(case)), applied(before, progress), target="local", now=NOW)

    actions = [a for a in plan.actions if a.address == _address(case)]
    rule = POLICY[(case.kind, case.path)]
    exercised = [a for a in actions if rule in {rule_for(case.kind, c.path) for c in a.changes}]
    assert len(exercised) == 1, [[c.path for c in a.changes] for a in actions]
    action = exercised[0]
    assert action.verb is Verb.UPDATE
    if line_started and case.after_start is not None:
        assert rule.mutability is Mutability.BEFORE_START
        assert action.blocked is not None and action.blocked.reason is case.after_start
        assert rule.noun in action.blocked.message
        assert action.payload is None  # a refused change is never sent, not even with --skip-blocked
    else:
        assert action.blocked is None, action.blocked
        assert action.payload is not None


def test_deleting_a_line_follows_the_delete_rule_both_sides_of_the_start(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.path == "workorder")
    before = desired(tmp_path)
    without = FACTORY.replace(case.old, "", 1)
    for line_started in (False, True):
        progress = {"131320": started() if line_started else not_started()}
        plan = make_plan(desired(tmp_path, without), applied(before, progress), target="local", now=NOW)
        action = next(a for a in plan.actions if a.address == "WorkOrderLine/131320")
        assert action.verb is Verb.DELETE
        if line_started:
            assert action.blocked is not None and action.blocked.reason is BlockReason.STARTED_DELETE
        else:
            assert action.blocked is None
