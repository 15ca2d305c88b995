"""`reconciler apply`: settle an interrupted run, refresh, plan (or take a saved plan), ask, execute, record."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..context import Context
from ..epoptia.listing import TenantLines, read_list
from ..epoptia.reading import WireLine
from ..errors import PlanError, ReconcilerError, StalePlanError
from ..executor import Executor, recover
from ..planning import Plan, RefreshScope, Selection
from ..planning.staleness import stale_reasons
from ..refresh import LineMatcher
from ..report import ApplyReport
from ..state import Snapshot
from .hooks import BLOCKED_HINT, Hooks, Phase
from .plan import Planned, PlanRequest, plan_against_tenant, read_refreshed, read_tenant

if TYPE_CHECKING:  # the HTTP client is imported only by commands that talk to Epoptia
    from ..epoptia.client import EpoptiaClient


@dataclass(frozen=True)
class ApplyRequest:
    saved_plan: Plan | None = None  # carry out this reviewed plan instead of planning again
    auto_approve: bool = False
    skip_blocked: bool = False
    selection: Selection = field(default_factory=Selection)
    allow_mass_delete: bool = False
    ignore_window: bool = False
    adopt: bool = False  # take over what Epoptia has and the state does not know (a lost state)
    refresh_only: bool = False  # change nothing in Epoptia; record what it has as the state
    refresh: RefreshScope = RefreshScope.TARGETED  # how much of Epoptia to read first (never NONE)


class ApplyStatus(str, enum.Enum):
    APPLIED = "applied"  # the executor ran; the report says how it went
    NOTHING_TO_APPLY = "nothing-to-apply"  # what Epoptia has (if it moved) was recorded as the state
    REFRESHED = "refreshed"  # refresh-only: the state now records what Epoptia has
    CANCELLED = "cancelled"  # the person said no


@dataclass(frozen=True)
class ApplyOutcome:
    status: ApplyStatus
    plan: Plan
    report: ApplyReport | None = None


def _read_for_recovery(context: Context, client: EpoptiaClient, state: Snapshot, hooks: Hooks) -> TenantLines:
    """The journalled lines: from the pages holding them, or from every page when their place is not known."""
    entries = (context.journal.read() or {}).get("entries") or {}
    matcher = LineMatcher(state, context.profile)

    def journalled(line: WireLine) -> bool:
        return matcher.line(line) in entries

    pages: set[int] = set()
    for addr in entries:
        entry = state.peek(addr) if addr in state else None
        page = entry.observed.page if entry is not None and entry.observed is not None else None
        if page is None:
            # A create in flight: new lines are listed last, read it all (keeping only what the journal names).
            return read_tenant(client, hooks, keep=journalled)
        pages.add(page)
    return read_list(
        client, pages=pages, on_page=lambda done, total: hooks.progress(Phase.REFRESH, done, total), keep=journalled
    )


def _saved(context: Context, saved: Plan, state: Snapshot, client: EpoptiaClient, hooks: Hooks) -> Planned:
    """A reviewed plan, if nothing it touches moved since (read everything: a saved plan is checked whole)."""
    tenant, view, result = read_refreshed(context, state, client, hooks)
    reasons = stale_reasons(saved, view, context.target_name)
    if reasons:
        raise StalePlanError(
            "the saved plan is stale:\n" + "\n".join(f"  - {r}" for r in reasons),
            hint="make a new plan with `reconciler plan --out PLANFILE` and review it again",
        )
    return Planned(saved, view, tenant, moved=bool(result.changes))


def apply_target(context: Context, request: ApplyRequest, hooks: Hooks) -> ApplyOutcome:
    window = context.window_check()
    if window is not None and not window.allowed and not request.ignore_window:
        raise ReconcilerError(
            f"refusing to apply to {context.target_name!r}: {window.message}",
            hint="wait for the window, or pass --ignore-window if this change cannot wait",
        )
    saved = request.saved_plan
    desired = context.load_desired() if saved is None else None
    store = context.state_store
    with store.lock("apply"), context.connect() as client:
        # The state is read as a snapshot, entries parsed when needed: never all of them at once.
        state = store.snapshot()
        if context.journal.read() is not None:
            changes, notes = recover(
                context.journal, state, _read_for_recovery(context, client, state, hooks), context.profile
            )
            for note in notes:
                hooks.notice(f"Recovered: {note}")
            if changes:
                lineage, serial = store.write_snapshot(state.overlay(changes))
                state = state.overlay(changes, serial=serial)
                state.lineage = lineage
            recovered = tuple(notes)
        else:
            recovered = ()
        if saved is not None:
            planned = _saved(context, saved, state, client, hooks)
        else:
            assert desired is not None
            wanted = PlanRequest(
                selection=request.selection,
                allow_mass_delete=request.allow_mass_delete,
                adopt=request.adopt,
                refresh_only=request.refresh_only,
            )
            scope = RefreshScope.FULL if request.refresh_only else request.refresh
            planned = plan_against_tenant(context, desired, state, client, hooks, wanted, scope)
            del desired  # the plan holds what it needs of the manifests
        plan, view = planned.plan, planned.view
        hooks.planned(plan)
        if plan.blocked and not request.skip_blocked:
            raise PlanError(f"{len(plan.blocked)} blocked action(s); nothing was applied", hint=BLOCKED_HINT)
        if plan.refresh_only or not plan.runnable:
            if plan.refresh_only and not request.auto_approve and not hooks.confirm(plan):
                return ApplyOutcome(ApplyStatus.CANCELLED, plan)
            # Nothing to send: what the refresh saw is recorded, so drift is "since the last refresh".
            if planned.moved:
                store.write_snapshot(view)
            return ApplyOutcome(ApplyStatus.REFRESHED if plan.refresh_only else ApplyStatus.NOTHING_TO_APPLY, plan)
        if not request.auto_approve and not hooks.confirm(plan):
            return ApplyOutcome(ApplyStatus.CANCELLED, plan)
        # What the refresh saw becomes part of the state, whatever happens next.
        executor = Executor(
            client,
            store,
            context.journal,
            interrupted=hooks.interrupted,
            on_batch=lambda sent, total: hooks.progress(Phase.WRITE, sent, total),
            on_read_back=lambda done, total: hooks.progress(Phase.READ_BACK, done, total),
            pages=planned.tenant.pages if planned.tenant is not None else None,
        )
        report = executor.run(plan, view, recovered=recovered)
    return ApplyOutcome(ApplyStatus.APPLIED, plan, report)
