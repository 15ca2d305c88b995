"""Refresh: what Epoptia really has, laid over the state before planning.

For the lines we manage, from the list of lines:
  - records the shop floor's facts (status, started, quantity done per step);
  - compares the fields the repository owns, as far as the list shows them,
    with what we last applied; where someone changed them in Epoptia, the
    state's view takes Epoptia's values, so the plan shows (and fixes) exactly
    that difference;
  - notices lines deleted outside the reconciler, so the plan creates them again.
Production progress is reported, never "fixed". Fields the list does not return
are write-only: they keep their applied value and never drift.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from .clock import timestamp
from .epoptia.listing import TenantLines
from .epoptia.profile import ListIds, WireProfile
from .epoptia.reading import Names, WireLine, observed_line, observed_work_order
from .planning.diff import field_changes
from .planning.plan import Drift, DriftCause
from .resources import Kind, address, split_address
from .state import Observed, ResourceState, Snapshot, StepProgress, drift_digest


@dataclass(frozen=True)
class Refresh:
    """The result: entries to lay over the state (None: gone from Epoptia) and what drifted."""

    changes: dict[str, ResourceState | None]
    drift: tuple[Drift, ...]


def observe(line: WireLine, observed_at: str) -> Observed:
    """The shop floor's facts of one line as the list shows them."""
    steps = tuple(
        StepProgress(workstation=s.workstation, job_task=s.job_task, status=s.status, qty_done=s.qty_done)
        for s in line.steps
    )
    return Observed(
        status=line.status,
        started=line.started,
        archived=line.archived,
        steps=steps,
        observed_at=observed_at,
        page=line.page or None,
    )


def names_of(snapshot: Snapshot) -> Names:
    """Product and client names as the state last applied them: the list knows them by name only."""
    products: dict[str, str] = {}
    clients: dict[str, str] = {}
    for addr in snapshot.index:
        kind, erp_id = split_address(addr)
        if kind in (Kind.PRODUCT, Kind.CLIENT):
            name = snapshot[addr].payload.get("name")
            if isinstance(name, str):
                (products if kind is Kind.PRODUCT else clients)[erp_id] = name
    return Names(products, clients)


class LineMatcher:
    """Which managed line (and work order) a row of the list is, by the ids the profile says it carries."""

    def __init__(self, snapshot: Snapshot, profile: WireProfile) -> None:
        self.by_epoptia: dict[str, str] | None = None
        if profile.list_ids is ListIds.EPOPTIA:
            self.by_epoptia = {}
            for addr in snapshot.index:
                kind = split_address(addr)[0]
                if kind in (Kind.WORK_ORDER_LINE, Kind.WORK_ORDER):
                    epoptia_id = snapshot.peek(addr).epoptia_id  # read and let go: there may be 100,000
                    if epoptia_id is not None:
                        self.by_epoptia[f"{kind.value}/{epoptia_id}"] = addr

    def line(self, line: WireLine) -> str | None:
        if self.by_epoptia is None:
            return address(Kind.WORK_ORDER_LINE, line.line_id)
        return self.by_epoptia.get(address(Kind.WORK_ORDER_LINE, line.line_id))

    def work_order(self, line: WireLine) -> str | None:
        """The ERP id of the work order the row points at; None when it cannot be told."""
        if line.work_order_id is None:
            return None
        if self.by_epoptia is None:
            return line.work_order_id
        addr = self.by_epoptia.get(address(Kind.WORK_ORDER, line.work_order_id))
        return split_address(addr)[1] if addr is not None else None


def _keyed(steps: tuple[StepProgress, ...]) -> list[tuple[tuple[str | None, str | None, int], StepProgress]]:
    """Steps by (workstation, job task, occurrence): a workstation may repeat without job tasks."""
    seen: dict[tuple[str | None, str | None], int] = {}
    out = []
    for step in steps:
        n = seen[(step.workstation, step.job_task)] = seen.get((step.workstation, step.job_task), 0) + 1
        out.append(((step.workstation, step.job_task, n), step))
    return out


def _progress(before: Observed | None, after: Observed, *, archived_by_us: bool = False) -> str | None:
    old = dict(_keyed(before.steps if before else ()))
    parts = []
    for key, step in _keyed(after.steps):
        prev = old.get(key)
        untouched = step.status == "not_started" and step.qty_done == 0
        if (prev is None and not untouched) or (
            prev is not None and (prev.qty_done, prev.status) != (step.qty_done, step.status)
        ):
            was = f"{_n(prev.qty_done)} → " if prev is not None and prev.qty_done != step.qty_done else ""
            parts.append(f"{step.workstation}: {was}{_n(step.qty_done)} done ({step.status})")
    # The reconciler's own archive is not the shop floor's progress.
    own_archive = archived_by_us and after.archived
    if before is not None and before.status != after.status and not own_archive:
        parts.insert(0, f"status {before.status} → {after.status}")
    return "; ".join(parts) if parts else None


def _n(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


class Refresher:
    """The refresh, one line at a time, as the list is read (a ``LineSink``).

    Nothing of a line is kept unless it changes the state or drifted: at
    100,000 lines, holding every row and every state entry it was compared with
    took gigabytes. Each entry is parsed for the comparison and let go.
    """

    def __init__(self, snapshot: Snapshot, profile: WireProfile, now: dt.datetime | None = None) -> None:
        self.snapshot, self.profile = snapshot, profile
        self.seen_at = timestamp(now)
        self.names = names_of(snapshot)
        self.matcher = LineMatcher(snapshot, profile)
        prefix = f"{Kind.WORK_ORDER_LINE.value}/"
        self.unseen = {addr for addr in snapshot.index if addr.startswith(prefix)}  # managed lines not in the list yet
        # addr -> (order in the list, the entry to lay over the state or None, what drifted): only where something did
        self.lines: dict[str, tuple[int, ResourceState | None, list[Drift]]] = {}
        # work order id -> (id of the first of its lines in the list, the order of that line, what it changes)
        self.work_orders: dict[str, tuple[str, int, tuple[ResourceState, Drift | None] | None]] = {}

    def __call__(self, order: int, line: WireLine) -> None:
        addr = self.matcher.line(line)
        if addr is None or addr not in self.snapshot:
            return  # not ours: Epoptia holds more than the repository manages
        if not addr.startswith(f"{Kind.WORK_ORDER_LINE.value}/"):
            return
        self.unseen.discard(addr)
        have = self.snapshot.peek(addr)
        self.lines.pop(addr, None)  # a later row of the line replaces what an earlier one found
        found = self._line(addr, have, line)
        if found is not None:
            self.lines[addr] = (order, *found)
        if have.parent is not None:
            carrier = self.work_orders.get(have.parent)
            if carrier is None or (carrier[0] == line.line_id and carrier[1] == order):
                self.work_orders[have.parent] = (line.line_id, order, self._work_order(have.parent, line))

    def _line(self, addr: str, have: ResourceState, line: WireLine) -> tuple[ResourceState | None, list[Drift]] | None:
        line_id = split_address(addr)[1]
        facts = observe(line, self.seen_at)
        if have.observed is not None and (have.observed.fingerprint(), have.observed.page) == (
            facts.fingerprint(),
            facts.page,
        ):
            facts = have.observed  # the time alone is not a change: the entry, and the state file, stay as they are
        payload = observed_line(line, have.payload, self.profile, self.names, self.matcher.work_order(line))
        entry = have.model_copy(update={"observed": facts, "archived": have.archived or facts.archived})
        drift: list[Drift] = []
        if payload != have.payload:
            diffs = tuple(field_changes(have.payload, payload))
            drift.append(
                Drift(
                    cause=DriftCause.OWNED,
                    kind=Kind.WORK_ORDER_LINE,
                    id=line_id,
                    message=f"line {line_id} was changed in Epoptia",
                    changes=diffs,
                )
            )
            entry = entry.model_copy(update={"payload": payload, "digest": drift_digest(payload)})
        progress = _progress(have.observed, facts, archived_by_us=have.archived)
        if progress:
            drift.append(
                Drift(
                    cause=DriftCause.PROGRESS,
                    kind=Kind.WORK_ORDER_LINE,
                    id=line_id,
                    message=f"line {line_id}: {progress}",
                )
            )
        changed = entry != have
        if not changed and not drift:
            return None
        return (entry if changed else None), drift

    def _work_order(self, wo_id: str, line: WireLine) -> tuple[ResourceState, Drift | None] | None:
        addr = address(Kind.WORK_ORDER, wo_id)
        have = self.snapshot.peek(addr) if addr in self.snapshot else None
        if have is None:
            return None
        update: dict[str, Any] = {}
        if self.matcher.by_epoptia is not None and have.epoptia_id is None and line.work_order_id is not None:
            update["epoptia_id"] = line.work_order_id  # learnt from its line: write answers name lines only
        payload = observed_work_order(line, have.payload, self.profile, self.names)
        drift = None
        if payload != have.payload:
            drift = Drift(
                cause=DriftCause.OWNED,
                kind=Kind.WORK_ORDER,
                id=wo_id,
                message=f"work order {wo_id} was changed in Epoptia",
                changes=tuple(field_changes(have.payload, payload)),
            )
            update.update(payload=payload, digest=drift_digest(payload))
        return (have.model_copy(update=update), drift) if update else None

    def result(self, complete: bool) -> Refresh:
        """What the read showed; ``complete``: every page was read, so a managed line not seen is gone."""
        changes: dict[str, ResourceState | None] = {}
        drift: list[Drift] = []
        for addr, (_, entry, found) in sorted(self.lines.items(), key=lambda item: item[1][0]):
            if entry is not None:
                changes[addr] = entry
            drift.extend(found)
        # Only a read of every page can tell that a line is gone.
        for addr in sorted(self.unseen) if complete else ():
            line_id = split_address(addr)[1]
            changes[addr] = None
            drift.append(
                Drift(
                    cause=DriftCause.MISSING,
                    kind=Kind.WORK_ORDER_LINE,
                    id=line_id,
                    message=f"line {line_id} is no longer in Epoptia (deleted outside the reconciler)",
                )
            )
        for wo_id, (_, _, found_wo) in self.work_orders.items():
            if found_wo is not None:
                entry, wo_drift = found_wo
                if wo_drift is not None:
                    drift.append(wo_drift)
                changes[address(Kind.WORK_ORDER, wo_id)] = entry
        return Refresh(changes=changes, drift=tuple(drift))


def refresh(snapshot: Snapshot, tenant: TenantLines, profile: WireProfile, now: dt.datetime | None = None) -> Refresh:
    """The refresh of a read whose lines were kept (see ``Refresher`` for one that streams)."""
    refresher = Refresher(snapshot, profile, now)
    for order, line in enumerate(tenant.by_id.values()):
        refresher(order, line)
    return refresher.result(tenant.complete)
