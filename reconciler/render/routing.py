"""Routing changes as a person reads them: steps aligned, and a shared change told once.

A routing is a sequence of steps, so two routings are compared by sequence
alignment (the longest common subsequence of step identities), not position by
position: inserting one step is one insertion, moving a step is one move, and a
step whose bill of materials or custom fields changed is one change, whatever
comes before it.

Lines that share a routing (a named ``Routing`` document, or identical inline
steps) carry identical before/after steps; they are grouped here so that the
change is shown once, with the lines it touches.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

from ..planning.plan import Action, Plan

Step = dict[str, Any]


class StepLine(NamedTuple):
    """One step of an aligned routing diff.

    sign: ' ' same, '+' added, '-' removed, '~' same step with other fields changed,
    '↕' moved (shown at its new place only). Positions are 1-based; None where the step is absent.
    """

    sign: str
    step: Step
    before: int | None
    after: int | None
    details: tuple[str, ...] = ()


def step_name(step: Step) -> str:
    """'LASER (Κοπή)'; a step without a workstation is placed by Epoptia."""
    station = step.get("workstation") or "(any workstation)"
    return f"{station} ({step['job_task']})" if step.get("job_task") else station


def _keys(steps: Sequence[Step]) -> list[tuple[Any, Any, int]]:
    """Identity of each step: workstation, job task, and which occurrence of that pair it is."""
    seen: dict[tuple[Any, Any], int] = {}
    out = []
    for step in steps:
        pair = (step.get("workstation"), step.get("job_task"))
        seen[pair] = seen.get(pair, 0) + 1
        out.append((*pair, seen[pair]))
    return out


def _lcs(a: list[Any], b: list[Any]) -> list[tuple[int, int]]:
    """Index pairs of a longest common subsequence (routings are short: the table is tiny)."""
    n, m = len(a), len(b)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            table[i][j] = table[i + 1][j + 1] + 1 if a[i] == b[j] else max(table[i + 1][j], table[i][j + 1])
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if a[i] == b[j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def _field_details(before: Step, after: Step) -> tuple[str, ...]:
    out = []
    for key in sorted(set(before) | set(after)):
        if key in ("workstation", "job_task") or before.get(key) == after.get(key):
            continue
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) or isinstance(new, dict):
            old, new = old or {}, new or {}
            for sub in sorted(set(old) | set(new)):
                if old.get(sub) != new.get(sub):
                    out.append(f"{key}.{sub}: {_short(old.get(sub))} -> {_short(new.get(sub))}")
        else:
            out.append(f"{key}: {_short(old)} -> {_short(new)}")
    return tuple(out)


def _short(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return "[" + ", ".join(" ".join(str(x) for x in v.values()) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def align(before: Sequence[Step], after: Sequence[Step]) -> list[StepLine]:
    """The after routing in order, with removed steps where they were and moves told once."""
    kb, ka = _keys(before), _keys(after)
    pairs = _lcs(kb, ka)
    matched_b = {i for i, _ in pairs}
    matched_a = {j: i for i, j in pairs}
    # A step that left the common sequence in one place and came back in another moved.
    loose_b = {kb[i]: i for i in range(len(before)) if i not in matched_b}
    moved_a: dict[int, int] = {}
    for j in range(len(after)):
        if j not in matched_a and ka[j] in loose_b:
            moved_a[j] = loose_b.pop(ka[j])
    removed = sorted(loose_b.values())
    out: list[StepLine] = []

    def flush_removed(up_to: int) -> None:
        while removed and removed[0] < up_to:
            i = removed.pop(0)
            out.append(StepLine("-", before[i], i + 1, None))

    # Where the next common step sits in the old routing, for each new position: removed steps
    # are shown before what replaced them, as a diff shows a hunk.
    next_anchor = [len(before)] * (len(after) + 1)
    for j in range(len(after) - 1, -1, -1):
        next_anchor[j] = matched_a[j] if j in matched_a else next_anchor[j + 1]
    for j, step in enumerate(after):
        if j not in matched_a:
            flush_removed(next_anchor[j])
        if j in matched_a:
            i = matched_a[j]
            flush_removed(i)
            details = _field_details(before[i], step)
            out.append(StepLine("~" if details else " ", step, i + 1, j + 1, details))
        elif j in moved_a:
            i = moved_a[j]
            out.append(StepLine("↕", step, i + 1, j + 1, _field_details(before[i], step)))
        else:
            out.append(StepLine("+", step, None, j + 1))
    flush_removed(len(before) + 1)
    return out


def counts(lines: Sequence[StepLine]) -> str:
    """'1 step added, 1 moved' — what changed, in a few words."""
    words = {"+": "added", "-": "removed", "↕": "moved", "~": "changed"}
    tally = {sign: sum(1 for s in lines if s.sign == sign) for sign in words}
    parts = [f"{n} {words[sign]}" for sign, n in tally.items() if n]
    if not parts:
        return "no step changed"
    first, *rest = parts
    n = int(first.split()[0])
    first = f"{n} step{'s' if n != 1 else ''} {first.split(' ', 1)[1]}"
    return ", ".join([first, *rest])


def step_text(line: StepLine) -> str:
    """One aligned step as text, after its sign."""
    name = step_name(line.step)
    if line.sign == "↕":
        name += f"  (moved from step {line.before} to step {line.after})"
    elif line.sign == "-":
        name += f"  (was step {line.before})"
    elif line.sign == "+" and line.after is not None:
        name += f"  (new step {line.after})"
    if line.details:
        name += ": " + "; ".join(line.details)
    return name


class RouteChange(NamedTuple):
    """One routing change and every action that carries it (runnable or blocked)."""

    name: str | None
    before: tuple[Step, ...]
    after: tuple[Step, ...]
    actions: tuple[Action, ...]

    @property
    def title(self) -> str:
        if self.name:
            return f"Routing {self.name}"
        return "Routing " + " → ".join(step_name(s) for s in self.after[:3]) + (" → …" if len(self.after) > 3 else "")

    @property
    def shared(self) -> bool:
        return len(self.actions) > 1

    def usage(self) -> str:
        """'used by 76 lines of 12 work orders; 6 of them have started and keep their steps'."""
        lines = len(self.actions)
        orders = len({a.parent for a in self.actions if a.parent})
        text = f"used by {lines} line{'s' if lines != 1 else ''} of {orders} work order{'s' if orders != 1 else ''}"
        blocked = sum(1 for a in self.actions if a.blocked is not None)
        if blocked:
            text += f"; {blocked} of them {'has' if blocked == 1 else 'have'} started and " + (
                "keeps its steps (blocked)" if blocked == 1 else "keep their steps (blocked)"
            )
        return text


def _freeze(steps: Sequence[Step]) -> str:
    return json.dumps(list(steps), ensure_ascii=False, sort_keys=True)


def routing_name(action: Action) -> str | None:
    """The named Routing a line uses after this action, when the plan says."""
    routing = (action.payload or {}).get("routing")
    if isinstance(routing, dict) and routing.get("name"):
        return str(routing["name"])
    for change in action.changes:
        if change.path == "routing.name" and change.after:
            return str(change.after)
        if change.path == "routing" and isinstance(change.after, dict) and change.after.get("name"):
            return str(change.after["name"])
    return None


class RouteChanges:
    """Every distinct routing change of a plan, in the order the plan first meets it, and which action has which."""

    def __init__(self, plan: Plan) -> None:
        groups: dict[tuple[str, str], list[Action]] = {}
        for action in plan.actions:
            if action.routing is not None:
                groups.setdefault((_freeze(action.routing.before), _freeze(action.routing.after)), []).append(action)
        self.changes: list[RouteChange] = []
        self._of: dict[int, RouteChange] = {}
        for actions in groups.values():
            name = next((n for a in actions if (n := routing_name(a))), None)
            routing = actions[0].routing
            assert routing is not None
            change = RouteChange(name, routing.before, routing.after, tuple(actions))
            self.changes.append(change)
            self._of.update((id(a), change) for a in actions)

    def of(self, action: Action) -> RouteChange | None:
        return self._of.get(id(action))

    @property
    def shared(self) -> list[RouteChange]:
        return [c for c in self.changes if c.shared]
