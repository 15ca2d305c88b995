"""The executor: carries out a Plan through the Epoptia client and keeps the state truthful.

  - actions run in the plan's order, in batches of the wire profile's size;
  - before a batch is sent, its intent is written to a journal; after it
    succeeds, the state is saved and the journal cleared. A run killed at any
    point leaves either nothing to do or a journal, which the next apply checks
    against what Epoptia really has before it plans (``recover``);
  - rows Epoptia rejects or alarms are reported and recorded; the others go on;
  - at the end the touched lines are read back and compared with what was sent.
The executor never decides what to do: that was the planner's job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .clock import timestamp
from .epoptia.errors import CommandNotFoundError, EpoptiaError
from .epoptia.listing import TenantLines, read_list
from .epoptia.profile import Operation, WireProfile
from .epoptia.reading import observable_part, observed_line, observed_work_order
from .epoptia.results import RowOutcome
from .epoptia.rows import archive_row, client_row, delete_line_row, delete_work_order_row, line_row, product_row
from .epoptia.workflows import WorkflowIndex
from .errors import MappingError, StateError
from .fsio import atomic_write
from .planning import Action, Plan, Verb
from .planning.diff import field_changes
from .refresh import LineMatcher, names_of, observe
from .report import ApplyReport, Mismatch, Outcome, ResourceOutcome
from .resources import Kind, address, split_address
from .state import ResourceState, State, StateStore, drift_digest

if TYPE_CHECKING:  # the HTTP client is imported only by commands that talk to Epoptia
    from .epoptia.client import EpoptiaClient


class Journal:
    """The intent of the batch in flight: which entries the state gets if it went through."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, operation: Operation, entries: dict[str, dict[str, Any] | None]) -> None:
        record = {"operation": operation.value, "entries": entries}
        try:
            atomic_write(self.path, json.dumps(record, ensure_ascii=False).encode())
        except OSError as error:
            raise StateError(f"cannot write the apply journal {self.path}: {error.strerror}",
                             hint="nothing of this batch was sent; free the disk or fix the permissions, "
                             "then run again") from None

    def read(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {"operation": "unknown", "entries": {}}

    def clear(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def recover(journal: Journal, resources: dict[str, ResourceState], tenant: TenantLines,
            profile: WireProfile) -> list[str]:
    """After a crash: settle the journalled batch against what Epoptia has. Returns what was found.

    A write is recorded as done only where the list can show it: a created line
    that is there, an update whose observable fields now read as sent, an
    archive or a delete that shows. An update of write-only fields cannot be
    told from the list; it stays unsettled and is simply sent again (upserts
    keyed by ERP id, archives and deletes are idempotent, so sending twice
    duplicates nothing).
    """
    record = journal.read()
    if record is None:
        return []
    operation = record.get("operation")
    view = State(resources=resources).snapshot()
    matcher, names = LineMatcher(view, profile), names_of(view)
    by_addr = {addr: line for line in tenant.by_id.values() if (addr := matcher.line(line)) is not None}
    notes = []
    entries = record.get("entries") or {}
    settled: set[str] = set()  # lines whose interrupted upsert is recorded as gone through
    for addr, intended in entries.items():
        kind = split_address(addr)[0]
        wire = by_addr.get(addr) if kind is Kind.WORK_ORDER_LINE else None
        if operation == Operation.UPSERT_LINES.value and kind is Kind.WORK_ORDER_LINE and intended:
            previous = resources.get(addr)
            if wire is None or (previous is not None and previous.payload == intended["payload"]):
                continue  # not there; or a row that carried its work order as applied, changing nothing itself
            seen = observed_line(wire, intended["payload"], profile, names, matcher.work_order(wire))
            visible = previous is None or (observable_part(previous.payload, profile)
                                           != observable_part(intended["payload"], profile))
            if seen == intended["payload"] and visible:
                resources[addr] = ResourceState.model_validate(intended)
                settled.add(addr)
                notes.append(f"{addr}: the interrupted write had gone through; recorded")
            elif seen == intended["payload"]:
                notes.append(f"{addr}: whether the interrupted write went through cannot be read back "
                             "(it changed write-only fields); it is sent again")
        elif operation == Operation.ARCHIVE_LINES.value and wire is not None and addr in resources:
            if wire.archived:
                resources[addr] = resources[addr].model_copy(update={"archived": True})
                notes.append(f"{addr}: the interrupted archive had gone through; recorded")
        elif operation == Operation.DELETE_LINES.value and kind is Kind.WORK_ORDER_LINE and wire is None:
            if resources.pop(addr, None) is not None:
                notes.append(f"{addr}: the interrupted delete had gone through; recorded")
    if operation == Operation.UPSERT_LINES.value:
        # A work order rides on its lines: it went through where every journalled line of it did, and its
        # lines show it as sent (the list has no work orders of its own).
        for addr, intended in entries.items():
            kind, wo_id = split_address(addr)
            if kind is not Kind.WORK_ORDER or not intended:
                continue
            lines = [a for a, e in entries.items() if e and e.get("parent") == wo_id]
            if not lines or not all(a in settled for a in lines):
                continue
            shown = observed_work_order(by_addr[lines[0]], intended["payload"], profile, names)
            if shown == intended["payload"] and resources.get(addr) != ResourceState.model_validate(intended):
                resources[addr] = ResourceState.model_validate(intended)
                notes.append(f"{addr}: the interrupted write had gone through with its lines; recorded")
    journal.clear()
    return notes


class _Entries(dict[str, ResourceState]):
    """The state's entries during a run, remembering which changed since they were last saved."""

    def __init__(self, entries: dict[str, ResourceState]) -> None:
        super().__init__(entries)
        self.changed: set[str] = set()

    def __setitem__(self, addr: str, entry: ResourceState) -> None:
        super().__setitem__(addr, entry)
        self.changed.add(addr)

    def pop(self, addr: str, *default: Any) -> Any:  # type: ignore[override]
        self.changed.add(addr)
        return super().pop(addr, *default)


@dataclass
class _Row:
    address: str
    row: dict[str, Any]
    record: dict[str, Any] | None  # the state entry once the row succeeds (None: remove the entry)
    group: str | None = None  # work order whose entry is recorded when all its rows succeed...
    group_record: dict[str, Any] | None = None  # ...as this


@dataclass
class _Outcomes:
    """The report while it is being built; frozen into an ApplyReport at the end."""

    outcomes: dict[str, ResourceOutcome] = field(default_factory=dict)
    mismatches: list[Mismatch] = field(default_factory=list)
    stopped_by: str | None = None
    interrupted: bool = False

    def set(self, addr: str, outcome: Outcome, detail: str = "") -> None:
        self.outcomes[addr] = ResourceOutcome(address=addr, outcome=outcome, detail=detail)

    def freeze(self, recovered: tuple[str, ...]) -> ApplyReport:
        return ApplyReport(outcomes=tuple(self.outcomes.values()), mismatches=tuple(self.mismatches),
                           recovered=recovered, stopped_by=self.stopped_by, interrupted=self.interrupted)


class Executor:
    def __init__(self, client: EpoptiaClient, store: StateStore, journal: Journal, *,
                 interrupted: Callable[[], bool] = lambda: False,
                 on_batch: Callable[[int, int], None] = lambda rows_sent, rows_total: None,
                 on_read_back: Callable[[int, int], None] = lambda done, total: None,
                 pages: int | None = None) -> None:
        """``pages``: how many pages the list had when the run began; with the page each line
        was last seen on, it lets the read-back fetch only the pages that hold touched lines."""
        self.pages = pages
        self.on_read_back = on_read_back
        self.client = client
        self.store = store
        self.journal = journal
        self.interrupted = interrupted
        self.on_batch = on_batch
        self._workflows: WorkflowIndex | None = None

    def workflows(self) -> WorkflowIndex:
        if self._workflows is None:
            self._workflows = WorkflowIndex(self.client.workflow_templates())
        return self._workflows

    # ------------------------------------------------------------------ the run

    def run(self, plan: Plan, state: State, *, recovered: tuple[str, ...] = ()) -> tuple[ApplyReport, State]:
        """Carry out ``plan`` from ``state`` (the refreshed view); the state file holds the result however it ends."""
        report = _Outcomes()
        self.lineage, self.serial = state.lineage, state.serial
        self.resources = _Entries(state.resources)
        try:
            self._run(plan, report)
        finally:
            # One full write at the end, whatever happened: it folds the per-batch saves in.
            self._save()
            written = self.store.write(State(lineage=self.lineage, serial=self.serial, resources=dict(self.resources)))
        return report.freeze(recovered), written

    def _run(self, plan: Plan, report: _Outcomes) -> None:
        for action in plan.blocked:
            assert action.blocked is not None
            report.set(action.address, Outcome.BLOCKED, f"[{action.blocked.reason.value}] {action.blocked.message}")
        runnable = list(plan.runnable)
        for action in runnable:
            if action.verb is Verb.ADOPT:
                # Nothing is sent: Epoptia has it already; the state records it as seen.
                self.resources[action.address] = ResourceState.model_validate(self._record(action, action.parent))
                report.set(action.address, Outcome.DONE)
        self._save()
        try:
            batches = list(self._batches(runnable))
            self._rows_total, self._rows_sent = sum(len(rows) for _, rows in batches), 0
        except (MappingError, EpoptiaError) as error:
            report.stopped_by = str(error)
            for a in runnable:
                if a.verb is not Verb.ADOPT:
                    report.set(a.address, Outcome.NOT_ATTEMPTED, "not sent")
            return
        sent: dict[str, dict[str, Any]] = {}
        for operation, rows in batches:
            if self.interrupted():
                report.interrupted = True
                report.stopped_by = "interrupted (Ctrl-C)"
                break
            try:
                self._send(operation, rows, report, sent)
            except CommandNotFoundError as error:
                # Epoptia did not even know the path: nothing of this batch was written.
                self.journal.clear()
                report.stopped_by = str(error)
                for r in rows:
                    report.set(r.address, Outcome.NOT_APPLIED, f"{error.operation} is not available on this tenant")
                break
            except EpoptiaError as error:
                report.stopped_by = str(error)
                for r in rows:
                    report.set(r.address, Outcome.UNKNOWN, "the request failed; the next apply checks it")
                break
        if report.stopped_by:
            for a in runnable:
                if a.address not in report.outcomes:
                    report.set(a.address, Outcome.NOT_ATTEMPTED, "the run stopped before it")
            return
        for action in runnable:
            if action.verb is Verb.FORGET:
                self.resources.pop(action.address, None)
                report.set(action.address, Outcome.DONE)
        if sent:
            self._read_back(sent, report)

    def _save(self) -> None:
        """After each batch: append what changed to the state's write-ahead file (cheap at any size)."""
        changes = {addr: self.resources.get(addr) for addr in self.resources.changed}
        self.resources.changed.clear()
        if changes:
            self.lineage, self.serial = self.store.append(self.lineage, self.serial, changes)

    def _send(self, operation: Operation, rows: list[_Row], report: _Outcomes, sent: dict[str, dict[str, Any]]) -> None:
        intent = {r.address: r.record for r in rows}
        intent.update({r.group: r.group_record for r in rows if r.group and r.group_record is not None})
        self.journal.write(operation, intent)
        results = self.client.write(operation, [r.row for r in rows])
        failed_groups: set[str] = set()
        for r, result in zip(rows, results):
            ok = result.outcome.succeeded or (
                result.outcome is RowOutcome.NOT_FOUND and operation is Operation.DELETE_LINES)
            if ok:
                if r.record is None:
                    self.resources.pop(r.address, None)
                elif r.address in self.resources and operation is Operation.ARCHIVE_LINES:
                    self.resources[r.address] = self.resources[r.address].model_copy(update={"archived": True})
                else:
                    previous = self.resources.get(r.address)
                    entry = ResourceState.model_validate(r.record)
                    if previous is not None:
                        entry = entry.model_copy(update={"observed": previous.observed,
                                                         "epoptia_id": previous.epoptia_id})
                    if result.epoptia_id is not None:
                        entry = entry.model_copy(update={"epoptia_id": result.epoptia_id})
                    self.resources[r.address] = entry
                if operation is Operation.UPSERT_LINES:
                    sent[r.address] = r.row
                report.set(r.address, Outcome.DONE)
            else:
                report.set(r.address, Outcome.FAILED, f"{result.outcome.value}: {result.reason}")
                if r.group:
                    failed_groups.add(r.group)
        # A work order is recorded once every row that carried it went through.
        for r in rows:
            if r.group and r.group not in failed_groups and r.group_record is not None:
                self.resources[r.group] = ResourceState.model_validate(r.group_record)
                report.set(r.group, Outcome.DONE)
        self._save()
        self.journal.clear()
        self._rows_sent += len(rows)
        self.on_batch(self._rows_sent, self._rows_total)

    # ------------------------------------------------------------------ building the batches

    def _batches(self, actions: list[Action]) -> Iterable[tuple[Operation, list[_Row]]]:
        size = self.client.profile.batch_size
        upserts = (Verb.CREATE, Verb.UPDATE)
        phases: list[tuple[Operation, list[_Row]]] = [
            (Operation.UPSERT_CLIENTS, [self._client(a) for a in actions if a.kind is Kind.CLIENT and a.verb in upserts]),
            (Operation.UPSERT_PRODUCTS, [self._product(a) for a in actions
                                         if a.kind is Kind.PRODUCT and a.verb in upserts]),
            (Operation.UPSERT_LINES, self._line_rows(actions)),
            (Operation.ARCHIVE_LINES, [_Row(a.address, archive_row(a.id), {}) for a in actions if a.verb is Verb.ARCHIVE]),
            (Operation.DELETE_LINES, [self._delete(a) for a in actions if a.verb is Verb.DELETE]),
        ]
        for operation, rows in phases:
            for start in range(0, len(rows), size):
                yield operation, rows[start:start + size]

    def _record(self, action: Action, parent: str | None = None, archived: bool = False) -> dict[str, Any]:
        return {"digest": action.digest, "parent": parent, "archived": archived, "observed": None,
                "payload": action.payload}

    def _previous_payload(self, addr: str) -> dict[str, Any] | None:
        previous = self.resources.get(addr)
        return previous.payload if previous is not None else None

    def _name(self, kind: Kind, erp_id: Any) -> str | None:
        entry = self.resources.get(address(kind, str(erp_id))) if erp_id else None
        return entry.payload.get("name") if entry is not None else None

    def _client(self, action: Action) -> _Row:
        row = client_row(action.id, action.payload or {}, self._previous_payload(action.address))
        return _Row(action.address, row, self._record(action))

    def _product(self, action: Action) -> _Row:
        payload = action.payload or {}
        workflows = self.workflows() if payload.get("workflow") else None
        row = product_row(action.id, payload, workflows, self._previous_payload(action.address))
        return _Row(action.address, row, self._record(action))

    def _delete(self, action: Action) -> _Row:
        row = delete_line_row(action.id) if action.kind is Kind.WORK_ORDER_LINE else delete_work_order_row(action.id)
        return _Row(action.address, row, None)

    def _line_rows(self, actions: list[Action]) -> list[_Row]:
        """Rows of the upsert: each work order's lines together, each row carrying its work order."""
        groups: dict[str, dict[str, Any]] = {}
        for a in actions:
            if a.verb not in (Verb.CREATE, Verb.UPDATE):
                continue
            if a.kind is Kind.WORK_ORDER:
                groups.setdefault(a.id, {"wo": None, "lines": []})["wo"] = a
            elif a.kind is Kind.WORK_ORDER_LINE:
                # The work order the payload names, not the manifests' parent: a started line's move is
                # refused, and its other changes travel in the work order it still belongs to.
                wo_id = (a.payload or {}).get("workorder") or a.parent or ""
                groups.setdefault(wo_id, {"wo": None, "lines": []})["lines"].append(a)
        rows: list[_Row] = []
        for wo_id, group in groups.items():
            wo_action: Action | None = group["wo"]
            wo_addr = address(Kind.WORK_ORDER, wo_id)
            wo_previous = self._previous_payload(wo_addr)
            wo_payload = wo_action.payload if wo_action is not None else wo_previous
            if wo_payload is None:
                raise MappingError(f"work order {wo_id} is neither in the plan nor in the state",
                                   hint="plan again without --only/--exclude for it")
            entries: list[tuple[str, dict[str, Any], bool, dict[str, Any] | None, bool]] = []
            for a in group["lines"]:
                previous = self.resources.get(a.address)
                archived = bool(previous and previous.archived)
                route = a.verb is Verb.CREATE or any(c.path.startswith(("routing", "workflow")) for c in a.changes)
                entries.append((a.id, a.payload or {}, archived, self._record(a, wo_id, archived), route))
            if not entries:
                # A change to the work order alone still travels on one of its lines, as applied.
                carrier = next((addr for addr, res in self.resources.items()
                                if res.parent == wo_id and addr.startswith("WorkOrderLine/")), None)
                if carrier is None:
                    raise MappingError(f"work order {wo_id} has no line to carry its change")
                res = self.resources[carrier]
                entries.append((split_address(carrier)[1], res.payload, res.archived, res.model_dump(mode="json"),
                                False))
            group_record = self._record(wo_action) if wo_action is not None else None
            for line_id, payload, archived, record, route in entries:
                row = line_row(line_id, payload, wo_id, wo_payload, archived=archived,
                               workflows=self.workflows() if route and payload.get("workflow") else None,
                               client_name=self._name(Kind.CLIENT, wo_payload.get("client")),
                               product_name=self._name(Kind.PRODUCT, payload.get("product")), send_route=route,
                               previous=self._previous_payload(address(Kind.WORK_ORDER_LINE, line_id)),
                               previous_wo=wo_previous)
                rows.append(_Row(address(Kind.WORK_ORDER_LINE, line_id), row, record,
                                 group=wo_addr if wo_action else None, group_record=group_record))
        return rows

    # ------------------------------------------------------------------ verification

    def _touched_pages(self, touched: list[str]) -> set[int]:
        """The pages that hold the touched lines: where each was last seen, and the end of the
        list for new ones (new lines are listed last)."""
        size = self.client.profile.page_size
        pages: set[int] = set()
        new = 0
        for addr in touched:
            observed = self.resources[addr].observed
            if observed is not None and observed.page:
                pages.add(observed.page)
            else:
                new += 1
        if new:
            if not self.pages:  # the run read no page, so the end of the list is not known: ask once
                self.pages = self.client.lines_page(1)[1]
            last = max(self.pages, 1)
            pages |= set(range(last, last + -(-new // size) + 1))
        return pages

    def _read_back(self, sent: dict[str, dict[str, Any]], report: _Outcomes) -> None:
        """Do not trust a 200: read the touched lines back and compare what the list shows with what was sent."""
        touched = [addr for addr in sent if addr in self.resources]
        view = State(resources=self.resources).snapshot()
        matcher, names = LineMatcher(view, self.client.profile), names_of(view)
        tenant = read_list(self.client, pages=self._touched_pages(touched), on_page=self.on_read_back)
        found = {addr: line for line in tenant.by_id.values() if (addr := matcher.line(line)) is not None}
        if not set(touched) <= set(found):  # lines moved between pages: read everything
            tenant = read_list(self.client, on_page=self.on_read_back)
            found = {addr: line for line in tenant.by_id.values() if (addr := matcher.line(line)) is not None}
        seen_at = timestamp()
        for addr in touched:
            entry = self.resources[addr]
            got = found.get(addr)
            if got is None:
                # Every page was read and the line is not there: the state must not say it was applied,
                # or the next plan would find nothing to do. Without its entry, the next plan creates it.
                report.mismatches.append(Mismatch(address=addr, detail="not found in Epoptia after the write"))
                self.resources.pop(addr, None)
                continue
            observed = observed_line(got, entry.payload, self.client.profile, names, matcher.work_order(got))
            update: dict[str, Any] = {"observed": observe(got, seen_at)}
            if observed != entry.payload:
                changes = ", ".join(f"{c.path}: sent {c.before!r}, Epoptia has {c.after!r}"
                                    for c in field_changes(entry.payload, observed))
                report.mismatches.append(Mismatch(address=addr, detail=changes))
                # Recorded as Epoptia has it, as a refresh would: the next plan puts the manifests' values back.
                update.update(payload=observed, digest=drift_digest(observed))
            self.resources[addr] = entry.model_copy(update=update)
        self._save()
