"""The executor, journal and recovery in this process, against the emulator over HTTP (a server on a thread).

The end-to-end tests (test_e2e_recovery.py, test_e2e_readback.py) run the same paths through the CLI as real
processes; these run them where a mutant of reconciler/executor.py lives, so mutation testing can see them fail.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.commands.apply import ApplyRequest, ApplyStatus, apply_target
from reconciler.commands.hooks import Phase, QuietHooks
from reconciler.context import Context
from reconciler.emulator.admin import ADMIN_HEADER
from reconciler.emulator.server import EmulatorServer
from reconciler.epoptia.profile import Operation
from reconciler.errors import PlanError
from reconciler.executor import Journal, recover
from reconciler.report import Outcome
from reconciler.resources import Kind
from reconciler.state import State, StateStore

from .test_e2e_recovery import factory

KEY = "executor-test-key-0123456789"
ENV = "EXECUTOR_TEST_KEY"


class Site:
    """A manifests folder and its target, the emulator behind it, and an apply run in this process."""

    def __init__(
        self, root: Path, server: EmulatorServer, *, batch_size: int = 4, page_size: int = 5, extra: str = ""
    ) -> None:
        self.root, self.server = root, server
        self.admin = httpx.Client(base_url=server.url, headers={ADMIN_HEADER: server.admin_key}, timeout=30)
        (root / "reconciler.yaml").write_text(
            "manifests: manifests\ndefault_target: t\ntargets:\n  t:\n"
            f"    endpoint: {server.url}\n    api_key_env: {ENV}\n    state: state/t.json\n"
            "    throttle: {read_interval: 0, write_interval: 0}\n    retries: {attempts: 2, backoff: 0}\n"
            f"    profile: {{batch_size: {batch_size}, page_size: {page_size}}}\n{extra}",
            encoding="utf-8",
        )

    def context(self) -> Context:
        return Context.open(self.root / "reconciler.yaml")

    def apply(self, hooks: QuietHooks | None = None, **request: Any):
        hooks = hooks or QuietHooks()
        outcome = apply_target(self.context(), ApplyRequest(auto_approve=True, **request), hooks)
        return outcome, hooks

    def state(self):
        return StateStore(self.root / "state" / "t.json").read()

    def journal(self) -> Journal:
        return self.context().journal

    def faults(self, **switches: Any) -> None:
        assert self.admin.post("/_emulator/faults", json=switches).status_code == 200

    def stored(self, kind: str = "lines") -> dict[str, dict]:
        return {d["id"]: d for d in self.admin.get(f"/_emulator/{kind}").json()[kind]}

    def stats(self) -> dict[str, Any]:
        return self.admin.get("/_emulator/stats").json()

    def write(self, rows: list[dict]) -> list[dict]:
        response = httpx.post(
            f"{self.server.url}/api/3.03/workorderlines",
            json={"data": rows},
            headers={"X-Auth-Token": KEY, "Accept": "application/json"},
        )
        return response.json()["results"]


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.setenv(ENV, KEY)
    with EmulatorServer(api_keys=(KEY,)) as server:
        s = Site(tmp_path, server)
        yield s
        s.admin.close()


def addresses(report, outcome: Outcome) -> set[str]:
    return {o.address for o in report.having(outcome)}


def lines(ids) -> set[str]:
    return {f"WorkOrderLine/{i}" for i in ids}


def test_apply_creates_in_batches_saves_and_reads_back(site: Site) -> None:
    ids = factory(site.root, work_orders=3, lines=3)
    outcome, hooks = site.apply()
    report = outcome.report
    assert outcome.status is ApplyStatus.APPLIED and report.complete and not report.recovered
    assert addresses(report, Outcome.DONE) == lines(ids) | {
        "Client/C-1",
        "Product/P-1",
        "WorkOrder/WO-0",
        "WorkOrder/WO-1",
        "WorkOrder/WO-2",
    }
    # One progress report per batch: the client, the product, then lines four at a time (work orders ride on them).
    writes = [done for phase, done, _ in hooks.phases if phase is Phase.WRITE]
    assert writes == [1, 2, 6, 10, 11]
    # New lines are listed last: from the last page the plan saw (1) for as many pages as they fill (two), the third
    # not there.
    assert [p for p in hooks.phases if p[0] is Phase.READ_BACK] == [(Phase.READ_BACK, 1, 3), (Phase.READ_BACK, 2, 3)]
    state = site.state()
    assert set(state.resources) == set(addresses(report, Outcome.DONE))
    for i in ids:
        entry = state.resources[f"WorkOrderLine/{i}"]
        assert entry.observed is not None and entry.observed.page in (1, 2) and entry.parent == f"WO-{int(i[3])}"
    assert state.resources["WorkOrder/WO-0"].payload == {"client": "C-1"}
    assert site.journal().read() is None
    assert not (site.root / "state" / "t.json.wal").exists()  # folded into the file by the final write
    assert site.apply()[0].status is ApplyStatus.NOTHING_TO_APPLY


def test_updates_archives_deletes_and_forgets(site: Site) -> None:
    ids = factory(site.root, work_orders=2, lines=3)
    site.apply()
    gone = {ids[5]}
    factory(site.root, work_orders=2, lines=3, comments="νέα", only={ids[0]}, archived={ids[1]}, drop=gone)
    (site.root / "manifests" / "factory.yaml").write_text(
        (site.root / "manifests" / "factory.yaml")
        .read_text(encoding="utf-8")
        .replace("kind: Product\nid: P-1\nname: Προφίλ\n", "kind: Product\nid: P-2\nname: Άλλο\n"),
        encoding="utf-8",
    )
    factory_text = (site.root / "manifests" / "factory.yaml").read_text(encoding="utf-8")
    (site.root / "manifests" / "factory.yaml").write_text(
        factory_text.replace("product: P-1", "product: P-2"), encoding="utf-8"
    )
    outcome, _ = site.apply(allow_mass_delete=True)
    report = outcome.report
    assert report.complete, report
    stored = site.stored()
    assert ids[5] not in stored and stored[ids[1]]["production_status"] == "archive"
    assert stored[ids[0]]["comments"] == "νέα"
    state = site.state()
    assert f"WorkOrderLine/{ids[5]}" not in state.resources and "Product/P-1" not in state.resources
    assert state.resources[f"WorkOrderLine/{ids[1]}"].archived
    assert state.resources[f"WorkOrderLine/{ids[0]}"].payload["comments"] == "νέα"
    assert addresses(report, Outcome.DONE) >= {"Product/P-1", "Product/P-2", f"WorkOrderLine/{ids[5]}"}


def test_a_work_order_change_alone_rides_on_one_of_its_lines(site: Site) -> None:
    factory(site.root, work_orders=1, lines=2)
    site.apply()
    text = (site.root / "manifests" / "factory.yaml").read_text(encoding="utf-8")
    (site.root / "manifests" / "factory.yaml").write_text(
        text.replace("client: C-1\nlines:", "client: C-1\ncomments: Βιαστικό\nlines:"), encoding="utf-8"
    )
    outcome, _ = site.apply()
    assert outcome.report.complete and "WorkOrder/WO-0" in addresses(outcome.report, Outcome.DONE)
    assert [a.address for a in outcome.plan.actions] == ["WorkOrder/WO-0"]
    assert site.stored("workorders")["WO-0"]["comments"] == "Βιαστικό"
    assert site.state().resources["WorkOrder/WO-0"].payload == {"client": "C-1", "comments": "Βιαστικό"}


def test_a_rejected_row_is_failed_and_its_work_order_not_recorded(site: Site) -> None:
    ids = factory(site.root, work_orders=1, lines=2)
    text = (site.root / "manifests" / "factory.yaml").read_text(encoding="utf-8")
    # No workflow and no routing, and the product has no default workflow: the emulator refuses the row.
    (site.root / "manifests" / "factory.yaml").write_text(
        text.replace("    routing: [{workstation: LASER, job_task: Κοπή}, {workstation: ΜΟΝΤΑΖ 1}]\n", "", 1),
        encoding="utf-8",
    )
    outcome, _ = site.apply()
    report = outcome.report
    failed = report.having(Outcome.FAILED)
    assert [f.address for f in failed] == [f"WorkOrderLine/{ids[0]}"]
    assert failed[0].detail.startswith("rejected: line needs a workflow_id or an erp_routing")
    assert addresses(report, Outcome.DONE) == {"Client/C-1", "Product/P-1", f"WorkOrderLine/{ids[1]}"}
    assert not report.complete and report.stopped_by is None
    state = site.state()
    assert "WorkOrder/WO-0" not in state.resources and f"WorkOrderLine/{ids[0]}" not in state.resources


def test_an_interrupted_apply_stops_between_batches(site: Site) -> None:
    ids = factory(site.root, work_orders=2, lines=3)
    hooks = QuietHooks()
    batches = []

    def stop_after_two() -> bool:
        batches.append(1)
        return len(batches) > 2

    hooks.interrupted = stop_after_two  # type: ignore[method-assign]
    outcome, _ = site.apply(hooks)
    report = outcome.report
    assert report.interrupted and report.stopped_by == "interrupted (Ctrl-C)"
    assert addresses(report, Outcome.NOT_ATTEMPTED) == lines(ids) | {"WorkOrder/WO-0", "WorkOrder/WO-1"}
    assert {o.detail for o in report.having(Outcome.NOT_ATTEMPTED)} == {"the run stopped before it"}
    assert set(site.state().resources) == {"Client/C-1", "Product/P-1"}
    assert site.stored() == {}


def test_a_failed_request_leaves_the_batch_unknown_and_the_journal(site: Site) -> None:
    ids = factory(site.root, work_orders=1, lines=3)
    site.faults(error_rate=1)
    with pytest.raises(Exception, match="503"):  # the refresh cannot read
        site.apply()
    site.faults()
    factory(site.root, work_orders=0)
    site.apply()  # the client and product
    factory(site.root, work_orders=1, lines=3)
    context = site.context()
    hooks = QuietHooks()

    def fail_writes(*args: Any, **kwargs: Any) -> bool:
        site.faults(error_rate=1)  # after the plan's read, before the first write
        return False

    hooks.interrupted = fail_writes  # type: ignore[method-assign]
    outcome = apply_target(context, ApplyRequest(auto_approve=True), hooks)
    report = outcome.report
    assert report.stopped_by.startswith("Epoptia answered HTTP 503 to POST /api/3.03/workorderlines")
    assert addresses(report, Outcome.UNKNOWN) == lines(ids[:3]) | {"WorkOrder/WO-0"} - {"WorkOrder/WO-0"}
    assert {o.detail for o in report.having(Outcome.UNKNOWN)} == {"the request failed; the next apply checks it"}
    assert site.journal().read()["operation"] == "upsert_lines"
    site.faults()
    again, hooks = site.apply()
    assert again.report.complete and again.report.recovered == ()  # nothing had gone through
    assert hooks.notices == []


def test_an_operation_the_tenant_lacks_is_not_applied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, KEY)
    with EmulatorServer(api_keys=(KEY,), disabled_operations=frozenset({Operation.UPSERT_PRODUCTS})) as server:
        site = Site(tmp_path, server)
        factory(site.root, work_orders=1, lines=1)
        outcome, _ = site.apply()
        report = outcome.report
        assert addresses(report, Outcome.NOT_APPLIED) == {"Product/P-1"}
        assert report.having(Outcome.NOT_APPLIED)[0].detail == "upsert_products is not available on this tenant"
        assert "Epoptia does not know POST /api/3.03/products" in report.stopped_by
        assert addresses(report, Outcome.NOT_ATTEMPTED) == {"WorkOrder/WO-0", "WorkOrderLine/600000"}
        assert addresses(report, Outcome.DONE) == {"Client/C-1"}
        assert site.journal().read() is None  # nothing of that batch was written: nothing to settle
        site.admin.close()


def test_read_back_differences_are_reported_and_recorded_as_epoptia_has_them(site: Site) -> None:
    ids = factory(site.root, work_orders=1, lines=3, comments="πρώτη")
    site.faults(mangle={"field": "comments", "append": "!"}, lose_rows=[ids[2]])
    outcome, _ = site.apply()
    report = outcome.report
    assert [(m.address, m.detail) for m in report.mismatches] == [
        (f"WorkOrderLine/{ids[0]}", "comments: sent 'πρώτη', Epoptia has 'πρώτη!'"),
        (f"WorkOrderLine/{ids[1]}", "comments: sent 'πρώτη', Epoptia has 'πρώτη!'"),
        (f"WorkOrderLine/{ids[2]}", "not found in Epoptia after the write"),
    ]
    assert not report.complete
    state = site.state()
    assert state.resources[f"WorkOrderLine/{ids[0]}"].payload["comments"] == "πρώτη!"
    assert state.resources[f"WorkOrderLine/{ids[0]}"].digest.startswith("drift:")
    assert f"WorkOrderLine/{ids[2]}" not in state.resources
    site.faults()
    again, _ = site.apply()
    assert again.report.complete and addresses(again.report, Outcome.DONE) == lines(ids)


def test_the_read_back_reads_only_the_pages_that_hold_what_it_wrote(site: Site) -> None:
    ids = factory(site.root, work_orders=4, lines=4)  # 16 lines: pages 1-4 of five
    site.apply()
    before = site.stats().get("list_lines", 0)
    factory(site.root, work_orders=4, lines=4, comments="x", only={ids[-1]})
    outcome, _ = site.apply()
    assert outcome.report.complete
    assert site.stats()["list_lines"] - before == 2  # the plan's read of page 4, the read-back's of page 4


def test_recover_settles_each_kind_of_interrupted_write(site: Site) -> None:
    ids = factory(site.root, work_orders=2, lines=2)
    site.apply()
    state = site.state()
    journal = site.journal()
    context = site.context()
    from reconciler.commands.apply import _read_for_recovery

    def settle(operation: Operation, entries: dict[str, Any]) -> tuple[list[str], dict]:
        journal.write(operation, entries)
        with context.connect() as client:
            tenant = _read_for_recovery(context, client, state.snapshot(), QuietHooks())
        notes, resources = recovered(journal, state, tenant, context.profile)
        assert journal.read() is None
        return notes, resources

    line0 = f"WorkOrderLine/{ids[0]}"
    entry = state.resources[line0]
    # An update that Epoptia has (someone's write, standing in for the batch in flight).
    changed = {**entry.payload, "comments": "στο Epoptia"}
    site.write(
        [
            {
                "workorderline_id": ids[0],
                "comments": "στο Epoptia",
                "workorder": {"id": "WO-0"},
                "client": {"name": "Πελάτης"},
                "product": {"name": "Προφίλ"},
                "quantity": 10,
            }
        ]
    )
    record = {**entry.model_dump(mode="json"), "payload": changed, "digest": "d" * 32}
    notes, resources = settle(Operation.UPSERT_LINES, {line0: record})
    assert notes == [f"{line0}: the interrupted write had gone through; recorded"]
    assert resources[line0].payload == changed and resources[line0].digest == "d" * 32
    # One Epoptia does not have: left for the apply to send again.
    other = {**entry.payload, "comments": "όχι"}
    notes, resources = settle(Operation.UPSERT_LINES, {line0: {**record, "payload": other}})
    assert notes == [] and resources[line0] == entry
    # An archive and a delete that did not happen.
    notes, resources = settle(Operation.ARCHIVE_LINES, {line0: {}})
    assert notes == [] and not resources[line0].archived
    notes, resources = settle(Operation.DELETE_LINES, {line0: None})
    assert notes == [] and line0 in resources
    # A journal that cannot be read is settled as nothing, and cleared.
    journal.path.write_text("{torn")
    assert journal.read() == {"operation": "unknown", "entries": {}}
    notes, resources = settle(Operation.UPSERT_LINES, {})
    assert notes == [] and resources == state.resources


def test_recovery_runs_first_and_is_in_the_report(site: Site) -> None:
    factory(site.root, work_orders=0)
    site.apply()
    ids = factory(site.root, work_orders=1, lines=2)
    plan_outcome = apply_target(site.context(), ApplyRequest(), QuietHooks(approve=False))
    assert plan_outcome.status is ApplyStatus.CANCELLED
    # What the executor journals before its first line batch, then a crash: Epoptia got the batch.
    rows = [
        {
            "workorderline_id": i,
            "quantity": 10 + n,
            "workorder": {"id": "WO-0"},
            "client": {"name": "Πελάτης"},
            "product": {"name": "Προφίλ"},
            "erp_routing": [
                {"workstationName": "LASER", "job_tasks": [{"name": "Κοπή"}]},
                {"workstationName": "ΜΟΝΤΑΖ 1"},
            ],
        }
        for n, i in enumerate(ids)
    ]
    assert [r["result"] for r in site.write(rows)] == ["created", "created"]
    plan = plan_outcome.plan
    entries = {
        a.address: {"digest": a.digest, "parent": a.parent, "archived": False, "observed": None, "payload": a.payload}
        for a in plan.actions
    }
    site.journal().write(Operation.UPSERT_LINES, entries)
    outcome, hooks = site.apply()
    expected = [f"WorkOrderLine/{i}: the interrupted write had gone through; recorded" for i in ids]
    expected.append("WorkOrder/WO-0: the interrupted write had gone through with its lines; recorded")
    assert sorted(hooks.notices) == sorted(f"Recovered: {n}" for n in expected)
    assert outcome.status is ApplyStatus.NOTHING_TO_APPLY  # everything in flight had gone through
    assert site.journal().read() is None and set(site.state().resources) >= set(entries)
    # With something left to do, the report carries what was recovered.
    site.journal().write(Operation.UPSERT_LINES, {f"WorkOrderLine/{ids[0]}": entries[f"WorkOrderLine/{ids[0]}"]})
    factory(site.root, work_orders=1, lines=2, comments="x", only={ids[1]})
    outcome, hooks = site.apply()
    # The same as recorded (a row that carried its work order): nothing to settle, and nothing said.
    assert outcome.report.recovered == () and hooks.notices == []
    # A change of write-only fields only: the list cannot tell, so it is said and sent again.
    entry = entries[f"WorkOrderLine/{ids[0]}"]
    site.journal().write(
        Operation.UPSERT_LINES,
        {
            f"WorkOrderLine/{ids[0]}": {
                **entry,
                "payload": {**entry["payload"], "bom": [{"item": "ΜΠΙΛΙΕΤΑ", "quantity": 2}]},
            }
        },
    )
    factory(site.root, work_orders=1, lines=2, comments="y", only={ids[1]})
    outcome, hooks = site.apply()
    note = (
        f"WorkOrderLine/{ids[0]}: whether the interrupted write went through cannot be read back (it changed "
        "write-only fields); it is sent again"
    )
    assert outcome.report.recovered == (note,) and hooks.notices == [f"Recovered: {note}"]


def test_blocked_actions_stop_the_apply_unless_skipped(site: Site) -> None:
    ids = factory(site.root, work_orders=1, lines=2)
    site.apply()
    token = httpx.post(
        f"{site.server.url}/api/3.03/operators/login",
        json={"username": "demo", "password": "demo"},
        headers={"X-Auth-Token": KEY, "Accept": "application/json"},
    ).json()["token"]
    laser = next(
        w["id"] for w in site.admin.get("/_emulator/workstations").json()["workstations"] if w["name"] == "LASER"
    )
    started = httpx.post(
        f"{site.server.url}/api/3.03/workstations/control",
        json={"action": "start", "workstation_id": laser, "workorderline_id": ids[0]},
        headers={"X-Auth-Token": KEY, "Accept": "application/json", "Operator-Token": token},
    )
    assert started.status_code == 200, started.text
    text = (site.root / "manifests" / "factory.yaml").read_text(encoding="utf-8")
    (site.root / "manifests" / "factory.yaml").write_text(
        text.replace("quantity: 10", "quantity: 99").replace("quantity: 11", "quantity: 12"), encoding="utf-8"
    )
    with pytest.raises(PlanError, match="1 blocked action"):
        site.apply()
    outcome, _ = site.apply(skip_blocked=True)
    report = outcome.report
    assert addresses(report, Outcome.BLOCKED) == {f"WorkOrderLine/{ids[0]}"}
    assert report.having(Outcome.BLOCKED)[0].detail.startswith("[started-quantity] line ")
    assert addresses(report, Outcome.DONE) == {f"WorkOrderLine/{ids[1]}"}
    assert report.only_blocked_left and not report.complete
    assert site.stored()[ids[0]]["quantity"] == 10 and site.stored()[ids[1]]["quantity"] == 12


def test_write_progress_ends_at_its_total(site: Site) -> None:
    factory(site.root, work_orders=3, lines=3)
    _, hooks = site.apply()
    writes = [(done, total) for phase, done, total in hooks.phases if phase is Phase.WRITE]
    assert writes[-1][0] == writes[-1][1]


def test_journal_round_trip(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j" / "t.json")
    assert journal.read() is None
    journal.write(Operation.DELETE_LINES, {"WorkOrderLine/1": None, "WorkOrderLine/Ω": {"a": "β"}})
    assert json.loads((tmp_path / "j" / "t.json").read_text(encoding="utf-8")) == {
        "operation": "delete_lines",
        "entries": {"WorkOrderLine/1": None, "WorkOrderLine/Ω": {"a": "β"}},
    }
    assert "Ω" in (tmp_path / "j" / "t.json").read_text(encoding="utf-8")
    journal.clear()
    journal.clear()
    assert journal.read() is None


# ----------------------------------------------------------------------------- the executor on its own


def run_executor(site: Site, plan, state, **kwargs):
    from reconciler.executor import Executor

    context = site.context()
    calls: list[tuple] = []
    intents: list[dict] = []
    with context.connect() as client:
        write = client.write

        def journalled_write(operation, rows):
            intents.append(context.journal.read())  # what the journal says while the batch is in flight
            return write(operation, rows)

        client.write = journalled_write  # type: ignore[method-assign]
        executor = Executor(
            client, context.state_store, context.journal, on_batch=lambda *args: calls.append(args), **kwargs
        )
        report = executor.run(plan, state.snapshot())
    return report, context.state_store.read(), calls, intents


def recovered(journal: Journal, state: State, tenant, profile) -> tuple[list[str], dict]:
    """``recover`` from ``state``: what it found, and the state's entries with what it settled laid over."""
    changes, notes = recover(journal, state.snapshot(), tenant, profile)
    resources = dict(state.resources)
    for addr, entry in changes.items():
        if entry is None:
            resources.pop(addr, None)
        else:
            resources[addr] = entry
    return notes, resources


def planned(site: Site, state, **kwargs):
    from reconciler.planning import make_plan

    return make_plan(site.context().load_desired(), state, target="t", **kwargs)


def test_the_journal_holds_each_batch_and_its_work_orders_while_it_is_in_flight(site: Site) -> None:
    from reconciler.state import State

    ids = factory(site.root, work_orders=2, lines=2)
    report, written, calls, intents = run_executor(site, planned(site, State()), State())
    assert report.complete
    assert calls == [(1, 6), (2, 6), (6, 6)]  # rows sent so far, of all rows: one batch per operation
    assert [i["operation"] for i in intents] == ["upsert_clients", "upsert_products", "upsert_lines"]
    lines_intent = intents[2]["entries"]
    assert set(lines_intent) == lines(ids) | {"WorkOrder/WO-0", "WorkOrder/WO-1"}
    assert lines_intent["WorkOrder/WO-0"]["payload"] == {"client": "C-1"}
    assert lines_intent[f"WorkOrderLine/{ids[0]}"]["parent"] == "WO-0"
    assert intents[0]["entries"]["Client/C-1"]["payload"] == {"name": "Πελάτης"}
    assert written.serial >= 1 and set(written.resources) == set(site.state().resources)


def test_failed_rows_are_reported_and_still_counted_as_sent(site: Site) -> None:
    from reconciler.state import State

    factory(site.root, work_orders=1, lines=3)
    text = (site.root / "manifests" / "factory.yaml").read_text(encoding="utf-8")
    (site.root / "manifests" / "factory.yaml").write_text(
        text.replace("    routing: [{workstation: LASER, job_task: Κοπή}, {workstation: ΜΟΝΤΑΖ 1}]\n", "", 2),
        encoding="utf-8",
    )
    report, _, calls, _ = run_executor(site, planned(site, State()), State())
    assert calls[-1] == (5, 5)
    assert len(report.having(Outcome.FAILED)) == 2


def test_a_line_whose_work_order_is_nowhere_stops_the_run_before_anything_is_sent(site: Site) -> None:

    ids = factory(site.root, work_orders=1, lines=2)
    site.apply()
    state = site.state()
    factory(site.root, work_orders=1, lines=2, comments="νέα")
    plan = planned(site, state)
    without = state.model_copy(
        update={"resources": {k: v for k, v in state.resources.items() if k != "WorkOrder/WO-0"}}
    )
    report, _, calls, _ = run_executor(site, plan, without)
    assert report.stopped_by == (
        "work order WO-0 is neither in the plan nor in the state\n  hint: plan again without --only/--exclude for it"
    )
    assert {o.detail for o in report.having(Outcome.NOT_ATTEMPTED)} == {"not sent"}
    assert addresses(report, Outcome.NOT_ATTEMPTED) == lines(ids) and calls == []
    # A work order change with no line to carry it.
    text = (site.root / "manifests" / "factory.yaml").read_text(encoding="utf-8")
    (site.root / "manifests" / "factory.yaml").write_text(
        text.replace("client: C-1\nlines:", "client: C-1\ncomments: x\nlines:"), encoding="utf-8"
    )
    bare = state.model_copy(
        update={"resources": {k: v for k, v in state.resources.items() if not k.startswith("WorkOrderLine/")}}
    )
    from reconciler.planning import Selection

    plan = planned(site, bare, selection=Selection(only=("WorkOrder/WO-0",)))
    plan = plan.model_copy(update={"actions": tuple(a for a in plan.actions if a.kind is Kind.WORK_ORDER)})
    report, _, calls, _ = run_executor(site, plan, bare)
    assert report.stopped_by == "work order WO-0 has no line to carry its change" and calls == []


def test_adopting_records_what_exists_without_sending_it(site: Site) -> None:
    ids = factory(site.root, work_orders=1, lines=2)
    site.apply()
    for path in (site.root / "state").glob("t.json*"):
        path.unlink()
    before = site.stats().get("upsert_lines", 0)
    outcome, _ = site.apply(adopt=True)
    report = outcome.report
    assert lines(ids) <= addresses(report, Outcome.DONE) and report.complete
    state = site.state()
    assert state.resources[f"WorkOrderLine/{ids[0]}"].parent == "WO-0"
    assert site.stats().get("upsert_lines", 0) == before  # the lines were not sent again


def test_epoptia_ids_are_recorded_and_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, KEY)
    with EmulatorServer(api_keys=(KEY,), list_ids="epoptia") as server:
        site = Site(tmp_path, server, extra="")
        text = (tmp_path / "reconciler.yaml").read_text(encoding="utf-8")
        (tmp_path / "reconciler.yaml").write_text(
            text.replace("page_size: 5}", "page_size: 5, list_ids: epoptia}"), encoding="utf-8"
        )
        ids = factory(site.root, work_orders=1, lines=2)
        assert site.apply()[0].report.complete
        first = site.state().resources[f"WorkOrderLine/{ids[0]}"]
        assert first.epoptia_id is not None and first.observed is not None
        factory(site.root, work_orders=1, lines=2, comments="νέα", only={ids[0]})
        outcome, _ = site.apply()
        assert outcome.report.complete, outcome.report
        again = site.state().resources[f"WorkOrderLine/{ids[0]}"]
        assert again.epoptia_id == first.epoptia_id and again.payload["comments"] == "νέα"
        assert site.stored()[ids[0]]["comments"] == "νέα"
        site.admin.close()


def test_a_delete_of_a_line_already_gone_is_done(site: Site) -> None:
    ids = factory(site.root, work_orders=1, lines=3)
    site.apply()
    gone = httpx.post(
        f"{site.server.url}/api/3.03/workorderlines/delete",
        json={"data": [{"workorderline_id": ids[2]}]},
        headers={"X-Auth-Token": KEY, "Accept": "application/json"},
    )
    assert gone.json()["results"][0]["result"] == "deleted"
    factory(site.root, work_orders=1, lines=3, drop={ids[2]})
    outcome, _ = site.apply()
    report = outcome.report
    if report is not None:  # a targeted plan that read the page saw it gone: nothing to delete
        assert f"WorkOrderLine/{ids[2]}" in addresses(report, Outcome.DONE) and report.complete
    assert f"WorkOrderLine/{ids[2]}" not in site.state().resources


def test_recover_settles_archives_deletes_and_work_orders(site: Site) -> None:
    from reconciler.commands.apply import _read_for_recovery

    ids = factory(site.root, work_orders=2, lines=2)
    site.apply()
    state = site.state()
    context = site.context()
    journal = context.journal
    headers = {"X-Auth-Token": KEY, "Accept": "application/json"}
    httpx.post(
        f"{site.server.url}/api/3.03/workorderlines/archive",
        json={"data": [{"workorderline_id": ids[0]}]},
        headers=headers,
    )
    httpx.post(
        f"{site.server.url}/api/3.03/workorderlines/delete",
        json={"data": [{"workorderline_id": ids[3]}]},
        headers=headers,
    )

    def settle(operation: Operation, entries: dict[str, Any]):
        journal.write(operation, entries)
        with context.connect() as client:
            tenant = _read_for_recovery(context, client, state.snapshot(), QuietHooks())
        return recovered(journal, state, tenant, context.profile)

    notes, resources = settle(Operation.ARCHIVE_LINES, {f"WorkOrderLine/{i}": {} for i in ids[:2]})
    assert notes == [f"WorkOrderLine/{ids[0]}: the interrupted archive had gone through; recorded"]
    assert resources[f"WorkOrderLine/{ids[0]}"].archived and not resources[f"WorkOrderLine/{ids[1]}"].archived
    assert resources[f"WorkOrderLine/{ids[0]}"].payload == state.resources[f"WorkOrderLine/{ids[0]}"].payload
    notes, resources = settle(
        Operation.DELETE_LINES,
        {f"WorkOrderLine/{ids[3]}": None, f"WorkOrderLine/{ids[2]}": None, "WorkOrder/WO-1": None},
    )
    assert notes == [f"WorkOrderLine/{ids[3]}: the interrupted delete had gone through; recorded"]
    assert f"WorkOrderLine/{ids[3]}" not in resources and f"WorkOrderLine/{ids[2]}" in resources
    assert "WorkOrder/WO-1" in resources  # a work order's delete cannot be read: left to be sent again
    # An upsert journal: the lines and their work orders, each settled on its own.
    wo0 = state.resources["WorkOrder/WO-0"]
    wo1 = state.resources["WorkOrder/WO-1"]
    l1 = state.resources[f"WorkOrderLine/{ids[1]}"]
    changed_wo = {**wo1.model_dump(mode="json"), "payload": {"client": "C-1", "comments": "x"}, "digest": "e" * 32}
    entries = {
        "WorkOrder/WO-0": {**wo0.model_dump(mode="json"), "digest": "f" * 32},
        f"WorkOrderLine/{ids[1]}": {**l1.model_dump(mode="json"), "payload": {**l1.payload, "comments": "όχι εκεί"}},
        "WorkOrder/WO-1": changed_wo,
    }
    notes, resources = settle(Operation.UPSERT_LINES, entries)
    assert notes == []  # WO-0: its line did not go through; WO-1: no line of it in the batch
    assert resources["WorkOrder/WO-0"] == wo0 and resources["WorkOrder/WO-1"] == wo1
