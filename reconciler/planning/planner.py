"""Desired + State -> Plan. Pure: no I/O, no clock unless given, no network.

Digests are compared first; only resources whose digest changed are diffed
field by field, so planning 100,000 unchanged lines costs dictionary lookups.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass
from typing import Any

from ..clock import timestamp
from ..errors import PlanError
from ..resources import Desired, DesiredResource, Kind, address, compact, digest, split_address
from ..state.values import ResourceState, Snapshot, State
from ..windows import WindowCheck
from .diff import field_changes
from .plan import Action, Blocked, BlockReason, Drift, FieldChange, Plan, RoutingChange, Verb
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
        """The selected addresses, or None when everything is selected."""
        if not self.only and not self.exclude:
            return None
        candidates: list[tuple[str, str | None]] = [(a, r.parent) for a, r in desired.resources.items()]
        candidates += [(a, e.parent) for a, e in state.index.items() if a not in desired.resources]
        excluded = {a for a, parent in candidates if self._matches(self.exclude, a, parent)}
        chosen = {
            a for a, parent in candidates
            if a not in excluded and (not self.only or self._matches(self.only, a, parent))
        }
        if self.only:
            # Pull in what the chosen resources need, transitively: line -> work order -> client.
            queue = list(chosen)
            while queue:
                res = desired.resources.get(queue.pop())
                if res is None:
                    continue
                needs = [address(kind, ref) for kind, ref, _ in res.references if kind != Kind.ROUTING.value]
                if res.parent:
                    needs.append(address(Kind.WORK_ORDER, res.parent))
                for need in needs:
                    if need not in chosen and need not in excluded:
                        chosen.add(need)
                        queue.append(need)
        return chosen


# Order of execution: what others depend on first, removals last, lines before their work order.
_PHASE = {Verb.CREATE: 0, Verb.UPDATE: 0, Verb.ARCHIVE: 1, Verb.DELETE: 2, Verb.FORGET: 3}
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


def _top_field(path: str) -> str:
    end = len(path)
    for sep in (".", "["):
        i = path.find(sep)
        if i != -1:
            end = min(end, i)
    return path[:end]


class _Planner:
    def __init__(self, desired: Desired, state: Snapshot) -> None:
        self.desired = desired
        self.state = state
        self.actions: list[Action] = []
        self.unchanged = 0
        self._children: dict[str, list[tuple[str, ResourceState]]] | None = None

    # Lines of each work order as the state knows them, built only if a work order needs them.
    def started_children(self, work_order: str) -> list[tuple[str, ResourceState]]:
        if self._children is None:
            self._children = {}
            for addr, entry in self.state.index.items():
                if entry.parent is not None and entry.started:
                    self._children.setdefault(entry.parent, []).append((split_address(addr)[1], self.state[addr]))
        return self._children.get(work_order, [])

    def started_lines(self, kind: Kind, erp_id: str, have: ResourceState) -> list[tuple[str, ResourceState]]:
        if kind is Kind.WORK_ORDER_LINE:
            return [(erp_id, have)] if have.started else []
        if kind is Kind.WORK_ORDER:
            return self.started_children(erp_id)
        return []

    def emit(self, verb: Verb, res: DesiredResource | None, kind: Kind, erp_id: str,
             have: ResourceState | None, **fields: Any) -> None:
        parent = res.parent if res is not None else (have.parent if have is not None else None)
        observed = have.observed if have is not None else None
        self.actions.append(
            Action(
                verb=verb,
                kind=kind,
                id=erp_id,
                parent=parent,
                prior_digest=have.digest if have is not None else None,
                observed_fingerprint=observed.fingerprint() if observed is not None else None,
                prior_started=observed.started if observed is not None else None,
                **fields,
            )
        )

    def want(self, addr: str, want: DesiredResource) -> None:
        entry = self.state.index.get(addr)
        if entry is None:
            self.emit(Verb.CREATE, want, want.kind, want.id, None, payload=want.payload, digest=want.digest)
            if want.archived:
                self.emit(Verb.ARCHIVE, want, want.kind, want.id, None)
            return
        if entry.digest == want.digest and entry.archived == want.archived:
            self.unchanged += 1  # the common case: no payload is read on either side
            return
        have = self.state[addr]
        if have.digest != want.digest:
            self.update(want, have)
        if want.archived and not have.archived:
            self.emit(Verb.ARCHIVE, want, want.kind, want.id, have)
        elif have.archived and not want.archived:
            message, advice = restore_blocked(want.id)
            self.emit(
                Verb.UPDATE, want, want.kind, want.id, have,
                changes=(FieldChange(path="archived", before=True, after=False),),
                blocked=Blocked(reason=BlockReason.ARCHIVED_RESTORE, message=message, advice=advice),
            )

    def update(self, want: DesiredResource, have: ResourceState) -> None:
        changes = field_changes(have.payload, want.payload)
        routing = None
        if any(_top_field(c.path) == "routing" and c.path != "routing.name" for c in changes):
            routing = RoutingChange(before=tuple((have.payload.get("routing") or {}).get("steps") or ()),
                                    after=tuple((want.payload.get("routing") or {}).get("steps") or ()))
        started = self.started_lines(want.kind, want.id, have)
        allowed: list[FieldChange] = []
        refused: dict[str, list[FieldChange]] = {}
        for change in changes:
            if started and rule_for(want.kind, change.path).mutability is Mutability.BEFORE_START:
                refused.setdefault(_top_field(change.path), []).append(change)
            else:
                allowed.append(change)
        if allowed:
            # Send the desired payload, but with refused fields as they were applied,
            # so --skip-blocked can never slip a refused change through.
            payload = compact({**want.payload, **{f: have.payload.get(f) for f in refused}})
            # A partial update records the digest of what it sent, so the refused
            # fields still differ from the manifests on the next plan.
            recorded = digest(payload) if refused else want.digest
            self.emit(Verb.UPDATE, want, want.kind, want.id, have, changes=tuple(allowed), payload=payload,
                      digest=recorded, routing=routing if "routing" not in refused else None)
        for field, field_changes_ in refused.items():
            rule = rule_for(want.kind, field)
            message, advice = change_blocked(
                rule, want.kind, want.id, have.payload.get(field), want.payload.get(field), started
            )
            self.emit(
                Verb.UPDATE, want, want.kind, want.id, have,
                changes=tuple(field_changes_),
                blocked=Blocked(reason=rule.reason, message=message, advice=advice),
                routing=routing if field == "routing" else None,
            )

    def gone(self, addr: str) -> None:
        have = self.state[addr]
        kind, erp_id = split_address(addr)
        if kind in (Kind.CLIENT, Kind.PRODUCT) or have.archived:
            # Epoptia has no delete for clients and products, and archived lines are
            # history: they leave the state, not Epoptia.
            self.emit(Verb.FORGET, None, kind, erp_id, have)
            return
        started = self.started_lines(kind, erp_id, have)
        if started:
            message, advice = delete_blocked(kind, erp_id, started)
            self.emit(
                Verb.DELETE, None, kind, erp_id, have,
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
    refreshed: bool = False,
    drift: tuple[Drift, ...] = (),
    window: WindowCheck | None = None,
) -> Plan:
    """Everything that must happen for the target to match the manifests, in order.

    ``max_deletions``: how many deletions the plan may hold without
    ``allow_mass_delete``; the target's delete limit says (``config.DeleteLimit``),
    and a caller that says nothing gets the same small default.
    """
    if isinstance(state, State):
        state = state.snapshot()
    planner = _Planner(desired, state)
    selected = selection.resolve(desired, state)
    for addr, want in desired.resources.items():
        if selected is None or addr in selected:
            planner.want(addr, want)
    for addr in state.index:
        if addr not in desired.resources and (selected is None or addr in selected):
            planner.gone(addr)

    deletes = [a for a in planner.actions if a.verb is Verb.DELETE and a.blocked is None]
    limit = max_deletions
    if len(deletes) > limit and not allow_mass_delete:
        sample = ", ".join(a.address for a in deletes[:5]) + (" ..." if len(deletes) > 5 else "")
        raise PlanError(
            f"this plan would delete {len(deletes)} resources ({sample}); the limit for this target is {limit}",
            hint="if the manifests are right, run again with --allow-mass-delete; "
            "if not, check that no manifest file went missing",
        )

    actions = tuple(sorted(planner.actions, key=_sort_key))
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
        refreshed=refreshed,
        drift=drift,
        window=window,
    )
