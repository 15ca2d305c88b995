"""`reconciler plan`: the manifests, the state and (when it can be read) Epoptia -> a Plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..context import Context
from ..epoptia.client import EpoptiaClient
from ..epoptia.errors import HaltedError, UnreachableError
from ..planning import Plan, Selection, make_plan
from ..refresh import Refresh, refresh
from ..resources import Desired
from ..state import Snapshot
from .hooks import Hooks, Phase


@dataclass(frozen=True)
class PlanRequest:
    selection: Selection = field(default_factory=Selection)
    allow_mass_delete: bool = False
    refresh: bool = True  # read what Epoptia has before planning


@dataclass(frozen=True)
class PlanOutcome:
    plan: Plan


def read_lines(client: EpoptiaClient, hooks: Hooks) -> list[dict[str, Any]]:
    """Every line of the tenant, page by page, reporting progress."""
    lines: list[dict[str, Any]] = []
    page = 1
    while True:
        rows, pages = client.lines_page(page)
        lines.extend(rows)
        hooks.progress(Phase.REFRESH, page, pages)
        if page >= pages:
            return lines
        page += 1


def refreshed(context: Context, snapshot: Snapshot, wire: list[dict[str, Any]]) -> tuple[Snapshot, Refresh]:
    """The state with what Epoptia has laid over it."""
    result = refresh(snapshot, wire, context.profile)
    return snapshot.overlay(result.changes), result


def target_plan(context: Context, desired: Desired, view: Snapshot, refresh_result: Refresh | None, *,
                selection: Selection, allow_mass_delete: bool) -> Plan:
    """The plan for this target, with its delete limit and apply windows."""
    return make_plan(
        desired,
        view,
        target=context.target_name,
        selection=selection,
        max_deletions=context.target.delete_limit.allowed(len(view)),
        allow_mass_delete=allow_mass_delete,
        refreshed=refresh_result is not None,
        drift=refresh_result.drift if refresh_result is not None else (),
        window=context.window_check(),
    )


def plan_target(context: Context, request: PlanRequest, hooks: Hooks) -> PlanOutcome:
    desired = context.load_desired()  # manifests first: a broken file fails before any request
    snapshot = context.state_store.snapshot()
    view, result = snapshot, None
    if request.refresh:
        try:
            with context.connect() as client:
                wire = read_lines(client, hooks)
        except (UnreachableError, HaltedError) as error:
            hooks.notice(f"Warning: could not read Epoptia, planning from the state file alone: {error.message}")
        else:
            view, result = refreshed(context, snapshot, wire)
    plan = target_plan(context, desired, view, result, selection=request.selection,
                       allow_mass_delete=request.allow_mass_delete)
    return PlanOutcome(plan=plan)
