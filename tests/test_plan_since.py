"""A plan against a state that matches an earlier version of the manifests looks only at what changed since.

The parse cache remembers the fingerprints of earlier versions of the index and the addresses changed
since each (``resources.Since``); the planner uses them when the state's fingerprint is one of them.
Each plan made so is compared with the plan made from scratch, without any cache. And a cold plan (no
cache at all) whose manifests have the fingerprint of the state file's sealed summary indexes no entry.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.load import load_manifests
from reconciler.planning import make_plan
from reconciler.planning.plan import Plan
from reconciler.state import ResourceState, State, StateStore
from reconciler.state import store as store_module
from reconciler.state.values import Snapshot

WORK_ORDERS = Path("manifests/work-orders/2026-12")


def _plans(cache: Path, store: StateStore, *, since: bool = True) -> tuple[Plan, Plan]:
    """The plan made with the caches (from what changed since the state's version, when ``since``),
    and the plan made from scratch."""
    desired, snapshot = load_manifests(Path("manifests"), cache_dir=cache), store.snapshot()
    assert (desired.since is not None and snapshot.fingerprint in desired.since) is since
    cached = make_plan(desired, snapshot, target="t")
    fresh_store = StateStore(store.path)  # no cache: the state indexed from the file
    fresh = make_plan(load_manifests(Path("manifests")), fresh_store.snapshot(), target="t")
    return cached, fresh


def _same(cached: Plan, fresh: Plan) -> None:
    assert cached.actions == fresh.actions
    assert (cached.unchanged, cached.unverified, cached.history) == (fresh.unchanged, fresh.unverified, fresh.history)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def applied(sample_repo: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, StateStore]:
    """The sample, applied: the state holds what the manifests want; the caches know this version."""
    monkeypatch.chdir(sample_repo)
    cache = Path(".reconciler/cache")
    desired = load_manifests(Path("manifests"), cache_dir=cache)
    store = StateStore(Path("state/t.json"), cache_dir=cache)
    store.write(State(resources={a: ResourceState.applied(r) for a, r in desired.resources.items()}))
    assert not make_plan(desired, store.snapshot(), target="t").actions
    return cache, store


def test_an_edited_line_is_planned_without_decoding_the_state_index(applied, monkeypatch) -> None:
    cache, store = applied
    _edit(WORK_ORDERS / "WO-26-0415.yaml", "quantity: 1000", "quantity: 1100")
    desired = load_manifests(Path("manifests"), cache_dir=cache)
    snapshot = store.snapshot()
    assert desired.since is not None and desired.since.get(snapshot.fingerprint)

    def decoded(_: Snapshot) -> None:
        raise AssertionError("the state's rows were decoded")

    with monkeypatch.context() as patched:
        patched.setattr(Snapshot, "rows", property(decoded))
        plan = make_plan(desired, snapshot, target="t")
    assert [(a.verb.value, a.address) for a in plan.actions] == [("update", "WorkOrderLine/131350")]
    _same(*_plans(cache, store))


def test_lines_and_work_orders_that_came_and_went_are_planned_as_from_scratch(applied) -> None:
    cache, store = applied
    edited = WORK_ORDERS / "WO-26-0415.yaml"
    _edit(edited, "quantity: 1000", "quantity: 1100")
    _edit(edited, "  - id: 131351\n", "  - id: 131359\n")  # a line went, another came
    (WORK_ORDERS / "WO-26-0414.yaml").unlink()  # a work order and its lines went
    (WORK_ORDERS / "WO-26-0499.yaml").write_text(
        "kind: WorkOrder\nid: WO-26-0499\nclient: C-1001\nlines:\n"
        "  - {id: 139999, product: P-2001, quantity: 5, routing: ΚΟΠΗ-ΒΑΦΗ, archived: true}\n",
        encoding="utf-8",
    )
    cached, fresh = _plans(cache, store)
    verbs = {a.verb.value for a in cached.actions}
    assert {"create", "update", "delete", "archive"} <= verbs
    _same(cached, fresh)


def test_changes_made_over_several_plans_are_all_looked_at(applied) -> None:
    """The state still matches the first version while the manifests moved on twice, then back."""
    cache, store = applied
    first, second = WORK_ORDERS / "WO-26-0415.yaml", WORK_ORDERS / "WO-26-0412.yaml"
    _edit(first, "quantity: 1000", "quantity: 1100")
    _same(*_plans(cache, store))
    _edit(second, "lines:\n", "lines:\n  - {id: 139998, product: P-2001, quantity: 7}\n")
    cached, fresh = _plans(cache, store)
    assert {a.address for a in cached.actions} == {"WorkOrderLine/131350", "WorkOrderLine/139998"}
    _same(cached, fresh)
    _edit(first, "quantity: 1100", "quantity: 1000")  # back as the state has it
    cached, fresh = _plans(cache, store)
    assert {a.address for a in cached.actions} == {"WorkOrderLine/139998"}
    _same(cached, fresh)


def test_a_state_that_matches_no_earlier_version_is_compared_whole(applied) -> None:
    cache, store = applied
    _edit(WORK_ORDERS / "WO-26-0415.yaml", "quantity: 1000", "quantity: 1100")
    load_manifests(Path("manifests"), cache_dir=cache)
    # The state moves on by itself (another run applied something): the earlier versions say nothing of it.
    state = store.read()
    gone = "WorkOrderLine/131319"
    store.write(state.model_copy(update={"resources": {a: r for a, r in state.resources.items() if a != gone}}))
    cached, fresh = _plans(cache, store, since=False)
    assert {a.address for a in cached.actions} == {"WorkOrderLine/131350", gone}
    _same(cached, fresh)


def test_a_cold_plan_that_changes_nothing_indexes_no_entry_of_the_state(applied, monkeypatch) -> None:
    _, store = applied

    def indexed(_: object) -> None:
        raise AssertionError("the state file's entries were indexed")

    with monkeypatch.context() as patched:
        patched.setattr(store_module, "index_lines", indexed)
        plan = make_plan(load_manifests(Path("manifests")), StateStore(store.path).snapshot(), target="t")
    assert not plan.actions and plan.unchanged
    # Once something changed, the entries are indexed and the plan is the one made from them.
    _edit(WORK_ORDERS / "WO-26-0415.yaml", "quantity: 1000", "quantity: 1100")
    plan = make_plan(load_manifests(Path("manifests")), StateStore(store.path).snapshot(), target="t")
    assert [(a.verb.value, a.address) for a in plan.actions] == [("update", "WorkOrderLine/131350")]
