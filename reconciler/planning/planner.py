"""Desired + State -> Plan. Pure: no I/O, no clock unless given, no network.

Digests are compared first; only resources whose digest changed are diffed
field by field, so planning 100,000 unchanged lines costs dictionary lookups.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..clock import timestamp
from ..errors import PlanError
from ..resources import Desired, DesiredResource, Kind, address, compact, digest, split_address
from ..state.values import IndexEntry, ResourceState, Snapshot, State
from ..windows import WindowCheck
from ..words import did_you_mean
from .diff import field_changes
from .plan import Action, Blocked, BlockReason, Drift, FieldChange, Label, Plan, RefreshScope, RoutingChange, Verb
from .policy import Mutability, change_blocked, delete_blocked, restore_blocked, rule_for


@dataclass(frozen=True)
class Selection:
    """Terraform-style -target: --only and --exclude patterns over addresses (globs allowed).

    A work order's address also selects its lines. ``--only`` pulls in what the
    selected resources need (their work order, client and product) so a partial
    apply never creates a line before its parent.
    """

    only: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def _matches(self, patterns: tuple[str, ...], addr: str, parent: str | None) -> bool:
        parent_addr = address(Kind.WORK_ORDER, parent) if parent else None
        return any(
            fnmatch.fnmatchcase(addr, p) or (parent_addr is not None and fnmatch.fnmatchcase(parent_addr, p))
            for p in patterns
        )

    def resolve(self, desired: Desired, state: Snapshot) -> set[str] | None:
        """The selected addresses, or None when everything is selected.

        A pattern that matches nothing is an error, never an empty plan: a typo
        in --only must not read as "no changes".
        """
        if not self.only and not self.exclude:
            return None
        candidates: list[tuple[str, str | None]] = [(a, e.parent) for a, e in desired.index.items()]
        candidates += [(a, e.parent) for a, e in state.index.items() if a not in desired.index]
        for option, patterns in (("--only", self.only), ("--exclude", self.exclude)):
            for pattern in patterns:
                if not any(self._matches((pattern,), a, parent) for a, parent in candidates):
                    raise PlanError(
                        f"{option} {pattern} matches no resource in the manifests or the state"
                        f"{did_you_mean(pattern, [a for a, _ in candidates])}",
                        hint="addresses are Kind/id, e.g. WorkOrder/WO-26-0412 or WorkOrderLine/131319; "
                        "globs such as 'WorkOrder/WO-26-*' are allowed",
                    )
        excluded = {a for a, parent in candidates if self._matches(self.exclude, a, parent)}
        chosen = {
            a
            for a, parent in candidates
            if a not in excluded and (not self.only or self._matches(self.only, a, parent))
        }
        if self.only:
            # Pull in what the chosen resources need, transitively: line -> work order -> client.
            queue = list(chosen)
            while queue:
                addr = queue.pop()
                if addr not in desired.index:
                    continue
                res = desired.resources[addr]
                needs = [address(kind, ref) for kind, ref, _ in res.references if kind != Kind.ROUTING.value]
                if res.parent:
                    needs.append(address(Kind.WORK_ORDER, res.parent))
                for need in needs:
                    if need not in chosen and need not in excluded:
                        chosen.add(need)
                        queue.append(need)
        return chosen


_UNREADABLE_KINDS = (f"{Kind.CLIENT.value}/", f"{Kind.PRODUCT.value}/")  # Epoptia has no read for these

# Order of execution: what others depend on first, removals last, lines before their work order.
_PHASE = {Verb.ADOPT: 0, Verb.CREATE: 0, Verb.UPDATE: 0, Verb.ARCHIVE: 1, Verb.DELETE: 2, Verb.FORGET: 3}
_KIND_ORDER = {Kind.CLIENT: 0, Kind.PRODUCT: 1, Kind.WORK_ORDER: 2, Kind.WORK_ORDER_LINE: 3}


def _sort_key(action: Action) -> tuple:
    kind_rank = _KIND_ORDER[action.kind]
    if action.verb is Verb.DELETE:
        kind_rank = -kind_rank  # lines go before the work order that holds them
    group = action.parent if action.kind is Kind.WORK_ORDER_LINE else action.id
    if action.kind in (Kind.WORK_ORDER, Kind.WORK_ORDER_LINE) and _PHASE[action.verb] == 0:
        # Keep a work order and its lines together, the way Epoptia takes them in one call.
        return (_PHASE[action.verb], 2, group or "", kind_rank, action.id)
    return (_PHASE[action.verb], kind_rank, group or "", 0, action.id)


@dataclass(frozen=True)
class WorkflowNames:
    """Epoptia's workflow template names, for checking the names manifests use before anything is sent."""

    known: frozenset[str]
    ambiguous: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Tenant:
    """What the plan knows of the tenant beyond the state.

    ``existing``: resources the manifests want that Epoptia already has although
    the state does not know them (a lost or new state file), as Epoptia shows
    them; they are adopted with ``adopt``, and never created twice.
    ``workflows``: template names, to refuse unknown ones at plan time; asked for only
    when something about to be sent names a workflow (None, or an answer of None: not known).
    ``unavailable``: what the target cannot do (an operation switched off), and why.
    """

    existing: Mapping[str, ResourceState] = field(default_factory=dict)
    workflows: Callable[[], WorkflowNames | None] | None = None
    unavailable: Mapping[tuple[Kind, Verb], str] = field(default_factory=dict)


def _top_field(path: str) -> str:
    end = len(path)
    for sep in (".", "["):
        i = path.find(sep)
        if i != -1:
            end = min(end, i)
    return path[:end]


class _Planner:
    def __init__(self, desired: Desired, state: Snapshot, tenant: Tenant, adopt: bool) -> None:
        self.desired = desired
        self.state = state
        self.tenant = tenant
        self.adopt = adopt
        self.actions: list[Action] = []
        self.unchanged = 0
        self.unchanged_unreadable = 0  # clients and products: Epoptia has no read for them
        self.history: list[str] = []
        self.unknown_workflows: list[str] = []
        self._children: dict[str, list[str]] | None = None

    # Lines of each work order as the state knows them, built only if a work order needs them.
    def _lines_of(self, work_order: str) -> list[str]:
        if self._children is None:
            self._children = {}
            for addr, row in self.state.rows.items():  # rows in IndexEntry's order: [1] is the parent
                if row[1] is not None:
                    self._children.setdefault(row[1], []).append(addr)
        return self._children.get(work_order, [])

    def running(
        self, kind: Kind, erp_id: str, have: ResourceState, *, launched: bool = False
    ) -> list[tuple[str, ResourceState]]:
        """The lines whose production has started (or, for a deletion, been launched) that ``have`` stands for."""
        if kind is Kind.WORK_ORDER_LINE:
            return [(erp_id, have)] if (have.launched if launched else have.started) else []
        if kind is Kind.WORK_ORDER:
            out = []
            for addr in self._lines_of(erp_id):
                entry = self.state.entry(addr)
                assert entry is not None
                # An archived line that ran still holds its work order's client (Epoptia keeps it); for a
                # deletion, archived lines are history that leaves the state, not a reason to keep the order.
                if entry.started if not launched else (entry.launched and not entry.archived):
                    out.append((split_address(addr)[1], self.state[addr]))
            return out
        return []

    def emit(
        self,
        verb: Verb,
        res: DesiredResource | None,
        kind: Kind,
        erp_id: str,
        have: ResourceState | None,
        **fields: Any,
    ) -> None:
        parent = res.parent if res is not None else (have.parent if have is not None else None)
        observed = have.observed if have is not None else None
        blocked = fields.get("blocked")
        why_not = self.tenant.unavailable.get((kind, verb))
        if blocked is None and why_not is not None:
            fields["blocked"] = Blocked(
                reason=BlockReason.OPERATION_UNAVAILABLE,
                message=why_not,
                advice="run `reconciler doctor`; set the operation's path in reconciler.yaml "
                "once the tenant answers it",
            )
        self.actions.append(
            Action(
                verb=verb,
                kind=kind,
                id=erp_id,
                parent=parent,
                prior_digest=have.digest if have is not None else None,
                observed_fingerprint=observed.fingerprint() if observed is not None else None,
                prior_started=observed.started if observed is not None else None,
                label=self.label(kind, erp_id, parent, res, have),
                **fields,
            )
        )

    def _name(self, kind: Kind, erp_id: Any) -> str | None:
        """A client's or product's name, from the manifests or else the state."""
        if not erp_id:
            return None
        addr = address(kind, str(erp_id))
        res = self.desired.resources[addr] if addr in self.desired else None
        entry = self.state.get(addr) if res is None and addr in self.state else None
        payload = res.payload if res is not None else (entry.payload if entry is not None else {})
        return payload.get("name") or str(erp_id)

    def label(
        self, kind: Kind, erp_id: str, parent: str | None, res: DesiredResource | None, have: ResourceState | None
    ) -> Label | None:
        if kind not in (Kind.WORK_ORDER_LINE, Kind.WORK_ORDER):
            return None
        payload = res.payload if res is not None else (have.payload if have is not None else {})
        if kind is Kind.WORK_ORDER:
            return Label(work_order=erp_id, client=self._name(Kind.CLIENT, payload.get("client")))
        wo_addr = address(Kind.WORK_ORDER, parent) if parent else None
        wo = self.desired.resources[wo_addr] if wo_addr and wo_addr in self.desired else None
        wo_payload = (
            wo.payload
            if wo is not None
            else (self.state[wo_addr].payload if wo_addr is not None and wo_addr in self.state else {})
        )
        steps = (payload.get("routing") or {}).get("steps") or []
        return Label(
            work_order=parent,
            client=self._name(Kind.CLIENT, wo_payload.get("client")),
            product=payload.get("description") or self._name(Kind.PRODUCT, payload.get("product")),
            quantity=payload.get("quantity"),
            due=payload.get("target_day"),
            workstations=tuple(s.get("workstation") or "?" for s in steps),
        )

    def want(self, addr: str, want: DesiredResource) -> None:
        entry = self.state.entry(addr)
        if entry is None:
            existing = self.tenant.existing.get(addr)
            if existing is not None and not self.adopt:
                self.emit(
                    Verb.CREATE,
                    want,
                    want.kind,
                    want.id,
                    None,
                    payload=want.payload,
                    digest=want.digest,
                    blocked=Blocked(
                        reason=BlockReason.EXISTS_UNMANAGED,
                        message=f"{want.kind.value} {want.id} already exists in Epoptia, but the "
                        "state does not know it (a lost or new state file)",
                        advice="adopt what exists with `reconciler plan --adopt` / "
                        "`reconciler apply --adopt` (started lines keep their started-order "
                        "rules), or `reconciler import` into a new folder",
                    ),
                )
                return
            if existing is None:
                refused = self.check_sendable(want, None)  # rule 5: Epoptia would refuse the routing as written
                self.emit(
                    Verb.CREATE,
                    want,
                    want.kind,
                    want.id,
                    None,
                    payload=want.payload,
                    digest=want.digest,
                    blocked=refused,
                )
                if want.archived and refused is None:
                    self.emit(Verb.ARCHIVE, want, want.kind, want.id, None)
                return
            # Adopted: recorded as Epoptia has it, then planned against that under the started-order rules.
            have = existing
            same = not field_changes(have.payload, want.payload)
            self.emit(
                Verb.ADOPT,
                want,
                want.kind,
                want.id,
                None,
                payload=have.payload,
                digest=want.digest if same else have.digest,
            )
            if same:
                return
        elif entry.archived and want.archived:
            # Archived lines are history: a shared routing or a manifest edit leaves them as they ran.
            self.same(want)
            self.history.append(addr)
            return
        else:
            have = self.state[addr]
        if have.archived and not want.archived:
            message, advice = restore_blocked(want.id)
            self.emit(
                Verb.UPDATE,
                want,
                want.kind,
                want.id,
                have,
                changes=(FieldChange(path="archived", before=True, after=False),),
                blocked=Blocked(reason=BlockReason.ARCHIVED_RESTORE, message=message, advice=advice),
            )
            return
        if want.archived:
            # Archiving sends the archive alone: what else changed on a line going to history is moot.
            self.emit(Verb.ARCHIVE, want, want.kind, want.id, have)
            return
        if have.digest != want.digest and not self.update(want, have):
            self.same(want)

    def same(self, want: DesiredResource) -> None:
        self.unchanged += 1
        if want.kind in (Kind.CLIENT, Kind.PRODUCT):
            self.unchanged_unreadable += 1

    def count_unchanged(self, considered: Iterable[str], looked_at: list[str]) -> None:
        """Those considered and not looked at are unchanged; clients and products among them have no read."""
        differing = set(looked_at)
        unchanged = [addr for addr in considered if addr not in differing]
        self.unchanged += len(unchanged)
        self.unchanged_unreadable += sum(1 for addr in unchanged if addr.startswith(_UNREADABLE_KINDS))

    def check_sendable(self, want: DesiredResource, have: ResourceState | None) -> Blocked | None:
        """Names Epoptia must know (workflows) and routings it refuses (rule 5), for what is about to be sent."""
        payload = want.payload
        name = payload.get("workflow")
        changed = name is not None and (have is None or have.payload.get("workflow") != name)
        names = self.tenant.workflows() if changed and self.tenant.workflows is not None else None
        if name is not None and changed and names is not None:
            if name in names.ambiguous:
                self.unknown_workflows.append(
                    f"{want.address}: workflow {name!r} is ambiguous: Epoptia has "
                    "several templates with that name; rename one of them in Epoptia"
                )
            elif name not in names.known:
                self.unknown_workflows.append(
                    f"{want.address}: workflow {name!r} is not a workflow template in "
                    f"Epoptia{did_you_mean(name, names.known)}"
                )
        steps = (payload.get("routing") or {}).get("steps") or []
        keys = [(s.get("workstation"), s.get("job_task")) for s in steps if s.get("workstation")]
        repeated = Counter(keys) if len(set(keys)) != len(keys) else {}  # counted only when something repeats
        twice = sorted({ws for (ws, _), n in repeated.items() if n > 1})
        if twice:
            return Blocked(
                reason=BlockReason.REPEATED_WORKSTATION,
                message=f"workstation {twice[0]!r} appears more than once in this routing without a "
                "distinct job task, which Epoptia refuses (rule 5)",
                advice="give each occurrence its own job_task before the routing is sent",
            )
        return None

    def update(self, want: DesiredResource, have: ResourceState) -> bool:
        """Plan the field changes; False when there are none (the digest moved, the fields did not)."""
        changes = field_changes(have.payload, want.payload)
        if not changes:
            return False
        routing = None
        if any(_top_field(c.path) == "routing" and c.path != "routing.name" for c in changes):
            routing = RoutingChange(
                before=tuple((have.payload.get("routing") or {}).get("steps") or ()),
                after=tuple((want.payload.get("routing") or {}).get("steps") or ()),
            )
        started = self.running(want.kind, want.id, have)
        refused: dict[str, list[FieldChange]] = {}
        for change in changes:
            rule = rule_for(want.kind, change.path)
            unset_only = change.after is None and not rule.sent_when_unset
            if started and rule.mutability is Mutability.BEFORE_START and not unset_only:
                refused.setdefault(_top_field(change.path), [])
        # Whatever shares a field with a refused change waits with it: the field is sent as
        # it was applied, so an allowed change inside it would be planned and never sent.
        allowed: list[FieldChange] = []
        for change in changes:
            top = _top_field(change.path)
            refused.get(top, allowed).append(change)
        routing_changes = any(_top_field(c.path) == "routing" for c in allowed)
        rule5 = (
            self.check_sendable(want, have)
            if routing_changes or any(_top_field(c.path) == "workflow" for c in allowed)
            else None
        )
        if rule5 is not None:
            self.emit(
                Verb.UPDATE, want, want.kind, want.id, have, changes=tuple(changes), blocked=rule5, routing=routing
            )
            return True
        if allowed:
            # Send the desired payload, but with refused fields as they were applied,
            # so --skip-blocked can never slip a refused change through.
            payload = compact({**want.payload, **{f: have.payload.get(f) for f in refused}})
            # A partial update records the digest of what it sent, so the refused
            # fields still differ from the manifests on the next plan.
            recorded = digest(payload) if refused else want.digest
            self.emit(
                Verb.UPDATE,
                want,
                want.kind,
                want.id,
                have,
                changes=tuple(allowed),
                payload=payload,
                digest=recorded,
                routing=routing if "routing" not in refused else None,
            )
        for top, field_changes_ in refused.items():
            rule = rule_for(want.kind, top)
            message, advice = change_blocked(
                rule, want.kind, want.id, have.payload.get(top), want.payload.get(top), started
            )
            self.emit(
                Verb.UPDATE,
                want,
                want.kind,
                want.id,
                have,
                changes=tuple(field_changes_),
                blocked=Blocked(reason=rule.reason, message=message, advice=advice),
                routing=routing if top == "routing" else None,
            )
        return True

    def gone(self, addr: str) -> None:
        have = self.state[addr]
        kind, erp_id = split_address(addr)
        if kind in (Kind.CLIENT, Kind.PRODUCT) or have.archived:
            # Epoptia has no delete for clients and products, and archived lines are
            # history: they leave the state, not Epoptia.
            self.emit(Verb.FORGET, None, kind, erp_id, have)
            return
        launched = self.running(kind, erp_id, have, launched=True)
        if launched:
            message, advice = delete_blocked(kind, erp_id, launched)
            self.emit(
                Verb.DELETE,
                None,
                kind,
                erp_id,
                have,
                blocked=Blocked(reason=BlockReason.STARTED_DELETE, message=message, advice=advice),
            )
            return
        self.emit(Verb.DELETE, None, kind, erp_id, have)


def make_plan(
    desired: Desired,
    state: Snapshot | State,
    *,
    target: str,
    selection: Selection = Selection(),
    max_deletions: int = 10,
    allow_mass_delete: bool = False,
    now: dt.datetime | None = None,
    refresh: RefreshScope = RefreshScope.NONE,
    pages_read: int = 0,
    drift: tuple[Drift, ...] = (),
    window: WindowCheck | None = None,
    tenant: Tenant = Tenant(),
    adopt: bool = False,
) -> Plan:
    """Everything that must happen for the target to match the manifests, in order.

    ``max_deletions``: how many deletions the plan may hold without
    ``allow_mass_delete``; the target's delete limit says (``config.DeleteLimit``),
    and a caller that says nothing gets the same small default.
    """
    if isinstance(state, State):
        state = state.snapshot()
    if (
        not selection.only
        and not selection.exclude
        and not tenant.existing
        and desired.fingerprint is not None
        and desired.fingerprint == state.fingerprint
    ):
        # Every address, digest and archived flag is the same on both sides: nothing to plan, nothing to read.
        return Plan(
            target=target,
            lineage=state.lineage,
            serial=state.serial,
            created_at=timestamp(now),
            unchanged=len(desired),
            refresh=refresh,
            pages_read=pages_read,
            unverified=desired.unreadable if refresh is RefreshScope.FULL else len(desired),
            drift=drift,
            window=window,
        )
    planner = _Planner(desired, state, tenant, adopt)
    selected = selection.resolve(desired, state)
    wanted = desired.rows  # plain rows: digest and archived by position, nothing built
    changed = desired.since.get(state.fingerprint) if desired.since and state.fingerprint else None
    if selected is None and not tenant.existing and changed is not None:
        # The state matches the manifests as they were before some files changed: only the resources
        # of those files can differ, and the state's 100,000 other rows are not even decoded.
        looked_at = [addr for addr in wanted if addr in changed and _differs(state.entry(addr), wanted[addr])]
        gone = sorted(addr for addr in changed if addr not in wanted and addr in state)
    else:
        have = state.rows
        # What is unchanged is told from the two indexes alone, without reading a payload or building
        # a resource on either side.
        looked_at = [addr for addr, want in wanted.items() if _differs(have.get(addr), want)]
        gone = sorted(have.keys() - wanted.keys())
    if selected is not None:
        looked_at = [addr for addr in looked_at if addr in selected]
        planner.count_unchanged([addr for addr in wanted if addr in selected], looked_at)
        gone = [addr for addr in gone if addr in selected]
    else:
        planner.count_unchanged(wanted, looked_at)
    for addr in looked_at:
        planner.want(addr, desired.resources[addr])
    for addr in gone:
        planner.gone(addr)
    if planner.unknown_workflows:
        raise PlanError(
            "\n".join(planner.unknown_workflows),
            hint="workflows are named as in Epoptia; `reconciler workflows` lists the templates",
        )

    deletes = [a for a in planner.actions if a.verb is Verb.DELETE and a.blocked is None]
    limit = max_deletions
    if len(deletes) > limit and not allow_mass_delete:
        sample = ", ".join(a.address for a in deletes[:5]) + (" ..." if len(deletes) > 5 else "")
        raise PlanError(
            f"this plan would delete {len(deletes)} resources ({sample}); the limit for this target is {limit}",
            hint="if the manifests are right, run again with --allow-mass-delete; "
            "if not, check that no manifest file went missing",
        )

    actions = tuple(sorted(_carried(planner.actions), key=_sort_key))
    created = timestamp(now)
    return Plan(
        target=target,
        lineage=state.lineage,
        serial=state.serial,
        created_at=created,
        only=selection.only,
        exclude=selection.exclude,
        actions=actions,
        unchanged=planner.unchanged,
        unverified=planner.unchanged_unreadable if refresh is RefreshScope.FULL else planner.unchanged,
        refresh=refresh,
        pages_read=pages_read,
        drift=drift,
        window=window,
        history=tuple(sorted(planner.history)),
    )


def _differs(have: IndexEntry | list[Any] | None, want: list[Any]) -> bool:
    """Whether a wanted row (DesiredEntry's order) differs from the state's (IndexEntry's order: an entry
    or a plain row) in digest or archived."""
    return have is None or have[0] != want[2] or have[2] != want[3]


def _carried(actions: list[Action]) -> list[Action]:
    """Creates of work orders blocked when none of their lines can be sent.

    Epoptia learns of a work order only from the rows of its lines; a new work order whose
    every line is blocked (a started line refused a move into it, say) has nothing to travel
    on. It waits, blocked, with its lines, instead of being planned and failing the apply.
    """
    carriers = {
        (a.payload or {}).get("workorder")
        for a in actions
        if a.kind is Kind.WORK_ORDER_LINE and a.blocked is None and a.verb in (Verb.CREATE, Verb.UPDATE)
    }
    out = []
    for a in actions:
        if a.kind is Kind.WORK_ORDER and a.verb is Verb.CREATE and a.blocked is None and a.id not in carriers:
            a = a.model_copy(
                update={
                    "blocked": Blocked(
                        reason=BlockReason.NO_LINE_TO_CARRY,
                        message=f"work order {a.id} reaches Epoptia only with one of its lines, and none of them can be sent",
                        advice="unblock one of its lines, or give it a new line",
                    )
                }
            )
        out.append(a)
    return out
