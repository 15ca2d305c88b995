"""`reconciler plan`: the manifests, the state and (when it can be read) Epoptia -> a Plan."""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..clock import timestamp
from ..context import Context
from ..epoptia.errors import EpoptiaError, HaltedError, UnreachableError
from ..epoptia.listing import LineSink, TenantLines, read_list
from ..epoptia.profile import Operation, WireProfile
from ..epoptia.reading import WireLine, observed_line, observed_work_order
from ..fsio import atomic_write
from ..planning import Plan, RefreshScope, Selection, Verb, make_plan
from ..planning.planner import Tenant, WorkflowNames
from ..refresh import LineMatcher, Refresh, Refresher, names_of, observe, refresh
from ..resources import Desired, Kind, address
from ..state import ResourceState, Snapshot, drift_digest
from .hooks import Hooks, Phase

if TYPE_CHECKING:  # the HTTP client is imported only by commands that talk to Epoptia
    from ..epoptia.client import EpoptiaClient


@dataclass(frozen=True)
class PlanRequest:
    selection: Selection = field(default_factory=Selection)
    allow_mass_delete: bool = False
    refresh: RefreshScope = RefreshScope.TARGETED  # how much of Epoptia to read before planning
    adopt: bool = False  # take over what Epoptia has and the state does not know (a lost state)
    refresh_only: bool = False  # plan nothing; show what a refresh would record


@dataclass(frozen=True)
class PlanOutcome:
    plan: Plan


# Odd rows are normal on a live tenant; a few are named, the rest counted.
_PROBLEMS_NAMED = 5

# What each operation of the wire profile carries out, for the plan to block what a target cannot do.
_NEEDS: dict[Operation, tuple[tuple[Kind, Verb], ...]] = {
    Operation.UPSERT_CLIENTS: ((Kind.CLIENT, Verb.CREATE), (Kind.CLIENT, Verb.UPDATE)),
    Operation.UPSERT_PRODUCTS: ((Kind.PRODUCT, Verb.CREATE), (Kind.PRODUCT, Verb.UPDATE)),
    Operation.UPSERT_LINES: tuple(
        (kind, verb) for kind in (Kind.WORK_ORDER, Kind.WORK_ORDER_LINE) for verb in (Verb.CREATE, Verb.UPDATE)
    ),
    Operation.ARCHIVE_LINES: ((Kind.WORK_ORDER_LINE, Verb.ARCHIVE),),
    Operation.DELETE_LINES: ((Kind.WORK_ORDER_LINE, Verb.DELETE), (Kind.WORK_ORDER, Verb.DELETE)),
}


def read_tenant(
    client: EpoptiaClient, hooks: Hooks, *, each: LineSink | None = None, keep: Callable[[WireLine], bool] | None = None
) -> TenantLines:
    """Every line of the tenant, page by page, reporting progress and the rows that could not be used.

    ``each`` and ``keep`` as for ``read_list``: by default every line is kept.
    """
    tenant = read_list(
        client, on_page=lambda done, total: hooks.progress(Phase.REFRESH, done, total), each=each, keep=keep
    )
    if tenant.problems:
        named = "; ".join(f"page {p.page}: {p.message}" for p in tenant.problems[:_PROBLEMS_NAMED])
        more = f" (and {len(tenant.problems) - _PROBLEMS_NAMED} more)" if len(tenant.problems) > _PROBLEMS_NAMED else ""
        hooks.notice(f"Warning: {len(tenant.problems)} odd row(s) in Epoptia's list of lines: {named}{more}")
    return tenant


def refreshed(context: Context, snapshot: Snapshot, tenant: TenantLines) -> tuple[Snapshot, Refresh]:
    """The state with what Epoptia has laid over it."""
    result = refresh(snapshot, tenant, context.profile)
    return snapshot.overlay(result.changes), result


def read_refreshed(
    context: Context,
    snapshot: Snapshot,
    client: EpoptiaClient,
    hooks: Hooks,
    *,
    keep: Callable[[WireLine], bool] = lambda line: False,
) -> tuple[TenantLines, Snapshot, Refresh]:
    """Read every page and refresh as the pages come, so the list is never held whole (at 100,000 lines it
    took more memory than the rest of a plan); the read keeps only the lines ``keep`` asks for."""
    refresher = Refresher(snapshot, context.profile)
    tenant = read_tenant(client, hooks, each=refresher, keep=keep)
    result = refresher.result(tenant.complete)
    return tenant, snapshot.overlay(result.changes), result


def unavailable(profile: WireProfile, target: str) -> dict[tuple[Kind, Verb], str]:
    """What the target cannot carry out, because an operation is switched off in its profile."""
    out: dict[tuple[Kind, Verb], str] = {}
    for operation, needs in _NEEDS.items():
        if not profile.endpoint(operation).enabled:
            for need in needs:
                out[need] = (
                    f"{operation.value} is switched off for target {target!r} (enabled: false in "
                    "reconciler.yaml), so this cannot be sent"
                )
    return out


def _workflows_cache(context: Context) -> Any:
    return context.work_dir / "cache" / f"{context.target_name}-workflows.json"


def read_workflow_names(context: Context, client: EpoptiaClient | None) -> WorkflowNames | None:
    """Template names from the tenant (cached for offline plans); None where they cannot be known."""
    cache = _workflows_cache(context)
    names: list[str] | None = None
    if client is not None and context.profile.endpoint(Operation.WORKFLOW_TEMPLATES).enabled:
        try:
            names = [str(t.get("name")) for t in client.workflow_templates() if isinstance(t, dict)]
        except EpoptiaError:
            names = None
        else:
            try:
                atomic_write(cache, json.dumps(names, ensure_ascii=False).encode(), durable=False)
            except OSError:
                pass  # a cache that cannot be written only costs the offline check
    if names is None:
        try:
            names = [str(n) for n in json.loads(cache.read_text(encoding="utf-8"))]
        except (OSError, ValueError, TypeError):
            return None
    counts = Counter(names)
    return WorkflowNames(known=frozenset(counts), ambiguous=frozenset(n for n, c in counts.items() if c > 1))


def existing_in_tenant(
    desired: Desired, view: Snapshot, tenant: TenantLines, profile: WireProfile
) -> dict[str, ResourceState]:
    """Lines and work orders the manifests want and Epoptia has, but the state does not know.

    They are what a lost or new state file would create a second time. Each is
    shown as Epoptia has it, over the manifests' values for what the list does
    not return, with its production facts, so adopting it obeys the started-order rules.
    """
    if not tenant.by_id:
        return {}
    matcher, names = LineMatcher(view, profile), names_of(view)
    out: dict[str, ResourceState] = {}
    for line_id, line in tenant.by_id.items():
        addr = address(Kind.WORK_ORDER_LINE, line_id)
        if addr in view or addr not in desired:  # the state's own first: it is the common case, and cheap
            continue
        want = desired.resources[addr]
        payload = observed_line(line, want.payload, profile, names, matcher.work_order(line))
        out[addr] = ResourceState(
            digest=drift_digest(payload), parent=want.parent, payload=payload, observed=observe(line, "adopted")
        )
        wo_addr = address(Kind.WORK_ORDER, want.parent) if want.parent else None
        wo = desired.resources.get(wo_addr) if wo_addr else None
        if (
            wo_addr
            and wo is not None
            and wo_addr not in view
            and wo_addr not in out
            and line.work_order_id == want.parent
        ):
            wo_payload = observed_work_order(line, wo.payload, profile, names)
            out[wo_addr] = ResourceState(digest=drift_digest(wo_payload), payload=wo_payload)
    return out


def target_plan(
    context: Context,
    desired: Desired,
    view: Snapshot,
    refresh_result: Refresh | None,
    *,
    request: PlanRequest,
    tenant: Tenant = Tenant(),
    scope: RefreshScope = RefreshScope.NONE,
    pages_read: int = 0,
) -> Plan:
    """The plan for this target, with its delete limit, apply windows and what the tenant cannot do."""
    drift = refresh_result.drift if refresh_result is not None else ()
    if request.refresh_only:
        return Plan(
            target=context.target_name,
            lineage=view.lineage,
            serial=view.serial,
            created_at=timestamp(),
            refresh=scope,
            pages_read=pages_read,
            refresh_only=True,
            unchanged=len(view),
            drift=drift,
            window=context.window_check(),
        )
    return make_plan(
        desired,
        view,
        target=context.target_name,
        selection=request.selection,
        max_deletions=context.target.delete_limit.allowed(len(view)),
        allow_mass_delete=request.allow_mass_delete,
        refresh=scope,
        pages_read=pages_read,
        drift=drift,
        window=context.window_check(),
        tenant=tenant,
        adopt=request.adopt,
    )


def tenant_facts(
    context: Context, desired: Desired, view: Snapshot, tenant: TenantLines | None, client: EpoptiaClient | None
) -> Tenant:
    """What the planner needs to know of the tenant beyond the state."""
    return Tenant(
        existing=existing_in_tenant(desired, view, tenant, context.profile) if tenant is not None else {},
        # Read only if something about to be sent names a workflow: a plan with nothing to do reads nothing more.
        workflows=functools.cache(lambda: read_workflow_names(context, client)),
        unavailable=unavailable(context.profile, context.target_name),
    )


@dataclass(frozen=True)
class Planned:
    """A plan made against the tenant, and what was read to make it (for the apply that follows)."""

    plan: Plan
    view: Snapshot  # the state with what was read laid over it
    tenant: TenantLines | None
    moved: bool = False  # the view differs from the state: what was read is worth recording


def unmanaged_wanted(desired: Desired, snapshot: Snapshot) -> Callable[[WireLine], bool]:
    """Lines the manifests want that the state does not know (what ``existing_in_tenant`` looks at)."""

    def wanted(line: WireLine) -> bool:
        addr = address(Kind.WORK_ORDER_LINE, line.line_id)
        return addr not in snapshot and addr in desired

    return wanted


def _touched_lines(plan: Plan, snapshot: Snapshot) -> dict[str, int] | None:
    """The managed lines a plan changes, archives or deletes (a work order stands for its lines), each
    with the page of the list it was last seen on.

    None when a read of every page is needed: a line whose page is not known, or
    creates into a state that manages no line (a new or lost state file, where
    only a full read can tell what already exists).
    """
    lines: set[str] = set()
    creates = False
    for action in plan.actions:
        if action.verb in (Verb.CREATE, Verb.ADOPT):
            creates = creates or action.kind in (Kind.WORK_ORDER, Kind.WORK_ORDER_LINE)
        elif action.kind is Kind.WORK_ORDER_LINE and action.verb is not Verb.FORGET:
            lines.add(action.address)
        elif action.kind is Kind.WORK_ORDER and action.verb is not Verb.FORGET:
            lines |= {
                addr
                for addr, row in snapshot.rows.items()
                if row[1] == action.id  # [1]: the parent
                and addr.startswith(Kind.WORK_ORDER_LINE.value)
            }
    if creates and not any(addr.startswith(Kind.WORK_ORDER_LINE.value) for addr in snapshot.rows):
        return None
    pages = {}
    for addr in lines:
        observed = snapshot[addr].observed if addr in snapshot else None
        if observed is None or not observed.page:
            return None
        pages[addr] = observed.page
    return pages


def _creates_first_lines(desired: Desired, snapshot: Snapshot, request: PlanRequest) -> bool:
    """Whether the plan surely creates lines into an empty state, so a targeted refresh would read every
    page (see ``_touched_lines``): then the draft plan is not made (at 100,000 lines it is seconds of
    work that tells nothing new). Asked of an empty state only, whose check costs nothing."""
    if request.selection.only or request.selection.exclude or len(snapshot):
        return False
    line = f"{Kind.WORK_ORDER_LINE.value}/"
    return any(addr.startswith(line) for addr in desired.rows)


def plan_against_tenant(
    context: Context,
    desired: Desired,
    snapshot: Snapshot,
    client: EpoptiaClient,
    hooks: Hooks,
    request: PlanRequest,
    scope: RefreshScope,
) -> Planned:
    """Read what safety needs, then plan.

    A targeted refresh plans from the state first, then reads only the pages
    that hold the lines that plan would change or delete (where each was last
    seen), and plans again with what they show: a plan with nothing to do reads
    nothing. When a touched line is not where it was, or the state cannot say
    where to look, it reads everything, as ``--refresh full`` always does.
    """
    first_lines = _creates_first_lines(desired, snapshot, request)
    if scope is RefreshScope.TARGETED and not request.refresh_only and not first_lines:
        draft = target_plan(
            context,
            desired,
            snapshot,
            None,
            request=request,
            tenant=Tenant(unavailable=unavailable(context.profile, context.target_name)),
        )
        touched = _touched_lines(draft, snapshot)
        del draft  # at 100,000 lines to create, a plan is hundreds of megabytes: the next one replaces it
        if touched is not None:
            pages = set(touched.values())
            tenant = read_list(
                client, pages=pages, on_page=lambda done, total: hooks.progress(Phase.REFRESH, done, total)
            )
            matcher = LineMatcher(snapshot, context.profile)
            seen = {addr for line in tenant.by_id.values() if (addr := matcher.line(line)) is not None}
            if touched.keys() <= seen:
                view, result = refreshed(context, snapshot, tenant)
                facts = tenant_facts(context, desired, view, None, client)
                plan = target_plan(
                    context,
                    desired,
                    view,
                    result,
                    request=request,
                    tenant=facts,
                    scope=RefreshScope.TARGETED,
                    pages_read=len(pages),
                )
                return Planned(plan, view, tenant, moved=bool(result.changes))
            hooks.notice("A line this plan touches is not where it was last seen; reading every page.")
    # Of every page, only the lines the state does not know are kept (existing_in_tenant's): the rest is
    # refreshed as it is read.
    tenant, view, result = read_refreshed(context, snapshot, client, hooks, keep=unmanaged_wanted(desired, snapshot))
    facts = tenant_facts(context, desired, view, tenant, client)
    plan = target_plan(
        context, desired, view, result, request=request, tenant=facts, scope=RefreshScope.FULL, pages_read=tenant.pages
    )
    return Planned(plan, view, tenant, moved=bool(result.changes))


def plan_target(context: Context, request: PlanRequest, hooks: Hooks) -> PlanOutcome:
    desired = context.load_desired()  # manifests first: a broken file fails before any request
    snapshot = context.state_store.snapshot()
    if request.refresh is not RefreshScope.NONE:
        try:
            with context.connect() as client:
                planned = plan_against_tenant(context, desired, snapshot, client, hooks, request, request.refresh)
                return PlanOutcome(planned.plan)
        except (UnreachableError, HaltedError) as error:
            hooks.notice(f"Warning: could not read Epoptia, planning from the state file alone: {error.message}")
    facts = tenant_facts(context, desired, snapshot, None, None)
    return PlanOutcome(target_plan(context, desired, snapshot, None, request=request, tenant=facts))
