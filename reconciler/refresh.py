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
    steps = tuple(StepProgress(workstation=s.workstation, job_task=s.job_task, status=s.status, qty_done=s.qty_done)
                  for s in line.steps)
    return Observed(status=line.status, started=line.started, archived=line.archived, steps=steps,
                    observed_at=observed_at, page=line.page or None)


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
        self.snapshot = snapshot
        self.by_epoptia: dict[str, str] | None = None
        if profile.list_ids is ListIds.EPOPTIA:
            self.by_epoptia = {}
            for addr in snapshot.index:
                kind = split_address(addr)[0]
                if kind in (Kind.WORK_ORDER_LINE, Kind.WORK_ORDER):
                    epoptia_id = snapshot[addr].epoptia_id
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
                prev is not None and (prev.qty_done, prev.status) != (step.qty_done, step.status)):
            was = f"{_n(prev.qty_done)} → " if prev is not None and prev.qty_done != step.qty_done else ""
            parts.append(f"{step.workstation}: {was}{_n(step.qty_done)} done ({step.status})")
    # The reconciler's own archive is not the shop floor's progress.
    own_archive = archived_by_us and after.archived
    if before is not None and before.status != after.status and not own_archive:
        parts.insert(0, f"status {before.status} → {after.status}")
    return "; ".join(parts) if parts else None


def _n(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def refresh(snapshot: Snapshot, tenant: TenantLines, profile: WireProfile,
            now: dt.datetime | None = None) -> Refresh:
    seen_at = timestamp(now)
    names = names_of(snapshot)
    matcher = LineMatcher(snapshot, profile)
    wanted = {addr for addr in snapshot.index if addr.startswith(f"{Kind.WORK_ORDER_LINE.value}/")}
    changes: dict[str, ResourceState | None] = {}
    drift: list[Drift] = []
    work_orders: dict[str, WireLine] = {}
    for line in tenant.by_id.values():
        addr = matcher.line(line)
        if addr is None or addr not in wanted:
            continue  # not ours: Epoptia holds more than the repository manages
        wanted.discard(addr)
        line_id = split_address(addr)[1]
        have = snapshot[addr]
        facts = observe(line, seen_at)
        if have.observed is not None and (have.observed.fingerprint(), have.observed.page) == (
                facts.fingerprint(), facts.page):
            facts = have.observed  # the time alone is not a change: the entry, and the state file, stay as they are
        payload = observed_line(line, have.payload, profile, names, matcher.work_order(line))
        if have.parent is not None:
            work_orders.setdefault(have.parent, line)
        entry = have.model_copy(update={"observed": facts, "archived": have.archived or facts.archived})
        if payload != have.payload:
            diffs = tuple(field_changes(have.payload, payload))
            drift.append(Drift(cause=DriftCause.OWNED, kind=Kind.WORK_ORDER_LINE, id=line_id,
                               message=f"line {line_id} was changed in Epoptia", changes=diffs))
            entry = entry.model_copy(update={"payload": payload, "digest": drift_digest(payload)})
        progress = _progress(have.observed, facts, archived_by_us=have.archived)
        if progress:
            drift.append(Drift(cause=DriftCause.PROGRESS, kind=Kind.WORK_ORDER_LINE, id=line_id,
                               message=f"line {line_id}: {progress}"))
        if entry != have:
            changes[addr] = entry

    # Only a read of every page can tell that a line is gone.
    for addr in sorted(wanted) if tenant.complete else ():
        line_id = split_address(addr)[1]
        changes[addr] = None
        drift.append(Drift(cause=DriftCause.MISSING, kind=Kind.WORK_ORDER_LINE, id=line_id,
                           message=f"line {line_id} is no longer in Epoptia (deleted outside the reconciler)"))

    for wo_id, line in work_orders.items():
        addr = address(Kind.WORK_ORDER, wo_id)
        have = snapshot.get(addr)
        if have is None:
            continue
        update: dict[str, Any] = {}
        if matcher.by_epoptia is not None and have.epoptia_id is None and line.work_order_id is not None:
            update["epoptia_id"] = line.work_order_id  # learnt from its line: write answers name lines only
        payload = observed_work_order(line, have.payload, profile, names)
        if payload != have.payload:
            drift.append(Drift(cause=DriftCause.OWNED, kind=Kind.WORK_ORDER, id=wo_id,
                               message=f"work order {wo_id} was changed in Epoptia",
                               changes=tuple(field_changes(have.payload, payload))))
            update.update(payload=payload, digest=drift_digest(payload))
        if update:
            changes[addr] = have.model_copy(update=update)
    return Refresh(changes=changes, drift=tuple(drift))
