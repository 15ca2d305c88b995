"""Planner paths test_planner.py leaves out: what exists unmanaged, adoption, archives, workflow names, rule 5,
switched-off operations, selections, the fast path, mass deletes, labels and the order of actions."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import PlanError
from reconciler.planning import BlockReason, RefreshScope, Selection, Verb, make_plan
from reconciler.planning.planner import Tenant, WorkflowNames
from reconciler.resources import Kind
from reconciler.state import ResourceState, State

from .planfixtures import FACTORY, NOW, applied, desired, not_started, started

NAMES = WorkflowNames(known=frozenset({"Συναρμολόγηση", "Βαφή", "Διπλή"}), ambiguous=frozenset({"Διπλή"}))


def plan(d, s, **kw):
    return make_plan(d, s, target="local", now=NOW, **kw)


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def verbs(p) -> list[tuple[Verb, str, BlockReason | None]]:
    return [(a.verb, a.address, a.blocked.reason if a.blocked else None) for a in p.actions]


def test_what_epoptia_has_and_the_state_does_not_is_blocked_not_created(tmp_path: Path) -> None:
    d = desired(tmp_path)
    line = d.resources["WorkOrderLine/131319"]
    existing = {"WorkOrderLine/131319": ResourceState(payload=line.payload, digest="drift:x", parent="WO-1")}
    p = plan(d, State(), tenant=Tenant(existing=existing))
    blocked = [a for a in p.actions if a.blocked]
    assert [(a.verb, a.address) for a in blocked] == [(Verb.CREATE, "WorkOrderLine/131319")]
    assert blocked[0].blocked.reason is BlockReason.EXISTS_UNMANAGED
    assert blocked[0].blocked.message == (
        "WorkOrderLine 131319 already exists in Epoptia, but the state does not know it (a lost or new state file)"
    )
    assert "reconciler apply --adopt" in blocked[0].blocked.advice and "reconciler import" in blocked[0].blocked.advice
    assert blocked[0].payload == line.payload and blocked[0].digest == line.digest
    assert p.summary.create == 6 and p.summary.blocked == 1


def test_adopting_records_what_exists_and_plans_the_difference_under_the_rules(tmp_path: Path) -> None:
    d = desired(tmp_path)
    line = d.resources["WorkOrderLine/131319"]
    same = ResourceState(payload=line.payload, digest="drift:x", parent="WO-1")
    p = plan(d, State(), tenant=Tenant(existing={"WorkOrderLine/131319": same}), adopt=True)
    adopt = [a for a in p.actions if a.verb is Verb.ADOPT]
    assert [(a.address, a.digest, a.payload) for a in adopt] == [("WorkOrderLine/131319", line.digest, line.payload)]
    other = {**line.payload, "quantity": 150}
    seen = ResourceState(payload=other, digest="drift:y", parent="WO-1", observed=started())
    p = plan(d, State(), tenant=Tenant(existing={"WorkOrderLine/131319": seen}), adopt=True)
    mine = [a for a in p.actions if a.address == "WorkOrderLine/131319"]
    assert [(a.verb, a.blocked.reason if a.blocked else None) for a in mine] == [
        (Verb.ADOPT, None),
        (Verb.UPDATE, BlockReason.STARTED_QUANTITY),
    ]
    assert mine[0].digest == "drift:y" and mine[0].payload == other
    assert mine[1].blocked.advice == "create a new line for the extra 50"


def test_a_new_archived_line_is_created_then_archived(tmp_path: Path) -> None:
    d = desired(
        tmp_path, edit(FACTORY, "    workflow: Συναρμολόγηση\n", "    workflow: Συναρμολόγηση\n    archived: true\n")
    )
    p = plan(d, State())
    assert [(v, a) for v, a, _ in verbs(p) if a == "WorkOrderLine/131320"] == [
        (Verb.CREATE, "WorkOrderLine/131320"),
        (Verb.ARCHIVE, "WorkOrderLine/131320"),
    ]
    assert p.summary.archive == 1


def test_archived_lines_are_history(tmp_path: Path) -> None:
    text = edit(FACTORY, "    workflow: Συναρμολόγηση\n", "    workflow: Συναρμολόγηση\n    archived: true\n")
    d = desired(tmp_path, text)
    s = applied(d, archived=("131320",))
    assert plan(d, s).actions == ()
    changed = plan(desired(tmp_path, edit(text, "quantity: 24", "quantity: 30")), s)
    assert changed.actions == () and changed.history == ("WorkOrderLine/131320",) and changed.unchanged == 7


def test_archiving_a_line_sends_the_archive_alone(tmp_path: Path) -> None:
    d = desired(tmp_path)
    text = edit(FACTORY, "    workflow: Συναρμολόγηση\n", "    workflow: Συναρμολόγηση\n    archived: true\n")
    p = plan(desired(tmp_path, edit(text, "quantity: 24", "quantity: 30")), applied(d, {"131320": started()}))
    assert verbs(p) == [(Verb.ARCHIVE, "WorkOrderLine/131320", None)]
    assert p.actions[0].payload is None and p.actions[0].changes == ()


def test_workflow_names_are_checked_only_when_sent(tmp_path: Path) -> None:
    d = desired(tmp_path)
    asked = []

    def names() -> WorkflowNames:
        asked.append(1)
        return NAMES

    assert plan(d, applied(d), tenant=Tenant(workflows=names)).actions == () and asked == []
    p = plan(
        desired(tmp_path, edit(FACTORY, "workflow: Συναρμολόγηση", "workflow: Βαφή")),
        applied(d),
        tenant=Tenant(workflows=names),
    )
    assert verbs(p) == [(Verb.UPDATE, "WorkOrderLine/131320", None)] and asked == [1]
    with pytest.raises(PlanError) as caught:
        plan(
            desired(tmp_path, edit(FACTORY, "workflow: Συναρμολόγηση", "workflow: Βαφη")),
            applied(d),
            tenant=Tenant(workflows=names),
        )
    assert caught.value.message == (
        "WorkOrderLine/131320: workflow 'Βαφη' is not a workflow template in Epoptia; did you mean 'Βαφή'?"
    )
    assert "`reconciler workflows` lists the templates" in caught.value.hint
    with pytest.raises(
        PlanError,
        match="workflow 'Διπλή' is ambiguous: Epoptia has several templates with that "
        "name; rename one of them in Epoptia",
    ):
        plan(
            desired(tmp_path, edit(FACTORY, "workflow: Συναρμολόγηση", "workflow: Διπλή")),
            State(),
            tenant=Tenant(workflows=names),
        )
    # Names unknown (no read, no cache): nothing is refused.
    unknown = desired(tmp_path, edit(FACTORY, "workflow: Συναρμολόγηση", "workflow: Κάτι"))
    assert plan(unknown, State(), tenant=Tenant(workflows=lambda: None)).summary.create == 7
    assert plan(unknown, State()).summary.create == 7


TWICE = ("{workstation: ΜΟΝΤΑΖ 1, job_task: Πλαίσιο}", "{workstation: LASER, job_task: Κοπή}")


def test_rule_5_a_new_line_with_a_repeated_workstation_is_blocked(tmp_path: Path) -> None:
    p = plan(desired(tmp_path, edit(FACTORY, *TWICE)), State())
    line = next(a for a in p.actions if a.address == "WorkOrderLine/131319")
    assert line.verb is Verb.CREATE and line.blocked is not None
    assert line.blocked.reason is BlockReason.REPEATED_WORKSTATION


def test_rule_5_a_routing_changed_into_a_repeated_workstation_is_blocked(tmp_path: Path) -> None:
    twice = edit(FACTORY, *TWICE)
    distinct = edit(FACTORY, "{workstation: ΜΟΝΤΑΖ 1, job_task: Πλαίσιο}", "{workstation: LASER, job_task: Άλλη}")
    assert plan(desired(tmp_path, distinct), State()).summary.blocked == 0
    d = desired(tmp_path)
    p = plan(desired(tmp_path, twice), applied(d, {"131319": not_started()}))
    assert verbs(p) == [(Verb.UPDATE, "WorkOrderLine/131319", BlockReason.REPEATED_WORKSTATION)]
    blocked = p.actions[0].blocked
    assert blocked.message == (
        "workstation 'LASER' appears more than once in this routing without a distinct "
        "job task, which Epoptia refuses (rule 5)"
    )
    assert blocked.advice == "give each occurrence its own job_task before the routing is sent"
    assert [c.path for c in p.actions[0].changes] == ["routing.steps[1].job_task", "routing.steps[1].workstation"]
    assert p.actions[0].routing is not None and p.actions[0].payload is None
    # A routing imported as Epoptia runs it may repeat one: unchanged, it is never refused.
    s = applied(desired(tmp_path, twice))
    assert plan(desired(tmp_path, edit(twice, "comments: πρώτη παρτίδα", "comments: x")), s).summary.blocked == 0


def test_an_operation_switched_off_blocks_what_needs_it(tmp_path: Path) -> None:
    d = desired(tmp_path)
    off = {(Kind.WORK_ORDER_LINE, Verb.CREATE): "upsert_lines is switched off"}
    p = plan(d, State(), tenant=Tenant(unavailable=off))
    blocked = [a for a in p.actions if a.blocked]
    # ... and the new work order, which reaches Epoptia only on those lines, waits with them.
    assert [a.address for a in blocked] == ["WorkOrder/WO-1", "WorkOrderLine/131319", "WorkOrderLine/131320"]
    assert blocked[0].blocked.reason is BlockReason.NO_LINE_TO_CARRY
    blocked = blocked[1:]
    assert blocked[0].blocked.reason is BlockReason.OPERATION_UNAVAILABLE
    assert blocked[0].blocked.message == "upsert_lines is switched off"
    assert blocked[0].blocked.advice.startswith("run `reconciler doctor`; set the operation's path")
    # A change already blocked for another reason keeps that reason.
    off = {(Kind.WORK_ORDER_LINE, Verb.UPDATE): "off"}
    p = plan(
        desired(tmp_path, edit(FACTORY, "quantity: 200", "quantity: 250")),
        applied(d, {"131319": started()}),
        tenant=Tenant(unavailable=off),
    )
    assert verbs(p) == [(Verb.UPDATE, "WorkOrderLine/131319", BlockReason.STARTED_QUANTITY)]


def test_a_status_left_out_changes_nothing_even_on_a_started_line(tmp_path: Path) -> None:
    text = edit(FACTORY, "    quantity: 24\n", "    quantity: 24\n    status: production\n")
    d = desired(tmp_path, text)
    s = applied(d, {"131320": started()})
    p = plan(desired(tmp_path, FACTORY), s)
    assert verbs(p) == [(Verb.UPDATE, "WorkOrderLine/131320", None)]
    assert "status" not in p.actions[0].payload
    p = plan(desired(tmp_path, edit(text, "status: production", "status: standby")), s)
    assert verbs(p) == [(Verb.UPDATE, "WorkOrderLine/131320", BlockReason.STARTED_STATUS)]


def test_a_partial_update_records_the_digest_of_what_it_sent(tmp_path: Path) -> None:
    d = desired(tmp_path)
    s = applied(d, {"131319": started()})
    both = edit(edit(FACTORY, "quantity: 200", "quantity: 250"), "comments: πρώτη παρτίδα", "comments: δεύτερη")
    p = plan(desired(tmp_path, both), s)
    update = next(a for a in p.actions if a.blocked is None)
    assert update.payload["quantity"] == 200 and update.payload["comments"] == "δεύτερη"
    assert update.digest != desired(tmp_path, both).resources["WorkOrderLine/131319"].digest
    assert [c.path for c in update.changes] == ["comments"]
    assert update.routing is None
    # A whole update records the manifests' digest.
    p = plan(desired(tmp_path, edit(FACTORY, "comments: πρώτη παρτίδα", "comments: δεύτερη")), s)
    assert (
        p.actions[0].digest
        == desired(tmp_path, FACTORY.replace("comments: πρώτη παρτίδα", "comments: δεύτερη"))
        .resources["WorkOrderLine/131319"]
        .digest
    )


def test_a_digest_that_moved_without_a_field_change_is_unchanged(tmp_path: Path) -> None:
    d = desired(tmp_path)
    s = applied(d)
    entry = s.resources["WorkOrderLine/131319"]
    s = s.model_copy(
        update={
            "resources": {
                **s.resources,
                "WorkOrderLine/131319": entry.model_copy(update={"digest": "drift:" + entry.digest}),
            }
        }
    )
    p = plan(d, s)
    assert p.actions == () and p.unchanged == 7 and p.unverified == 7


def test_the_fast_path_and_unverified_counts(tmp_path: Path) -> None:
    d = desired(tmp_path)
    s = applied(d)
    p = plan(d, s, refresh=RefreshScope.FULL, pages_read=3)
    assert (p.unchanged, p.unverified, p.pages_read, p.refresh) == (7, 4, 3, RefreshScope.FULL)
    assert (p.lineage, p.serial, p.created_at) == (s.lineage, s.serial, "2026-11-24T09:30:00+00:00")
    p = plan(d, s, refresh=RefreshScope.TARGETED)
    assert p.unverified == 7
    q = plan(desired(tmp_path, edit(FACTORY, "comments: φάση Α", "comments: φάση Β")), s, refresh=RefreshScope.FULL)
    assert (q.unchanged, q.unverified) == (6, 4)  # four clients and products, never readable
    q = plan(desired(tmp_path, edit(FACTORY, "comments: φάση Α", "comments: φάση Β")), s)
    assert (q.unchanged, q.unverified) == (6, 6)


def test_mass_deletes_name_a_sample(tmp_path: Path) -> None:
    many = FACTORY + "".join(f"  - {{id: '9{i:02d}', product: P-1, quantity: 1, workflow: Βαφή}}\n" for i in range(7))
    s = applied(desired(tmp_path, many))
    with pytest.raises(PlanError) as caught:
        plan(desired(tmp_path, FACTORY), s, max_deletions=6)
    assert caught.value.message == (
        "this plan would delete 7 resources (WorkOrderLine/900, WorkOrderLine/901, "
        "WorkOrderLine/902, WorkOrderLine/903, WorkOrderLine/904 ...); the limit for this "
        "target is 6"
    )
    assert "--allow-mass-delete" in caught.value.hint and "no manifest file went missing" in caught.value.hint
    assert plan(desired(tmp_path, FACTORY), s, max_deletions=7).summary.delete == 7
    assert plan(desired(tmp_path, FACTORY), s, max_deletions=0, allow_mass_delete=True).summary.delete == 7
    assert plan(desired(tmp_path, FACTORY), s).summary.delete == 7  # the default limit is 10
    five = plan(
        desired(
            tmp_path,
            FACTORY
            + "".join(f"  - {{id: '9{i:02d}', product: P-1, quantity: 1, workflow: Βαφή}}\n" for i in range(5, 7)),
        ),
        s,
        allow_mass_delete=True,
    )
    assert five.summary.delete == 5
    with pytest.raises(PlanError) as caught:
        plan(
            five
            and desired(
                tmp_path,
                FACTORY
                + "".join(f"  - {{id: '9{i:02d}', product: P-1, quantity: 1, workflow: Βαφή}}\n" for i in range(5, 7)),
            ),
            s,
            max_deletions=4,
        )
    assert (
        "(WorkOrderLine/900, WorkOrderLine/901, WorkOrderLine/902, WorkOrderLine/903, WorkOrderLine/904); "
        in caught.value.message
    )  # five named: no "..."


def test_selections_name_what_they_miss(tmp_path: Path) -> None:
    d = desired(tmp_path)
    with pytest.raises(PlanError) as caught:
        plan(d, State(), selection=Selection(only=("WorkOrderLine/13131",)))
    assert str(caught.value).startswith("--only WorkOrderLine/13131 matches no resource in the manifests or the state")
    assert "did you mean" in str(caught.value) and "globs such as 'WorkOrder/WO-26-*'" in caught.value.hint
    with pytest.raises(PlanError, match="--exclude Client/X matches no resource"):
        plan(d, State(), selection=Selection(exclude=("Client/X",)))
    p = plan(d, State(), selection=Selection(only=("WorkOrder/WO-1",), exclude=("WorkOrderLine/131320",)))
    assert [a.address for a in p.actions] == ["Client/C-1", "Product/P-1", "WorkOrder/WO-1", "WorkOrderLine/131319"]
    assert p.only == ("WorkOrder/WO-1",) and p.exclude == ("WorkOrderLine/131320",)
    p = plan(d, State(), selection=Selection(only=("Client/*",)))
    assert [a.address for a in p.actions] == ["Client/C-1", "Client/C-2"] and p.unchanged == 0
    s = applied(d)
    p = plan(
        desired(tmp_path, edit(FACTORY, "quantity: 24", "quantity: 25")),
        s,
        selection=Selection(only=("WorkOrderLine/131319",)),
    )
    assert p.actions == () and p.unchanged == 4  # the line, its work order, client and product; the rest unseen


def test_labels_name_a_line_as_the_shop_floor_does(tmp_path: Path) -> None:
    p = plan(desired(tmp_path), State())
    line = next(a for a in p.actions if a.address == "WorkOrderLine/131319")
    assert line.label.model_dump() == {
        "work_order": "WO-1",
        "client": "Κατασκευαστική Αιγαίου ΑΕ",
        "product": "Προφίλ 60x40",
        "quantity": 200,
        "due": None,
        "workstations": ("LASER", "ΜΟΝΤΑΖ 1"),
    }
    wo = next(a for a in p.actions if a.address == "WorkOrder/WO-1")
    assert wo.label.work_order == "WO-1" and wo.label.client == "Κατασκευαστική Αιγαίου ΑΕ"
    assert next(a for a in p.actions if a.address == "Client/C-1").label is None
    # A line being deleted is labelled from the state.
    d = desired(tmp_path)
    gone = plan(
        desired(
            tmp_path,
            FACTORY.replace(
                """  - id: "131320"
    product: P-2
    quantity: 24
    workflow: Συναρμολόγηση
""",
                "",
            ),
        ),
        applied(d),
    )
    assert gone.actions[0].label.product == "Παράθυρο 1200x1400" and gone.actions[0].label.quantity == 24
    assert gone.actions[0].label.client == "Κατασκευαστική Αιγαίου ΑΕ"


def test_actions_are_ordered_for_epoptia(tmp_path: Path) -> None:
    d = desired(tmp_path)
    s = applied(d)
    text = edit(FACTORY, "  - {id: C-2, name: Θερμοπρόσοψη ΟΕ}\n", "")
    text = edit(text, "    workflow: Συναρμολόγηση\n", "    workflow: Συναρμολόγηση\n    archived: true\n")
    text = edit(text, "quantity: 200", "quantity: 201")
    text += (
        "---\nkind: WorkOrder\nid: WO-0\nclient: C-1\nlines:\n"
        "  - {id: '5', product: P-1, quantity: 1, workflow: Βαφή}\n"
    )
    p = plan(desired(tmp_path, text), s)
    assert [(a.verb, a.address) for a in p.actions] == [
        (Verb.CREATE, "WorkOrder/WO-0"),
        (Verb.CREATE, "WorkOrderLine/5"),
        (Verb.UPDATE, "WorkOrderLine/131319"),
        (Verb.ARCHIVE, "WorkOrderLine/131320"),
        (Verb.FORGET, "Client/C-2"),
    ]
    removed = plan(
        desired(tmp_path, "kind: Client\nid: C-1\nname: Κατασκευαστική Αιγαίου ΑΕ\n"), s, allow_mass_delete=True
    )
    assert [(a.verb, a.address) for a in removed.actions] == [
        (Verb.DELETE, "WorkOrderLine/131319"),
        (Verb.DELETE, "WorkOrderLine/131320"),
        (Verb.DELETE, "WorkOrder/WO-1"),
        (Verb.FORGET, "Client/C-2"),
        (Verb.FORGET, "Product/P-1"),
        (Verb.FORGET, "Product/P-2"),
    ]


def test_a_released_line_cannot_be_deleted_but_a_standby_one_can(tmp_path: Path) -> None:
    d = desired(tmp_path)
    from reconciler.state import Observed

    released = Observed(status="production", started=False, observed_at=NOW.isoformat())
    without = FACTORY.replace(
        """  - id: "131320"
    product: P-2
    quantity: 24
    workflow: Συναρμολόγηση
""",
        "",
    )
    p = plan(desired(tmp_path, without), applied(d, {"131320": released}))
    assert verbs(p) == [(Verb.DELETE, "WorkOrderLine/131320", BlockReason.STARTED_DELETE)]
    assert p.actions[0].blocked.message == (
        "line 131320 is released to production (status production): it cannot be deleted"
    )
    p = plan(desired(tmp_path, without), applied(d, {"131320": not_started()}))
    assert verbs(p) == [(Verb.DELETE, "WorkOrderLine/131320", None)]
    # A work order's archived started line does not stop the work order's deletion.
    gone = plan(
        desired(tmp_path, "kind: Client\nid: C-1\nname: x\n"),
        applied(d, {"131319": started(), "131320": not_started()}, archived=("131319",)),
        allow_mass_delete=True,
    )
    assert (Verb.DELETE, "WorkOrder/WO-1", None) in verbs(gone)


# ----------------------------------------------------------------------------- what mutation testing asked for

WITHOUT_131320 = """  - id: "131320"
    product: P-2
    quantity: 24
    workflow: Συναρμολόγηση
"""


def released():
    from reconciler.state import Observed

    return Observed(status="production", started=False, observed_at=NOW.isoformat())


def test_a_released_line_is_not_started_for_changes_but_launched_for_deletes(tmp_path: Path) -> None:
    d = desired(tmp_path)
    s = applied(d, {"131319": released()})
    p = plan(desired(tmp_path, edit(FACTORY, "quantity: 200", "quantity: 250")), s)
    assert verbs(p) == [(Verb.UPDATE, "WorkOrderLine/131319", None)]
    p = plan(desired(tmp_path, edit(FACTORY, "client: C-1", "client: C-2")), s)
    assert verbs(p) == [(Verb.UPDATE, "WorkOrder/WO-1", None)]
    gone = plan(desired(tmp_path, "kind: Client\nid: C-1\nname: x\n"), s, allow_mass_delete=True)
    assert (Verb.DELETE, "WorkOrder/WO-1", BlockReason.STARTED_DELETE) in verbs(gone)
    wo = next(a for a in gone.actions if a.address == "WorkOrder/WO-1")
    assert wo.blocked.message == (
        "work order WO-1 cannot be deleted: line 131319 is released to production (status production)"
    )


def test_a_work_order_whose_lines_the_state_does_not_hold(tmp_path: Path) -> None:
    d = desired(tmp_path)
    s = applied(d)
    s = s.model_copy(update={"resources": {k: v for k, v in s.resources.items() if not k.startswith("WorkOrderLine/")}})
    p = plan(desired(tmp_path, edit(FACTORY, "client: C-1", "client: C-2")), s)
    assert (Verb.UPDATE, "WorkOrder/WO-1", None) in verbs(p)


def test_blocked_and_restored_actions_carry_their_parent_and_prior_digest(tmp_path: Path) -> None:
    d = desired(tmp_path)
    line = d.resources["WorkOrderLine/131319"]
    existing = {"WorkOrderLine/131319": ResourceState(payload=line.payload, digest="drift:x", parent="WO-1")}
    p = plan(d, State(), tenant=Tenant(existing=existing))
    blocked = next(a for a in p.actions if a.blocked)
    assert (blocked.parent, blocked.label.work_order) == ("WO-1", "WO-1")
    assert blocked.blocked.advice == (
        "adopt what exists with `reconciler plan --adopt` / `reconciler apply --adopt` "
        "(started lines keep their started-order rules), or `reconciler import` into "
        "a new folder"
    )
    text = edit(FACTORY, "    workflow: Συναρμολόγηση\n", "    workflow: Συναρμολόγηση\n    archived: true\n")
    archive = next(a for a in plan(desired(tmp_path, text), State()).actions if a.verb is Verb.ARCHIVE)
    assert archive.parent == "WO-1" and archive.label.product == "Παράθυρο 1200x1400"
    archive = plan(desired(tmp_path, text), applied(d)).actions[0]
    assert archive.verb is Verb.ARCHIVE and archive.parent == "WO-1" and archive.label.quantity == 24
    s = applied(desired(tmp_path, text), archived=("131320",))
    restore = plan(d, s).actions[0]
    assert restore.blocked.reason is BlockReason.ARCHIVED_RESTORE and restore.parent == "WO-1"
    assert restore.prior_digest == s.resources["WorkOrderLine/131320"].digest
    assert [c.model_dump() for c in restore.changes] == [{"path": "archived", "before": True, "after": False}]
    assert restore.blocked.message == ("line 131320 is archived in Epoptia: an archived line cannot be brought back")


def test_rule_5_blocks_the_whole_update_and_counts_nothing_unchanged(tmp_path: Path) -> None:
    d = desired(tmp_path)
    s = applied(d, {"131319": not_started()})
    p = plan(desired(tmp_path, edit(FACTORY, *TWICE)), s)
    action = p.actions[0]
    assert action.parent == "WO-1" and action.prior_digest == s.resources["WorkOrderLine/131319"].digest
    assert p.unchanged == 6
    distinct = edit(FACTORY, "{workstation: ΜΟΝΤΑΖ 1, job_task: Πλαίσιο}", "{workstation: LASER, job_task: Άλλη}")
    p = plan(desired(tmp_path, distinct), s)
    assert verbs(p) == [(Verb.UPDATE, "WorkOrderLine/131319", None)] and p.actions[0].routing is not None
    assert p.actions[0].routing.after[1] == {"workstation": "LASER", "job_task": "Άλλη"}


def test_renaming_a_shared_routing_carries_no_routing_change(tmp_path: Path) -> None:
    d = desired(tmp_path)
    renamed = edit(edit(FACTORY, "id: ΚΟΠΗ", "id: ΚΟΠΗ-2"), "routing: ΚΟΠΗ", "routing: ΚΟΠΗ-2")
    p = plan(desired(tmp_path, renamed), applied(d))
    assert [c.path for c in p.actions[0].changes] == ["routing.name"] and p.actions[0].routing is None


def test_operation_switched_off_advice(tmp_path: Path) -> None:
    off = {(Kind.CLIENT, Verb.CREATE): "upsert_clients is switched off"}
    p = plan(desired(tmp_path), State(), tenant=Tenant(unavailable=off))
    assert p.actions[0].blocked.advice == (
        "run `reconciler doctor`; set the operation's path in reconciler.yaml once the tenant answers it"
    )


def test_unchanged_clients_and_products_are_unverified_even_when_their_digest_moved(tmp_path: Path) -> None:
    d = desired(tmp_path)
    s = applied(d)
    entry = s.resources["Client/C-1"]
    s = s.model_copy(
        update={
            "resources": {**s.resources, "Client/C-1": entry.model_copy(update={"digest": "drift:" + entry.digest})}
        }
    )
    p = plan(d, s, refresh=RefreshScope.FULL)
    assert (p.unchanged, p.unverified) == (7, 4)
    line = s.resources["WorkOrderLine/131319"]
    s = s.model_copy(
        update={
            "resources": {
                **s.resources,
                "WorkOrderLine/131319": line.model_copy(update={"digest": "drift:" + line.digest}),
            }
        }
    )
    assert plan(d, s, refresh=RefreshScope.FULL).unverified == 4


def test_the_plan_carries_its_window_drift_and_pages(tmp_path: Path) -> None:
    from reconciler.planning.plan import Drift, DriftCause
    from reconciler.windows import WindowCheck

    d = desired(tmp_path)
    window = WindowCheck(allowed=False, message="outside the apply windows")
    drift = (Drift(cause=DriftCause.PROGRESS, kind=Kind.WORK_ORDER_LINE, id="131319", message="moved"),)
    for s in (applied(d), State()):  # the fast path, and a full plan
        p = plan(d, s, window=window, drift=drift)
        assert (p.window, p.drift, p.pages_read) == (window, drift, 0)


def test_two_unknown_workflows_are_both_named(tmp_path: Path) -> None:
    text = edit(edit(FACTORY, "workflow: Συναρμολόγηση", "workflow: Α1"), "routing: ΚΟΠΗ", "workflow: Β2")
    with pytest.raises(PlanError) as caught:
        plan(desired(tmp_path, text), State(), tenant=Tenant(workflows=lambda: NAMES))
    assert caught.value.message.splitlines() == [
        "WorkOrderLine/131319: workflow 'Β2' is not a workflow template in Epoptia",
        "WorkOrderLine/131320: workflow 'Α1' is not a workflow template in Epoptia",
    ]
    assert caught.value.hint == "workflows are named as in Epoptia; `reconciler workflows` lists the templates"


def test_six_deletions_over_the_limit_are_named_with_an_ellipsis(tmp_path: Path) -> None:
    six = FACTORY + "".join(f"  - {{id: '9{i:02d}', product: P-1, quantity: 1, workflow: Βαφή}}\n" for i in range(6))
    with pytest.raises(PlanError) as caught:
        plan(desired(tmp_path, FACTORY), applied(desired(tmp_path, six)), max_deletions=5)
    assert "WorkOrderLine/904 ...); the limit" in caught.value.message
    assert caught.value.hint == (
        "if the manifests are right, run again with --allow-mass-delete; if not, check that "
        "no manifest file went missing"
    )


def test_selection_details(tmp_path: Path) -> None:
    d = desired(tmp_path)
    s = applied(d)
    with pytest.raises(PlanError) as caught:
        plan(d, s, selection=Selection(only=("Nothing/*",)))
    assert caught.value.hint == (
        "addresses are Kind/id, e.g. WorkOrder/WO-26-0412 or WorkOrderLine/131319; globs "
        "such as 'WorkOrder/WO-26-*' are allowed"
    )
    # A line only the state has (removed from the manifests) can be selected: its deletion.
    p = plan(
        desired(tmp_path, FACTORY.replace(WITHOUT_131320, "")), s, selection=Selection(only=("WorkOrderLine/131320",))
    )
    assert verbs(p) == [(Verb.DELETE, "WorkOrderLine/131320", None)]
    # Excluding a work order excludes its lines; an excluded need is not pulled back in.
    p = plan(d, State(), selection=Selection(exclude=("WorkOrder/WO-1",)))
    assert [a.address for a in p.actions] == ["Client/C-1", "Client/C-2", "Product/P-1", "Product/P-2"]
    p = plan(d, State(), selection=Selection(only=("WorkOrderLine/131319",), exclude=("Client/C-1",)))
    assert [a.address for a in p.actions] == ["Product/P-1", "WorkOrder/WO-1", "WorkOrderLine/131319"]
    # With a selection, an unchanged factory still goes through the selection (no fast path).
    p = plan(d, s, selection=Selection(only=("Client/*",)))
    assert p.unchanged == 2
    p = plan(d, s, selection=Selection(exclude=("Client/*",)))
    assert p.unchanged == 5


def test_deletes_go_line_by_line_within_each_work_order_before_it(tmp_path: Path) -> None:
    two = FACTORY + (
        "---\nkind: WorkOrder\nid: A-2\nclient: C-1\nlines:\n"
        "  - {id: '1', product: P-1, quantity: 1, workflow: Βαφή}\n"
        "  - {id: 'Z-9', product: P-1, quantity: 1, workflow: Βαφή}\n"
    )
    p = plan(
        desired(tmp_path, "kind: Client\nid: C-1\nname: x\n"), applied(desired(tmp_path, two)), allow_mass_delete=True
    )
    assert [a.address for a in p.actions if a.verb is Verb.DELETE] == [
        "WorkOrderLine/1",
        "WorkOrderLine/Z-9",
        "WorkOrderLine/131319",
        "WorkOrderLine/131320",
        "WorkOrder/A-2",
        "WorkOrder/WO-1",
    ]


def test_clients_come_before_work_orders_whatever_their_ids(tmp_path: Path) -> None:
    text = (
        "kind: Client\nid: ZZ\nname: Ω\n---\nkind: Product\nid: ZP\nname: Π\n---\n"
        "kind: WorkOrder\nid: AA\nclient: ZZ\nlines:\n  - {id: '1', product: ZP, quantity: 1, workflow: Βαφή}\n"
    )
    assert [a.address for a in plan(desired(tmp_path, text), State()).actions] == [
        "Client/ZZ",
        "Product/ZP",
        "WorkOrder/AA",
        "WorkOrderLine/1",
    ]


def test_labels_from_the_state_and_from_descriptions(tmp_path: Path) -> None:
    d = desired(tmp_path)
    s = applied(d)
    gone = plan(desired(tmp_path, "kind: Client\nid: C-2\nname: Θερμοπρόσοψη ΟΕ\n"), s, allow_mass_delete=True)
    line = next(a for a in gone.actions if a.address == "WorkOrderLine/131319")
    # The line, its work order, its client and its product are gone from the manifests: named from the state.
    assert (line.label.client, line.label.product, line.label.work_order) == (
        "Κατασκευαστική Αιγαίου ΑΕ",
        "Προφίλ 60x40",
        "WO-1",
    )
    described = edit(FACTORY, "    quantity: 200\n", "    quantity: 200\n    description: Κάσα\n")
    steps = edit(described, "{workstation: ΜΟΝΤΑΖ 1, job_task: Πλαίσιο}", "{job_task: Πλαίσιο}")
    label = next(
        a for a in plan(desired(tmp_path, steps), State()).actions if a.address == "WorkOrderLine/131319"
    ).label
    assert label.product == "Κάσα" and label.workstations == ("LASER", "?")


def test_a_new_archived_line_is_not_stale_against_the_state_it_was_planned_from(tmp_path: Path) -> None:
    from reconciler.planning.staleness import stale_reasons

    text = edit(FACTORY, "    workflow: Συναρμολόγηση\n", "    workflow: Συναρμολόγηση\n    archived: true\n")
    p = plan(desired(tmp_path, text), State())
    assert stale_reasons(p, State().snapshot(), "local") == []
