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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .clock import timestamp
from .epoptia.errors import CommandNotFoundError, EpoptiaError
from .epoptia.listing import TenantLines, read_list
from .epoptia.profile import Operation, WireProfile
from .epoptia.reading import WireLine, observable_part, observed_line, observed_work_order
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
from .state import IndexEntry, ResourceState, Snapshot, StateStore, drift_digest
from .state.store import WriteAhead

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
            raise StateError(
                f"cannot write the apply journal {self.path}: {error.strerror}",
                hint="nothing of this batch was sent; free the disk or fix the permissions, then run again",
            ) from None

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


def recover(
    journal: Journal, state: Snapshot, tenant: TenantLines, profile: WireProfile
) -> tuple[dict[str, ResourceState | None], list[str]]:
    """After a crash: settle the journalled batch against what Epoptia has.

    Returns the entries to lay over the state (None: remove it) and what was found.
    A write is recorded as done only where the list can show it: a created line
    that is there, an update whose observable fields now read as sent, an
    archive or a delete that shows. An update of write-only fields cannot be
    told from the list; it stays unsettled and is simply sent again (upserts
    keyed by ERP id, archives and deletes are idempotent, so sending twice
    duplicates nothing).
    """
    record = journal.read()
    if record is None:
        return {}, []
    operation = record.get("operation")
    matcher, names = LineMatcher(state, profile), names_of(state)
    by_addr = {addr: line for line in tenant.by_id.values() if (addr := matcher.line(line)) is not None}
    changes: dict[str, ResourceState | None] = {}

    def current(addr: str) -> ResourceState | None:
        if addr in changes:
            return changes[addr]
        return state.peek(addr) if addr in state else None

    def record_as(addr: str, entry: ResourceState | None) -> None:
        if entry != current(addr):
            changes[addr] = entry

    notes = []
    entries = record.get("entries") or {}
    settled: set[str] = set()  # lines whose interrupted upsert is recorded as gone through
    for addr, intended in entries.items():
        kind = split_address(addr)[0]
        wire = by_addr.get(addr) if kind is Kind.WORK_ORDER_LINE else None
        if operation == Operation.UPSERT_LINES.value and kind is Kind.WORK_ORDER_LINE and intended:
            previous = current(addr)
            if wire is None or (previous is not None and previous.payload == intended["payload"]):
                continue  # not there; or a row that carried its work order as applied, changing nothing itself
            seen = observed_line(wire, intended["payload"], profile, names, matcher.work_order(wire))
            visible = previous is None or (
                observable_part(previous.payload, profile) != observable_part(intended["payload"], profile)
            )
            if seen == intended["payload"] and visible:
                record_as(addr, ResourceState.model_validate(intended))
                settled.add(addr)
                notes.append(f"{addr}: the interrupted write had gone through; recorded")
            elif seen == intended["payload"]:
                notes.append(
                    f"{addr}: whether the interrupted write went through cannot be read back "
                    "(it changed write-only fields); it is sent again"
                )
        elif operation == Operation.ARCHIVE_LINES.value and wire is not None and current(addr) is not None:
            if wire.archived:
                record_as(addr, current(addr).model_copy(update={"archived": True}))  # type: ignore[union-attr]
                notes.append(f"{addr}: the interrupted archive had gone through; recorded")
        elif (
            operation == Operation.DELETE_LINES.value
            and kind is Kind.WORK_ORDER_LINE
            and wire is None
            and current(addr) is not None
        ):
            changes[addr] = None
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
            if shown == intended["payload"] and current(addr) != ResourceState.model_validate(intended):
                record_as(addr, ResourceState.model_validate(intended))
                notes.append(f"{addr}: the interrupted write had gone through with its lines; recorded")
    journal.clear()
    return changes, notes


_BASE, _REMOVED = -1, -2  # where an entry was: in the view the run started from, or nowhere


class _Entries:
    """The state's entries during a run: the view the run started from, and what the run changed over it.

    A changed entry lives in the write-ahead file, where saving it put it, and
    is read back from there when asked for; only those changed since the last
    flush are held as models. At 100,000 created lines, models of every entry
    (and a copy of the whole state to start from) took gigabytes, and their
    JSON in memory 100 MB.
    """

    _FLUSH_EVERY = 200  # models held before they go to the open save (a batch, about)

    def __init__(
        self, base: Snapshot, wal: WriteAhead | None, saved: dict[str, tuple[IndexEntry, int, int] | None] | None = None
    ) -> None:
        self.base = base
        self.wal = wal  # None: a frozen copy, which never changes
        self.lineage, self.serial = base.lineage, base.serial  # of the last save
        # address -> (index entry, where its JSON is in the write-ahead file, its length); None: removed
        self._saved: dict[str, tuple[IndexEntry, int, int] | None] = dict(saved or {})
        self._pending: dict[str, ResourceState | None] = {}
        self._lines_of: dict[str, str] | None = None
        self._wal_read = wal.read if wal is not None else None
        # Since the last ``checkpoint``: where each entry changed since then was before (an int per entry,
        # so that a pass over 100,000 entries can be undone without holding their old versions).
        self._before: dict[str, int] | None = None

    def get(self, addr: str) -> ResourceState | None:
        if addr in self._pending:
            return self._pending[addr]
        if addr in self._saved:
            return None if self._saved[addr] is None else ResourceState.model_validate_json(self.entry_json(addr))
        return self.base.peek(addr) if addr in self.base else None

    def __contains__(self, addr: str) -> bool:
        if addr in self._pending:
            return self._pending[addr] is not None
        if addr in self._saved:
            return self._saved[addr] is not None
        return addr in self.base

    def __getitem__(self, addr: str) -> ResourceState:
        found = self.get(addr)
        if found is None:
            raise KeyError(addr)
        return found

    def __setitem__(self, addr: str, entry: ResourceState | None) -> None:
        assert self.wal is not None, "frozen entries do not change"
        self._pending[addr] = entry
        if len(self._pending) >= self._FLUSH_EVERY:
            self.flush()

    def pop(self, addr: str) -> None:
        self[addr] = None

    def entry_json(self, addr: str) -> bytes:
        found = self._saved.get(addr)
        if found is None:
            return self.base.entry_json(addr)
        assert self._wal_read is not None
        return self._wal_read(found[1], found[2])

    def flush(self) -> None:
        """Put the models changed since the last flush into the open save (one is begun if none is)."""
        if not self._pending or self.wal is None:
            return
        if not self.wal.recording:
            self.wal.begin(self.lineage, self.serial)
        pending = [(addr, None if e is None else e.model_dump_json().encode()) for addr, e in self._pending.items()]
        if self._before is not None:
            for addr, _ in pending:
                if addr in self._before:
                    continue
                if addr not in self._saved:
                    self._before[addr] = _BASE
                elif (saved := self._saved[addr]) is None:
                    self._before[addr] = _REMOVED
                else:
                    self._before[addr] = saved[1] << 24 | saved[2]  # an entry is far below 16 MB
        for (addr, data), offset in zip(pending, self.wal.add(pending), strict=True):
            entry = self._pending[addr]
            if entry is None or data is None:
                self._saved[addr] = None
                continue
            index, before = IndexEntry.of(entry), self._saved.get(addr)
            # The same values as before (a read-back adds what was seen, nothing the index holds): the same
            # tuple, and the strings it holds, which the plan holds too.
            self._saved[addr] = (before[0] if before is not None and before[0] == index else index, offset, len(data))
        self._pending.clear()

    def checkpoint(self) -> None:
        """Remember what entries are from now on, for ``roll_back``."""
        self.flush()
        self._before = {}

    def roll_back(self, addrs: Iterable[str]) -> None:
        """Put these entries back as they were at the checkpoint."""
        assert self._before is not None
        self.flush()
        for addr in addrs:
            where = self._before.get(addr)
            if where is None:
                continue
            if where == _BASE:
                self[addr] = self.base.peek(addr) if addr in self.base else None
            elif where == _REMOVED:
                self[addr] = None
            else:
                assert self._wal_read is not None
                self[addr] = ResourceState.model_validate_json(self._wal_read(where >> 24, where & 0xFFFFFF))

    def save(self) -> None:
        """Commit what changed since the last save to the write-ahead file, as the next serial."""
        self.flush()
        if self.wal is not None and self.wal.recording:
            self.lineage, self.serial = self.wal.commit()

    def frozen(self) -> _Entries:
        """The entries as they are now, unchanged by what happens to these later."""
        self.flush()
        frozen = _Entries(self.base, None, self._saved)
        frozen._wal_read = self._wal_read
        return frozen

    def first_line_of(self, work_order: str) -> str | None:
        """The first line of a work order, in the state's order (of frozen entries, which do not change)."""
        if self._lines_of is None:
            self._lines_of = {}
            for addr, entry in self.view().index.items():
                if entry.parent is not None and addr.startswith(f"{Kind.WORK_ORDER_LINE.value}/"):
                    self._lines_of.setdefault(entry.parent, addr)
        return self._lines_of.get(work_order)

    def view(self) -> Snapshot:
        """The entries as a Snapshot (of the last save's lineage and serial): indexed at once, each read
        when asked for."""
        self.flush()
        index = dict(self.base.index)
        for addr, found in self._saved.items():
            if found is None:
                index.pop(addr, None)
            else:
                index[addr] = found[0]
        return Snapshot(self.lineage, self.serial, index, self.__getitem__, raw=self.entry_json)


@dataclass
class _Row:
    address: str
    row: dict[str, Any]
    record: dict[str, Any] | None  # the state entry once the row succeeds (None: remove the entry)
    group: str | None = None  # work order whose entry is recorded when all its rows succeed...
    group_record: dict[str, Any] | None = None  # ...as this


@dataclass
class _Outcomes:
    """The report while it is being built; frozen into an ApplyReport at the end.

    Outcomes are kept as (outcome, detail) pairs until then (most are the one pair "done"): the
    report's values are built once the run's own memory is let go, not on top of it.
    """

    outcomes: dict[str, tuple[Outcome, str]] = field(default_factory=dict)
    mismatches: list[Mismatch] = field(default_factory=list)
    stopped_by: str | None = None
    interrupted: bool = False

    def set(self, addr: str, outcome: Outcome, detail: str = "") -> None:
        self.outcomes[addr] = _PLAIN[outcome] if not detail else (outcome, detail)

    def freeze(self, recovered: tuple[str, ...]) -> ApplyReport:
        outcomes = tuple(
            ResourceOutcome(address=addr, outcome=outcome, detail=detail)
            for addr, (outcome, detail) in self.outcomes.items()
        )
        return ApplyReport(
            outcomes=outcomes,
            mismatches=tuple(self.mismatches),
            recovered=recovered,
            stopped_by=self.stopped_by,
            interrupted=self.interrupted,
        )


_PLAIN = {outcome: (outcome, "") for outcome in Outcome}


class Executor:
    def __init__(
        self,
        client: EpoptiaClient,
        store: StateStore,
        journal: Journal,
        *,
        interrupted: Callable[[], bool] = lambda: False,
        on_batch: Callable[[int, int], None] = lambda rows_sent, rows_total: None,
        on_read_back: Callable[[int, int], None] = lambda done, total: None,
        pages: int | None = None,
    ) -> None:
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

    def run(self, plan: Plan, state: Snapshot, *, recovered: tuple[str, ...] = ()) -> ApplyReport:
        """Carry out ``plan`` from ``state`` (the refreshed view); the state file holds the result however it ends."""
        report = _Outcomes()
        wal = self.store.write_ahead()
        self.resources = _Entries(state, wal)
        try:
            self._run(plan, report)
        finally:
            # One full write at the end, whatever happened: it folds the per-batch saves in.
            try:
                self._save()
                self.store.write_snapshot(self.resources.view())
            finally:
                wal.close()
        return report.freeze(recovered)

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
        # Rows are built from the entries as they are now, batch by batch as they are sent (all of
        # them at once took hundreds of megabytes at 100,000 lines). A dry pass over them first
        # finds what cannot be mapped before anything is sent, and counts them.
        self._before = self.resources.frozen()
        self._names: dict[str, str | None] = {}
        try:
            self._rows_total = sum(len(rows) for _, rows in self._batches(runnable, dry=True))
            self._rows_sent = 0
        except (MappingError, EpoptiaError) as error:
            report.stopped_by = str(error)
            for a in runnable:
                if a.verb is not Verb.ADOPT:
                    report.set(a.address, Outcome.NOT_ATTEMPTED, "not sent")
            return
        sent: dict[str, None] = {}  # the lines written, in order, for the read-back
        for operation, rows in self._batches(runnable):
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
                self.resources.pop(action.address)
                report.set(action.address, Outcome.DONE)
        if sent:
            self._read_back(sent, report)

    def _save(self) -> None:
        """After each batch: append what changed to the state's write-ahead file (cheap at any size)."""
        self.resources.save()

    def _send(self, operation: Operation, rows: list[_Row], report: _Outcomes, sent: dict[str, None]) -> None:
        intent = {r.address: r.record for r in rows}
        intent.update({r.group: r.group_record for r in rows if r.group and r.group_record is not None})
        self.journal.write(operation, intent)
        results = self.client.write(operation, [r.row for r in rows])
        failed_groups: set[str] = set()
        for r, result in zip(rows, results, strict=True):
            ok = result.outcome.succeeded or (
                result.outcome is RowOutcome.NOT_FOUND and operation is Operation.DELETE_LINES
            )
            if ok:
                previous = self.resources.get(r.address) if r.record is not None else None
                if r.record is None:
                    self.resources.pop(r.address)
                elif previous is not None and operation is Operation.ARCHIVE_LINES:
                    self.resources[r.address] = previous.model_copy(update={"archived": True})
                else:
                    entry = ResourceState.model_validate(r.record)
                    if previous is not None:
                        entry = entry.model_copy(
                            update={"observed": previous.observed, "epoptia_id": previous.epoptia_id}
                        )
                    if result.epoptia_id is not None:
                        entry = entry.model_copy(update={"epoptia_id": result.epoptia_id})
                    self.resources[r.address] = entry
                if operation is Operation.UPSERT_LINES:
                    sent[r.address] = None
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

    def _batches(self, actions: list[Action], *, dry: bool = False) -> Iterator[tuple[Operation, list[_Row]]]:
        """The batches to send, each built as it is asked for, from the entries as the run began.

        ``dry``: only what can fail is done (rows of lines are counted, not built, unless they name a
        workflow, the one thing of a line that may not map), so a dry pass costs little."""
        size = self.client.profile.batch_size
        upserts = (Verb.CREATE, Verb.UPDATE)
        phases: list[tuple[Operation, Callable[[], Iterator[_Row]]]] = [
            (
                Operation.UPSERT_CLIENTS,
                lambda: (self._client(a) for a in actions if a.kind is Kind.CLIENT and a.verb in upserts),
            ),
            (
                Operation.UPSERT_PRODUCTS,
                lambda: (self._product(a) for a in actions if a.kind is Kind.PRODUCT and a.verb in upserts),
            ),
            (Operation.UPSERT_LINES, lambda: self._line_rows(actions, dry)),
            (
                Operation.ARCHIVE_LINES,
                lambda: (_Row(a.address, archive_row(a.id), {}) for a in actions if a.verb is Verb.ARCHIVE),
            ),
            (Operation.DELETE_LINES, lambda: (self._delete(a) for a in actions if a.verb is Verb.DELETE)),
        ]
        for operation, rows in phases:
            batch: list[_Row] = []
            for row in rows():
                batch.append(row)
                if len(batch) == size:
                    yield operation, batch
                    batch = []
            if batch:
                yield operation, batch

    def _record(self, action: Action, parent: str | None = None, archived: bool = False) -> dict[str, Any]:
        return {
            "digest": action.digest,
            "parent": parent,
            "archived": archived,
            "observed": None,
            "payload": action.payload,
        }

    def _previous_payload(self, addr: str) -> dict[str, Any] | None:
        previous = self._before.get(addr)
        return previous.payload if previous is not None else None

    def _name(self, kind: Kind, erp_id: Any) -> str | None:
        if not erp_id:
            return None
        addr = address(kind, str(erp_id))
        if addr not in self._names:  # a few hundred clients and products, named on every line
            entry = self._before.get(addr)
            self._names[addr] = entry.payload.get("name") if entry is not None else None
        return self._names[addr]

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

    def _line_rows(self, actions: list[Action], dry: bool = False) -> Iterator[_Row]:
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
        for wo_id, group in groups.items():
            wo_action: Action | None = group["wo"]
            wo_addr = address(Kind.WORK_ORDER, wo_id)
            wo_previous = self._previous_payload(wo_addr)
            wo_payload = wo_action.payload if wo_action is not None else wo_previous
            if wo_payload is None:
                raise MappingError(
                    f"work order {wo_id} is neither in the plan nor in the state",
                    hint="plan again without --only/--exclude for it",
                )
            entries: list[tuple[str, dict[str, Any], bool, dict[str, Any] | None, bool, dict[str, Any] | None]] = []
            for a in group["lines"]:
                route = a.verb is Verb.CREATE or any(c.path.startswith(("routing", "workflow")) for c in a.changes)
                if dry:
                    entries.append((a.id, a.payload or {}, False, None, route, None))
                    continue
                previous = self._before.get(a.address)
                archived = bool(previous and previous.archived)
                entries.append(
                    (
                        a.id,
                        a.payload or {},
                        archived,
                        self._record(a, wo_id, archived),
                        route,
                        previous.payload if previous is not None else None,
                    )
                )
            if not entries:
                # A change to the work order alone still travels on one of its lines, as applied.
                carrier = self._before.first_line_of(wo_id)
                if carrier is None:
                    raise MappingError(f"work order {wo_id} has no line to carry its change")
                res = self._before[carrier]
                entries.append(
                    (
                        split_address(carrier)[1],
                        res.payload,
                        res.archived,
                        res.model_dump(mode="json"),
                        False,
                        res.payload,
                    )
                )
            group_record = self._record(wo_action) if wo_action is not None else None
            for line_id, payload, archived, record, route, previous_payload in entries:
                workflows = self.workflows() if route and payload.get("workflow") else None
                if dry and workflows is None:
                    # line_row fails only on a workflow it cannot resolve: without one, the row is only counted.
                    yield _Row(address(Kind.WORK_ORDER_LINE, line_id), {}, None)
                    continue
                row = line_row(
                    line_id,
                    payload,
                    wo_id,
                    wo_payload,
                    archived=archived,
                    workflows=workflows,
                    client_name=self._name(Kind.CLIENT, wo_payload.get("client")),
                    product_name=self._name(Kind.PRODUCT, payload.get("product")),
                    send_route=route,
                    previous=previous_payload,
                    previous_wo=wo_previous,
                )
                yield _Row(
                    address(Kind.WORK_ORDER_LINE, line_id),
                    row,
                    record,
                    group=wo_addr if wo_action else None,
                    group_record=group_record,
                )

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

    def _read_back(self, sent: dict[str, None], report: _Outcomes) -> None:
        """Do not trust a 200: read the touched lines back and compare what the list shows with what was sent.

        Each line is compared as its page comes, and only what differs is kept: a read-back of
        100,000 created lines holds one page at a time.
        """
        touched = [addr for addr in sent if addr in self.resources]
        wanted = {addr: addr for addr in touched}  # what a row names, as the one string already held
        view = self.resources.view()
        profile = self.client.profile
        matcher, names = LineMatcher(view, profile), names_of(view)
        del view  # its index holds every entry's index values as they were: let them go as entries change
        self.resources.checkpoint()  # to undo what a partial read saw, if a full one must follow
        seen_at = timestamp()

        def read(pages: set[int] | None) -> tuple[set[str], dict[str, str]]:
            found: set[str] = set()
            differs: dict[str, str] = {}
            # What was sent, of lines recorded as Epoptia shows them: a later row of such a line is compared
            # with what was sent, not with what an earlier row showed.
            sent_as: dict[str, tuple[dict[str, Any], str]] = {}

            def compare(order: int, line: WireLine) -> None:
                addr = wanted.get(matcher.line(line) or "")
                if addr is None:
                    return
                found.add(addr)
                entry = self.resources[addr]
                payload, digest = sent_as.get(addr) or (entry.payload, entry.digest)
                observed = observed_line(line, payload, profile, names, matcher.work_order(line))
                differs.pop(addr, None)  # a later row of the line replaces what an earlier one showed
                update: dict[str, Any] = {"observed": observe(line, seen_at), "payload": payload, "digest": digest}
                if observed != payload:
                    differs[addr] = ", ".join(
                        f"{c.path}: sent {c.before!r}, Epoptia has {c.after!r}"
                        for c in field_changes(payload, observed)
                    )
                    # Recorded as Epoptia has it, as a refresh would: the next plan puts the manifests' values back.
                    sent_as[addr] = (payload, digest)
                    update.update(payload=observed, digest=drift_digest(observed))
                self.resources[addr] = entry.model_copy(update=update)

            read_list(self.client, pages=pages, on_page=self.on_read_back, each=compare, keep=lambda line: False)
            return found, differs

        found, differs = read(self._touched_pages(touched))
        if not wanted.keys() <= found:  # lines moved between pages: read everything
            self.resources.roll_back(found)
            found, differs = read(None)
        for addr in touched:
            if addr not in found:
                # Every page was read and the line is not there: the state must not say it was applied,
                # or the next plan would find nothing to do. Without its entry, the next plan creates it.
                report.mismatches.append(Mismatch(address=addr, detail="not found in Epoptia after the write"))
                self.resources.pop(addr)
            elif addr in differs:
                report.mismatches.append(Mismatch(address=addr, detail=differs[addr]))
        self._save()
