"""Every reason a saved plan is stale, each produced on its own, and the moves that do not make it stale."""

from __future__ import annotations

from pathlib import Path

from reconciler.planning import Verb, make_plan
from reconciler.planning.plan import Action, Plan
from reconciler.planning.staleness import stale_reasons
from reconciler.resources import Kind
from reconciler.state import Observed, State, StepProgress

from .planfixtures import FACTORY, NOW, applied, desired, not_started, started

OTHER_LINEAGE = "5b0c2f8e-0000-4000-8000-00000000beef"


def plan_of(d, s: State):
    return make_plan(d, s, target="local", now=NOW)


def edited(tmp: Path, old: str, new: str):
    assert old in FACTORY
    return desired(tmp, FACTORY.replace(old, new, 1))


def stale(plan: Plan, state: State, target: str = "local") -> list[str]:
    return stale_reasons(plan, state.snapshot(), target)


def test_a_plan_for_another_target_says_only_that(tmp_path: Path) -> None:
    d = desired(tmp_path)
    p = plan_of(d, State())
    assert stale(p, State(lineage=OTHER_LINEAGE), "production") == [
        "the plan was made for target 'local', not 'production'"
    ]


def test_a_plan_from_another_state_file_says_only_that(tmp_path: Path) -> None:
    d = desired(tmp_path)
    before = applied(d)
    p = plan_of(edited(tmp_path, "comments: πρώτη παρτίδα", "comments: δεύτερη"), before)
    other = before.model_copy(update={"lineage": OTHER_LINEAGE})
    assert stale(p, other) == [
        f"the plan was made from another state file (lineage {before.lineage}, now {OTHER_LINEAGE})"
    ]


def test_a_lineage_on_one_side_only_is_not_another_state_file(tmp_path: Path) -> None:
    d = desired(tmp_path)
    p = plan_of(d, State())  # a first plan: no lineage yet
    assert p.lineage is None
    assert stale(p, State(lineage=OTHER_LINEAGE)) == []
    q = plan_of(d, applied(d).model_copy(update={"lineage": OTHER_LINEAGE}))
    assert stale(q, State()) == []  # the state lost its lineage: nothing to compare


def test_creates_of_resources_another_run_created_meanwhile(tmp_path: Path) -> None:
    d = desired(tmp_path)
    p = plan_of(d, State())
    assert {a.verb for a in p.actions} == {Verb.CREATE}
    now = applied(d)
    assert stale(p, now) == [f"{a.address} was created or adopted since this plan was made" for a in p.actions]
    # Only those that exist now.
    partly = State(resources={k: v for k, v in now.resources.items() if k.startswith("Client/")})
    assert stale(p, partly) == [
        "Client/C-1 was created or adopted since this plan was made",
        "Client/C-2 was created or adopted since this plan was made",
    ]


def test_an_adopt_is_stale_like_a_create(tmp_path: Path) -> None:
    d = desired(tmp_path)
    action = Action(
        verb=Verb.ADOPT,
        kind=Kind.WORK_ORDER_LINE,
        id="131319",
        parent="WO-1",
        prior_digest="was-known",
        payload={},
        digest="d",
    )
    p = Plan(target="local", lineage=None, serial=0, created_at=NOW.isoformat(), actions=(action,))
    assert stale(p, applied(d)) == ["WorkOrderLine/131319 was created or adopted since this plan was made"]
    assert stale(p, State()) == []


def test_an_update_of_a_resource_another_apply_removed(tmp_path: Path) -> None:
    d = desired(tmp_path)
    before = applied(d)
    p = plan_of(edited(tmp_path, "comments: πρώτη παρτίδα", "comments: δεύτερη"), before)
    assert [a.address for a in p.actions] == ["WorkOrderLine/131319"]
    gone = before.model_copy(
        update={"resources": {k: v for k, v in before.resources.items() if k != "WorkOrderLine/131319"}}
    )
    assert stale(p, gone) == ["WorkOrderLine/131319 is no longer in the state (another apply removed it)"]


def test_a_resource_changed_by_another_apply_or_in_epoptia(tmp_path: Path) -> None:
    d = desired(tmp_path)
    before = applied(d)
    p = plan_of(edited(tmp_path, "comments: πρώτη παρτίδα", "comments: δεύτερη"), before)
    entry = before.resources["WorkOrderLine/131319"]
    moved = before.model_copy(
        update={
            "resources": {**before.resources, "WorkOrderLine/131319": entry.model_copy(update={"digest": "f" * 32})}
        }
    )
    assert stale(p, moved) == [
        "WorkOrderLine/131319 changed since this plan was made (another apply, or a change in Epoptia)"
    ]


def test_a_line_that_started_since(tmp_path: Path) -> None:
    d = desired(tmp_path)
    before = applied(d, {"131319": not_started()})
    p = plan_of(edited(tmp_path, "comments: πρώτη παρτίδα", "comments: δεύτερη"), before)
    assert p.actions[0].prior_started is False
    now = applied(d, {"131319": started()})
    assert stale(p, now) == ["line 131319 started since this plan was made"]
    # Never observed when planned (no refresh), observed started now: also "started since".
    unseen = plan_of(edited(tmp_path, "comments: πρώτη παρτίδα", "comments: δεύτερη"), applied(d))
    assert unseen.actions[0].prior_started is None
    assert stale(unseen, now) == ["line 131319 started since this plan was made"]


def test_a_started_line_that_moved_on_the_shop_floor(tmp_path: Path) -> None:
    d = desired(tmp_path)
    before = applied(d, {"131319": started(done=120)})
    p = plan_of(edited(tmp_path, "comments: πρώτη παρτίδα", "comments: δεύτερη"), before)
    assert p.actions[0].prior_started is True
    assert stale(p, applied(d, {"131319": started(done=150)})) == [
        "line 131319 moved on the shop floor since this plan was made"
    ]
    # Released but not started, then back to standby: moved, not started.
    released = Observed(status="production", started=False, observed_at=NOW.isoformat())
    q = plan_of(edited(tmp_path, "comments: πρώτη παρτίδα", "comments: δεύτερη"), applied(d, {"131319": released}))
    assert stale(q, applied(d, {"131319": not_started()})) == [
        "line 131319 moved on the shop floor since this plan was made"
    ]
    # A line seen when planned and not seen since (its facts dropped): moved, not started.
    assert stale(p, applied(d)) == ["line 131319 moved on the shop floor since this plan was made"]


def test_a_work_order_whose_facts_moved_is_named_by_its_kind(tmp_path: Path) -> None:
    d = desired(tmp_path)
    before = applied(d)
    p = plan_of(edited(tmp_path, "comments: φάση Α", "comments: φάση Β"), before)
    assert [a.address for a in p.actions] == ["WorkOrder/WO-1"]
    facts = Observed(
        status="production",
        started=True,
        observed_at=NOW.isoformat(),
        steps=(StepProgress(workstation="LASER", status="started", qty_done=1),),
    )
    wo = before.resources["WorkOrder/WO-1"].model_copy(update={"observed": facts})
    now = before.model_copy(update={"resources": {**before.resources, "WorkOrder/WO-1": wo}})
    assert stale(p, now) == ["WorkOrder WO-1 started since this plan was made"]


def test_nothing_it_touches_moved_so_it_is_not_stale(tmp_path: Path) -> None:
    d = desired(tmp_path)
    before = applied(d, {"131319": started(done=120), "131320": not_started()})
    p = plan_of(edited(tmp_path, "comments: πρώτη παρτίδα", "comments: δεύτερη"), before)
    # Another apply changed an unrelated line, its facts moved, and the serial went on: still not stale.
    other = before.resources["WorkOrderLine/131320"]
    now = before.model_copy(
        update={
            "serial": before.serial + 3,
            "resources": {
                **before.resources,
                "WorkOrderLine/131320": other.model_copy(update={"digest": "e" * 32, "observed": started()}),
                "WorkOrderLine/131319": before.resources["WorkOrderLine/131319"].model_copy(
                    update={
                        "observed": started(done=120).model_copy(
                            update={"observed_at": "2027-01-01T00:00:00+00:00", "page": 4}
                        )
                    }
                ),
            },
        }
    )
    assert stale(p, now) == []


def test_every_reason_at_once_is_listed_in_plan_order(tmp_path: Path) -> None:
    d = desired(tmp_path)
    before = applied(d, {"131319": not_started(), "131320": started(done=5)})
    text = FACTORY.replace("comments: πρώτη παρτίδα", "comments: δεύτερη").replace("quantity: 24", "quantity: 25")
    text = text.replace("comments: φάση Α", "comments: φάση Β").replace(
        "id: C-2, name: Θερμοπρόσοψη ΟΕ", "id: C-2, name: Θερμοπρόσοψη ΑΕ"
    )
    text += "  - {id: '131399', product: P-1, quantity: 5, workflow: Συναρμολόγηση}\n"
    p = plan_of(desired(tmp_path, text), before)
    now = applied(desired(tmp_path, text), {"131319": started(), "131320": started(done=9)})
    now = now.model_copy(
        update={"lineage": before.lineage, "resources": {k: v for k, v in now.resources.items() if k != "Client/C-2"}}
    )
    wo = before.resources["WorkOrder/WO-1"]
    now.resources["WorkOrder/WO-1"] = wo.model_copy(update={"digest": "a" * 32})
    for addr in ("WorkOrderLine/131319", "WorkOrderLine/131320"):
        now.resources[addr] = now.resources[addr].model_copy(update={"digest": before.resources[addr].digest})
    reasons = stale(p, now)
    assert reasons == [
        "Client/C-2 is no longer in the state (another apply removed it)",
        "WorkOrder/WO-1 changed since this plan was made (another apply, or a change in Epoptia)",
        "line 131319 started since this plan was made",
        "line 131320 moved on the shop floor since this plan was made",
        "WorkOrderLine/131399 was created or adopted since this plan was made",
    ], [a.address for a in p.actions]
