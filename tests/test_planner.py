"""The planner and its started-order policy, each documented rule on both sides of the start."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.config import DeleteLimit
from reconciler.errors import PlanError
from reconciler.planning import BlockReason, Selection, Verb, make_plan
from reconciler.planning.policy import POLICY, Mutability
from reconciler.resources import Kind, WorkOrder, WorkOrderLine
from reconciler.state import State

from .planfixtures import FACTORY, NOW, applied, desired, not_started, started


def plan(d, s, **kw):
    return make_plan(d, s, target="local", now=NOW, **kw)


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def summary(p) -> dict:
    return p.summary.model_dump()


def test_empty_state_creates_everything_in_dependency_order(tmp_path: Path) -> None:
    p = plan(desired(tmp_path), State())
    assert [a.address for a in p.actions] == [
        "Client/C-1",
        "Client/C-2",
        "Product/P-1",
        "Product/P-2",
        "WorkOrder/WO-1",
        "WorkOrderLine/131319",
        "WorkOrderLine/131320",
    ]
    assert {a.verb for a in p.actions} == {Verb.CREATE}
    assert p.serial == 0 and p.lineage is None


def test_applied_state_is_no_changes(tmp_path: Path) -> None:
    d = desired(tmp_path)
    p = plan(d, applied(d))
    assert p.actions == () and p.unchanged == 7


def test_named_routing_is_expanded_into_the_line(tmp_path: Path) -> None:
    d = desired(tmp_path)
    routing = d.resources["WorkOrderLine/131319"].payload["routing"]
    assert routing == {
        "name": "ΚΟΠΗ",
        "steps": [
            {"workstation": "LASER", "job_task": "Κοπή"},
            {"workstation": "ΜΟΝΤΑΖ 1", "job_task": "Πλαίσιο"},
        ],
    }


def test_editing_a_shared_routing_updates_every_line_that_uses_it(tmp_path: Path) -> None:
    d = desired(tmp_path)
    s = applied(d)
    d2 = desired(
        tmp_path,
        edit(FACTORY, "{workstation: ΜΟΝΤΑΖ 1, job_task: Πλαίσιο}", "{workstation: ΜΟΝΤΑΖ 2, job_task: Πλαίσιο}"),
    )
    p = plan(d2, s)
    assert [(a.verb, a.address) for a in p.actions] == [(Verb.UPDATE, "WorkOrderLine/131319")]
    assert [(c.path, c.before, c.after) for c in p.actions[0].changes] == [
        ("routing.steps[1].workstation", "ΜΟΝΤΑΖ 1", "ΜΟΝΤΑΖ 2")
    ]


# --- Rule 1: WO client, WOL quantity and workflow change only before the line has started ----------

RULE_1 = [
    # (description, old text, new text, address, reason)
    ("quantity", "quantity: 200", "quantity: 250", "WorkOrderLine/131319", BlockReason.STARTED_QUANTITY),
    (
        "routing",
        "{workstation: LASER, job_task: Κοπή}",
        "{workstation: LASER 2, job_task: Κοπή}",
        "WorkOrderLine/131319",
        BlockReason.STARTED_ROUTING,
    ),
    ("workflow", "workflow: Συναρμολόγηση", "workflow: Βαφή", "WorkOrderLine/131320", BlockReason.STARTED_WORKFLOW),
    ("client", "client: C-1", "client: C-2", "WorkOrder/WO-1", BlockReason.STARTED_CLIENT),
]


@pytest.mark.parametrize("field,old,new,addr,reason", RULE_1, ids=[r[0] for r in RULE_1])
def test_rule_1_before_start_the_change_is_an_update(tmp_path, field, old, new, addr, reason) -> None:
    d = desired(tmp_path)
    s = applied(d, {"131319": not_started(), "131320": not_started()})
    p = plan(desired(tmp_path, edit(FACTORY, old, new)), s)
    assert [(a.verb, a.address, a.blocked) for a in p.actions] == [(Verb.UPDATE, addr, None)]
    assert p.actions[0].payload is not None


@pytest.mark.parametrize("field,old,new,addr,reason", RULE_1, ids=[r[0] for r in RULE_1])
def test_rule_1_after_start_the_change_is_blocked(tmp_path, field, old, new, addr, reason) -> None:
    d = desired(tmp_path)
    s = applied(d, {"131319": started(), "131320": started(workstation="LASER", done=3)})
    p = plan(desired(tmp_path, edit(FACTORY, old, new)), s)
    assert [(a.address, a.blocked.reason if a.blocked else None) for a in p.actions] == [(addr, reason)]
    assert p.actions[0].payload is None
    assert summary(p)["blocked"] == 1 and summary(p)["update"] == 0


def test_blocked_quantity_increase_names_progress_and_advises_a_new_line(tmp_path: Path) -> None:
    d = desired(tmp_path)
    p = plan(desired(tmp_path, edit(FACTORY, "quantity: 200", "quantity: 250")), applied(d, {"131319": started()}))
    blocked = p.actions[0].blocked
    assert blocked.message == "line 131319 has started at LASER (120 of 200 done): quantity cannot change"
    assert blocked.advice == "create a new line for the extra 50"


def test_blocked_quantity_decrease_advises_stopping_and_archiving(tmp_path: Path) -> None:
    d = desired(tmp_path)
    p = plan(desired(tmp_path, edit(FACTORY, "quantity: 200", "quantity: 150")), applied(d, {"131319": started()}))
    assert p.actions[0].blocked.advice == (
        "keep quantity 200; to make only 150, let the shop floor stop there and archive the line"
    )


def test_blocked_client_on_a_work_order_names_the_started_line(tmp_path: Path) -> None:
    d = desired(tmp_path)
    p = plan(desired(tmp_path, edit(FACTORY, "client: C-1", "client: C-2")), applied(d, {"131319": started()}))
    assert p.actions[0].blocked.message == (
        "work order WO-1 is in production (line 131319 has started at LASER (120 of 200 done)): "
        "its client cannot change"
    )


# --- Rule 2: BOMs, custom fields and comments change at any time ------------------------------------

RULE_2 = [
    ("bom", "{item: ΜΠΙΛΙΕΤΑ, quantity: 10, unit: kg}", "{item: ΜΠΙΛΙΕΤΑ, quantity: 12, unit: kg}", "bom[0].quantity"),
    ("custom_fields", "{ΔΙΑΣΤΑΣΕΙΣ: 60x40}", "{ΔΙΑΣΤΑΣΕΙΣ: 60x40x6000}", "custom_fields.ΔΙΑΣΤΑΣΕΙΣ"),
    ("comments", "comments: πρώτη παρτίδα", "comments: δεύτερη παρτίδα", "comments"),
]


@pytest.mark.parametrize("observed", ["not-started", "started"])
@pytest.mark.parametrize("field,old,new,path", RULE_2, ids=[r[0] for r in RULE_2])
def test_rule_2_changes_at_any_time(tmp_path, field, old, new, path, observed) -> None:
    d = desired(tmp_path)
    s = applied(d, {"131319": started() if observed == "started" else not_started()})
    p = plan(desired(tmp_path, edit(FACTORY, old, new)), s)
    assert [(a.verb, a.address, a.blocked) for a in p.actions] == [(Verb.UPDATE, "WorkOrderLine/131319", None)]
    assert [c.path for c in p.actions[0].changes] == [path]


def test_allowed_and_refused_changes_split_and_the_update_keeps_refused_fields(tmp_path: Path) -> None:
    d = desired(tmp_path)
    s = applied(d, {"131319": started()})
    text = edit(edit(FACTORY, "quantity: 200", "quantity: 250"), "comments: πρώτη παρτίδα", "comments: άλλο")
    p = plan(desired(tmp_path, text), s)
    update, blocked = p.actions
    assert (update.verb, update.blocked, [c.path for c in update.changes]) == (Verb.UPDATE, None, ["comments"])
    assert update.payload["quantity"] == 200 and update.payload["comments"] == "άλλο"
    assert blocked.blocked.reason is BlockReason.STARTED_QUANTITY
    assert summary(p) == {
        "create": 0,
        "update": 1,
        "archive": 0,
        "delete": 0,
        "forget": 0,
        "adopt": 0,
        "blocked": 1,
        "unchanged": 6,
    }


def test_renaming_a_shared_routing_is_not_blocked_on_a_started_line(tmp_path: Path) -> None:
    d = desired(tmp_path)
    s = applied(d, {"131319": started()})
    p = plan(desired(tmp_path, FACTORY.replace("ΚΟΠΗ", "ΚΟΠΗ-ΝΕΑ")), s)
    assert [(a.verb, a.blocked, [c.path for c in a.changes]) for a in p.actions] == [
        (Verb.UPDATE, None, ["routing.name"])
    ]


# --- Delete only before launch; archive ------------------------------------------------------------

WITHOUT_131320 = FACTORY.split('  - id: "131320"')[0]


def test_removing_a_line_before_start_deletes_it(tmp_path: Path) -> None:
    d = desired(tmp_path)
    p = plan(desired(tmp_path, WITHOUT_131320), applied(d, {"131320": not_started()}))
    assert [(a.verb, a.address, a.blocked) for a in p.actions] == [(Verb.DELETE, "WorkOrderLine/131320", None)]


def test_removing_a_started_line_is_blocked_with_advice_to_archive(tmp_path: Path) -> None:
    d = desired(tmp_path)
    p = plan(desired(tmp_path, WITHOUT_131320), applied(d, {"131320": started(done=3)}))
    (action,) = p.actions
    assert (action.verb, action.blocked.reason) == (Verb.DELETE, BlockReason.STARTED_DELETE)
    assert action.blocked.message == "line 131320 has started at LASER (3 of 24 done): it cannot be deleted"
    assert "archived: true" in action.blocked.advice


def test_removing_a_work_order_deletes_lines_before_the_work_order(tmp_path: Path) -> None:
    d = desired(tmp_path)
    only_masters = FACTORY.split("---\nkind: WorkOrder")[0]
    p = plan(desired(tmp_path, only_masters), applied(d))
    assert [(a.verb.value, a.address) for a in p.actions] == [
        ("delete", "WorkOrderLine/131319"),
        ("delete", "WorkOrderLine/131320"),
        ("delete", "WorkOrder/WO-1"),
    ]


def test_removing_a_work_order_with_a_started_line_blocks_both(tmp_path: Path) -> None:
    d = desired(tmp_path)
    only_masters = FACTORY.split("---\nkind: WorkOrder")[0]
    p = plan(desired(tmp_path, only_masters), applied(d, {"131319": started()}))
    assert [(a.address, a.blocked.reason.value if a.blocked else None) for a in p.actions] == [
        ("WorkOrderLine/131319", "started-delete"),
        ("WorkOrderLine/131320", None),
        ("WorkOrder/WO-1", "started-delete"),
    ]


def test_archiving_is_a_field_and_works_on_a_started_line(tmp_path: Path) -> None:
    d = desired(tmp_path)
    p = plan(
        desired(tmp_path, edit(FACTORY, "quantity: 200", "quantity: 200\n    archived: true")),
        applied(d, {"131319": started()}),
    )
    assert [(a.verb, a.address, a.blocked) for a in p.actions] == [(Verb.ARCHIVE, "WorkOrderLine/131319", None)]


def test_an_archived_line_cannot_be_brought_back(tmp_path: Path) -> None:
    d = desired(tmp_path)
    p = plan(d, applied(d, archived=("131319",)))
    (action,) = p.actions
    assert action.blocked.reason is BlockReason.ARCHIVED_RESTORE


def test_an_archived_line_removed_from_the_manifests_is_forgotten_not_deleted(tmp_path: Path) -> None:
    d = desired(tmp_path)
    p = plan(desired(tmp_path, WITHOUT_131320), applied(d, {"131320": started()}, archived=("131320",)))
    assert [(a.verb, a.address) for a in p.actions] == [(Verb.FORGET, "WorkOrderLine/131320")]


def test_clients_and_products_removed_are_forgotten(tmp_path: Path) -> None:
    d = desired(tmp_path)
    text = edit(FACTORY, "  - {id: C-2, name: Θερμοπρόσοψη ΟΕ}\n", "")
    p = plan(desired(tmp_path, text), applied(d))
    assert [(a.verb, a.address) for a in p.actions] == [(Verb.FORGET, "Client/C-2")]


# --- Deletion safety and selectors -----------------------------------------------------------------


def _many_lines(n: int) -> str:
    lines = "".join(f"  - {{id: L{i}, product: P-1, quantity: 1}}\n" for i in range(n))
    return FACTORY + f"---\nkind: WorkOrder\nid: WO-BIG\nclient: C-1\nlines:\n{lines}"


def test_mass_delete_needs_the_flag(tmp_path: Path) -> None:
    d = desired(tmp_path, _many_lines(12))
    s = applied(d)
    with pytest.raises(PlanError, match=r"would delete 13 resources .* the limit for this target is 10"):
        plan(desired(tmp_path), s)
    p = plan(desired(tmp_path), s, allow_mass_delete=True)
    assert p.summary.delete == 13


def test_delete_limit_is_the_larger_of_count_and_percent() -> None:
    assert DeleteLimit(count=10, percent=10).allowed(50) == 10
    assert DeleteLimit(count=10, percent=10).allowed(5000) == 500


def test_only_selects_a_line_and_what_it_needs(tmp_path: Path) -> None:
    p = plan(desired(tmp_path), State(), selection=Selection(only=("WorkOrderLine/131320",)))
    assert [a.address for a in p.actions] == [
        "Client/C-1",
        "Product/P-2",
        "WorkOrder/WO-1",
        "WorkOrderLine/131320",
    ]


def test_exclude_and_globs_and_work_order_selects_its_lines(tmp_path: Path) -> None:
    d = desired(tmp_path)
    p = plan(d, State(), selection=Selection(only=("WorkOrder/WO-*",), exclude=("WorkOrderLine/1313*",)))
    assert [a.address for a in p.actions] == ["Client/C-1", "WorkOrder/WO-1"]
    p = plan(d, State(), selection=Selection(exclude=("Client/*", "Product/*")))
    assert [a.address for a in p.actions] == ["WorkOrder/WO-1", "WorkOrderLine/131319", "WorkOrderLine/131320"]


def test_unselected_resources_are_never_deleted(tmp_path: Path) -> None:
    d = desired(tmp_path)
    p = plan(desired(tmp_path, WITHOUT_131320), applied(d), selection=Selection(only=("Client/*",)))
    assert p.actions == ()


# --- The table itself ------------------------------------------------------------------------------


def test_policy_table_covers_every_payload_field() -> None:
    line_fields = set(WorkOrderLine.model_fields) - {"id", "archived"} | {"workorder"}
    wo_fields = set(WorkOrder.model_fields) - {"id", "kind", "lines"}
    assert {f for k, f in POLICY if k is Kind.WORK_ORDER_LINE and "." not in f} == line_fields
    assert {f for k, f in POLICY if k is Kind.WORK_ORDER} == wo_fields
    documented_before_start = {
        f.split(".")[0] for (k, f), r in POLICY.items() if r.documented and r.mutability is Mutability.BEFORE_START
    }
    assert documented_before_start == {"quantity", "workflow", "routing", "client"}
