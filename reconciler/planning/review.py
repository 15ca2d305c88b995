"""Is the plan about to be applied the plan that was reviewed?

A pull request's plan is reviewed; on merge the apply job plans again on main.
``compare(reviewed, fresh)`` says whether the two would do the same thing: the
same actions, each with the same verb, parent, field changes, payload and
block. The rule is strict on purpose: anything the reviewer did not see (an
action more or less, a line that started, another pull request's change to the
same line) is a difference, and a difference is never applied without a person.

What is for display does not count (labels, drift, timestamps, pages read, the
window). Neither do the fingerprints: whether what an action touches moved
since the review is the staleness check's question (``staleness.py``), asked
again when the reviewed plan file is applied.

``plan_digest`` names what a plan would do, so that a person can approve one
exact plan ("apply the plan with digest 3f2a...") and nothing else.
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .plan import Action, Plan


class Difference(enum.StrEnum):
    """How one action of the fresh plan differs from the reviewed one (codes; words live in the renderer)."""

    ADDED = "added"  # the fresh plan has it, the review did not
    REMOVED = "removed"  # the review had it, the fresh plan does not
    VERB = "verb"  # e.g. reviewed as an update, now an archive
    PARENT = "parent"  # the line moved to another work order
    CHANGES = "changes"  # other field changes (another before, or another after)
    PAYLOAD = "payload"  # what would be sent differs (e.g. another apply changed the same line since)
    BLOCKED = "blocked"  # blocked now and not then, or the other way round, or for another reason


class PlanDifference(enum.StrEnum):
    """Differences of the plans as a whole."""

    TARGET = "target"
    LINEAGE = "lineage"  # made from another state file
    SELECTION = "selection"  # other --only / --exclude


@dataclass(frozen=True)
class ActionDifference:
    address: str
    kinds: tuple[Difference, ...]
    reviewed: Action | None
    fresh: Action | None
    # For display: which payload keys and which change paths differ.
    payload_keys: tuple[str, ...] = ()
    change_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class Comparison:
    plan: tuple[PlanDifference, ...]
    actions: tuple[ActionDifference, ...]

    @property
    def identical(self) -> bool:
        return not self.plan and not self.actions


def _key(action: Action, duplicated: set[str]) -> str:
    # A plan holds one action per resource; should one ever hold two, the verb tells them apart.
    return f"{action.address} {action.verb.value}" if action.address in duplicated else action.address


def _by_key(plan: Plan) -> dict[str, Action]:
    seen: set[str] = set()
    duplicated: set[str] = set()
    for action in plan.actions:
        (duplicated if action.address in seen else seen).add(action.address)
    return {_key(a, duplicated): a for a in plan.actions}


def _changes(action: Action) -> dict[str, tuple[Any, Any]]:
    return {c.path: (c.before, c.after) for c in action.changes}


def _differing_keys(left: dict[str, Any] | None, right: dict[str, Any] | None) -> tuple[str, ...]:
    left, right = left or {}, right or {}
    return tuple(sorted(k for k in set(left) | set(right) if left.get(k) != right.get(k)))


def compare_actions(reviewed: Action, fresh: Action) -> ActionDifference | None:
    kinds: list[Difference] = []
    if reviewed.verb is not fresh.verb:
        kinds.append(Difference.VERB)
    if reviewed.parent != fresh.parent:
        kinds.append(Difference.PARENT)
    before, after = _changes(reviewed), _changes(fresh)
    paths = tuple(sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p)))
    if paths:
        kinds.append(Difference.CHANGES)
    payload_keys = _differing_keys(reviewed.payload, fresh.payload)
    if payload_keys or (reviewed.payload is None) != (fresh.payload is None):
        kinds.append(Difference.PAYLOAD)
    reviewed_block = reviewed.blocked.reason if reviewed.blocked else None
    fresh_block = fresh.blocked.reason if fresh.blocked else None
    if reviewed_block != fresh_block:
        kinds.append(Difference.BLOCKED)
    if not kinds:
        return None
    return ActionDifference(fresh.address, tuple(kinds), reviewed, fresh, payload_keys, paths)


def compare(reviewed: Plan, fresh: Plan) -> Comparison:
    """What differs between the reviewed plan and a fresh one; ``identical`` when nothing does."""
    plan: list[PlanDifference] = []
    if reviewed.target != fresh.target:
        plan.append(PlanDifference.TARGET)
    if reviewed.lineage and fresh.lineage and reviewed.lineage != fresh.lineage:
        plan.append(PlanDifference.LINEAGE)
    if (reviewed.only, reviewed.exclude) != (fresh.only, fresh.exclude):
        plan.append(PlanDifference.SELECTION)
    old, new = _by_key(reviewed), _by_key(fresh)
    actions: list[ActionDifference] = []
    for key, action in new.items():  # in the fresh plan's order, the order apply would run
        if key not in old:
            actions.append(ActionDifference(action.address, (Difference.ADDED,), None, action))
        elif (difference := compare_actions(old[key], action)) is not None:
            actions.append(difference)
    for key, action in old.items():
        if key not in new:
            actions.append(ActionDifference(action.address, (Difference.REMOVED,), action, None))
    return Comparison(tuple(plan), tuple(actions))


def _effect(action: Action) -> dict[str, Any]:
    return {
        "verb": action.verb.value,
        "kind": action.kind.value,
        "id": action.id,
        "parent": action.parent,
        "changes": [[c.path, c.before, c.after] for c in action.changes],
        "payload": action.payload,
        "blocked": action.blocked.reason.value if action.blocked else None,
    }


def plan_digest(plan: Plan) -> str:
    """A short name for what ``plan`` would do: equal for two plans exactly when ``compare`` finds them identical
    (up to the lineage, which the digest always includes)."""
    body = {
        "target": plan.target,
        "lineage": plan.lineage,
        "only": list(plan.only),
        "exclude": list(plan.exclude),
        "actions": sorted((_effect(a) for a in plan.actions), key=lambda e: (e["kind"], e["id"], e["verb"])),
    }
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
