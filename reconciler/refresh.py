"""Refresh: what Epoptia really has, laid over the state before planning.

Reads every line through the paged GET and, for the lines we manage:
  - records the shop floor's facts (status, started, quantity done per step);
  - compares the fields the repository owns with what we last applied; where
    someone changed them in Epoptia, the state's view takes Epoptia's values, so
    the plan shows (and fixes) exactly that difference;
  - notices lines deleted outside the reconciler, so the plan creates them again.
Production progress is reported, never "fixed".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Iterable

from .clock import timestamp
from .epoptia.profile import WireProfile
from .epoptia.reading import is_archived, line_id_of, line_status, observed_line, observed_work_order, wire_steps
from .planning import Drift, DriftCause
from .planning.diff import field_changes
from .resources import Kind, address, split_address
from .state import Observed, ResourceState, Snapshot, StepProgress, drift_digest


@dataclass(frozen=True)
class Refresh:
    """The result: entries to lay over the state (None: gone from Epoptia) and what drifted."""

    changes: dict[str, ResourceState | None]
    drift: tuple[Drift, ...]


def observe(wire: dict[str, Any], observed_at: str) -> Observed:
    """The shop floor's facts of one line as the list shows them."""
    steps = tuple(StepProgress(workstation=s.workstation, job_task=s.job_task, status=s.status, qty_done=s.qty_done)
                  for s in wire_steps(wire))
    return Observed(status=line_status(wire), started=any(s.status != "not_started" or s.qty_done > 0 for s in steps),
                    archived=is_archived(wire), steps=steps, observed_at=observed_at)


def _progress(before: Observed | None, after: Observed) -> str | None:
    old = {(s.workstation, s.job_task): s for s in (before.steps if before else ())}
    parts = []
    for step in after.steps:
        prev = old.get((step.workstation, step.job_task))
        untouched = step.status == "not_started" and step.qty_done == 0
        if (prev is None and not untouched) or (prev is not None and (prev.qty_done, prev.status) != (step.qty_done, step.status)):
            was = f"{_n(prev.qty_done)} → " if prev is not None and prev.qty_done != step.qty_done else ""
            parts.append(f"{step.workstation}: {was}{_n(step.qty_done)} done ({step.status})")
    if before is not None and before.status != after.status:
        parts.insert(0, f"status {before.status} → {after.status}")
    return "; ".join(parts) if parts else None


def _n(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def refresh(snapshot: Snapshot, wire_lines: Iterable[dict[str, Any]], profile: WireProfile,
            now: dt.datetime | None = None) -> Refresh:
    seen_at = timestamp(now)
    wanted = {addr for addr in snapshot.index if addr.startswith(f"{Kind.WORK_ORDER_LINE.value}/")}
    changes: dict[str, ResourceState | None] = {}
    drift: list[Drift] = []
    work_orders: dict[str, dict[str, Any]] = {}
    for wire in wire_lines:
        line_id = line_id_of(wire)
        addr = address(Kind.WORK_ORDER_LINE, line_id)
        if addr not in wanted:
            continue  # not ours: Epoptia holds more than the repository manages
        wanted.discard(addr)
        have = snapshot[addr]
        facts = observe(wire, seen_at)
        payload = observed_line(wire, have.payload, profile)
        work_orders.setdefault(payload.get("workorder", ""), wire)
        entry = have.model_copy(update={"observed": facts, "archived": have.archived or facts.archived})
        if payload != have.payload:
            diffs = tuple(field_changes(have.payload, payload))
            drift.append(Drift(cause=DriftCause.OWNED, kind=Kind.WORK_ORDER_LINE, id=line_id,
                               message=f"line {line_id} was changed in Epoptia", changes=diffs))
            entry = entry.model_copy(update={"payload": payload, "digest": drift_digest(payload)})
        progress = _progress(have.observed, facts)
        if progress:
            drift.append(Drift(cause=DriftCause.PROGRESS, kind=Kind.WORK_ORDER_LINE, id=line_id,
                               message=f"line {line_id}: {progress}"))
        if entry != have:
            changes[addr] = entry

    for addr in sorted(wanted):
        line_id = split_address(addr)[1]
        changes[addr] = None
        drift.append(Drift(cause=DriftCause.MISSING, kind=Kind.WORK_ORDER_LINE, id=line_id,
                           message=f"line {line_id} is no longer in Epoptia (deleted outside the reconciler)"))

    for wo_id, wire in work_orders.items():
        addr = address(Kind.WORK_ORDER, wo_id)
        have = snapshot.get(addr)
        if have is None:
            continue
        payload = observed_work_order(wire)
        if payload != have.payload:
            drift.append(Drift(cause=DriftCause.OWNED, kind=Kind.WORK_ORDER, id=wo_id,
                               message=f"work order {wo_id} was changed in Epoptia",
                               changes=tuple(field_changes(have.payload, payload))))
            changes[addr] = have.model_copy(update={"payload": payload, "digest": drift_digest(payload)})
    return Refresh(changes=changes, drift=tuple(drift))
