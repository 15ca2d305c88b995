"""Words and symbols for plan actions, shared by every renderer.

Renderers differ in layout, never in what they say: each takes its titles,
symbols and change lines from here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any, NamedTuple

from ..planning.plan import Action, Drift, DriftCause, Plan, RefreshScope, Summary, Verb
from ..resources import Kind
from .routing import RouteChanges, align, counts, routing_name, step_name, step_text

SYMBOLS = {
    Verb.CREATE: "+",
    Verb.UPDATE: "~",
    Verb.ARCHIVE: ">",
    Verb.DELETE: "-",
    Verb.FORGET: "x",
    Verb.ADOPT: "=",
}
BLOCKED_SYMBOL = "!"

_VERBS = {
    Verb.CREATE: "will be created",
    Verb.UPDATE: "will be updated",
    Verb.ARCHIVE: "will be archived",
    Verb.DELETE: "will be deleted",
    Verb.FORGET: "will be forgotten (removed from the state only; Epoptia keeps it)",
    Verb.ADOPT: "will be adopted (recorded in the state as Epoptia has it; nothing is sent)",
}
_REFUSED = {
    Verb.UPDATE: "cannot be updated",
    Verb.DELETE: "cannot be deleted",
}


class ChangeLine(NamedTuple):
    """One line under an action: sign is '+', '-', '~', '↕' or ' ' (context); depth 1 for a routing's steps."""

    sign: str
    text: str
    depth: int = 0


def summary_line(summary: Summary) -> str:
    return (
        f"Plan: {summary.create} to create, {summary.update} to update, {summary.archive} to archive, "
        f"{summary.delete} to delete, {summary.blocked} blocked."
    )


def summary_notes(plan: Plan) -> list[str]:
    """What the summary line leaves out: forgets, unchanged resources, selectors."""
    summary = plan.summary
    notes = []
    if summary.forget:
        notes.append(f"{summary.forget} to forget (removed from the state only; Epoptia keeps them).")
    if summary.adopt:
        notes.append(f"{summary.adopt} to adopt (Epoptia has them; the state records them as they are).")
    if plan.history:
        shown = ", ".join(plan.history[:10]) + (" ..." if len(plan.history) > 10 else "")
        notes.append(f"{len(plan.history)} archived line(s) keep the steps they ran with: {shown}.")
    if plan.only or plan.exclude:
        parts = [f"--only {p}" for p in plan.only] + [f"--exclude {p}" for p in plan.exclude]
        notes.append("Partial plan: " + " ".join(parts) + "; other resources were not considered.")
    return notes


def no_changes_line(plan: Plan) -> str:
    if plan.refresh_only:
        return (
            "Refresh only: nothing is sent to Epoptia. Applying this plan records what Epoptia has as the "
            f"state ({plan.unchanged} resources)."
        )
    if not plan.refreshed:
        return (
            f"No changes. The state matches the manifests ({plan.unchanged} resources unchanged); Epoptia was not read."
        )
    if plan.refresh is RefreshScope.TARGETED:
        return (
            f"No changes. The manifests match the state ({plan.unchanged} resources unchanged); with nothing "
            "to change, nothing in Epoptia needed reading. `reconciler drift` compares everything."
        )
    if plan.unverified:
        return (
            f"No changes. Epoptia matches the manifests as far as it can be read ({plan.unchanged} resources "
            f"unchanged; {plan.unverified} clients and products have no read in Epoptia, so the state vouches "
            "for them)."
        )
    return f"No changes. Epoptia matches the manifests ({plan.unchanged} resources unchanged)."


def plan_year(plan: Plan) -> str:
    return plan.created_at[:4]


def symbol(action: Action) -> str:
    return BLOCKED_SYMBOL if action.blocked is not None else SYMBOLS[action.verb]


def verb_words(action: Action) -> str:
    """'will be updated', or 'cannot be updated [started-quantity]' for a blocked action."""
    if action.blocked is not None:
        return f"{_REFUSED.get(action.verb, 'is blocked')} [{action.blocked.reason.value}]"
    return _VERBS[action.verb]


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day(iso: Any, year: str | None = None) -> str:
    """'Fri 4 Dec' (the year only when it is not the plan's); the text as it is if it is not a day."""
    try:
        d = dt.date.fromisoformat(str(iso))
    except ValueError:
        return str(iso)
    text = f"{_WEEKDAYS[d.weekday()]} {d.day} {_MONTHS[d.month - 1]}"
    return text if year is not None and str(d.year) == year else f"{text} {d.year}"


def number(n: Any) -> str:
    """1,200 and 7.5: quantities as a planner writes them."""
    if isinstance(n, bool) or not isinstance(n, (int, float)):
        return str(n)
    if isinstance(n, float) and not n.is_integer():
        return f"{n:,.2f}".rstrip("0").rstrip(".")
    return f"{int(n):,}"


class Namer:
    """Names lines and work orders as a planner does, as Epoptia has them now.

    An update is named by the line's current quantity and due day (the change lines say what they
    become), even when the change is in another action of the same line; a create by its new values.
    """

    def __init__(self, plan: Plan) -> None:
        self.year = plan_year(plan)
        self._before: dict[str, dict[str, Any]] = {}
        for action in plan.actions:
            if action.verb is Verb.UPDATE:
                for change in action.changes:
                    if change.path in ("quantity", "target_day"):
                        self._before.setdefault(action.address, {})[change.path] = change.before

    def label(self, action: Action, *, in_group: bool = False) -> str:
        """'200 × Προφίλ 60x40 for Κατασκευαστική Αιγαίου ΑΕ, WO-1, due Fri 4 Dec'; empty when not known."""
        label = action.label
        if label is None:
            return ""
        if action.kind is Kind.WORK_ORDER:
            return f"for {label.client}" if label.client and not in_group else ""
        before = self._before.get(action.address, {})
        quantity = before.get("quantity", label.quantity)
        due = before.get("target_day", label.due)
        what = label.product or ""
        if quantity is not None:
            what = f"{number(quantity)} × {what}" if what else f"{number(quantity)} pcs"
        if label.client and not in_group:
            what = f"{what} for {label.client}" if what else f"for {label.client}"
        parts = [what] if what else []
        if label.work_order and not in_group:
            parts.append(label.work_order)
        if due:
            parts.append(f"due {day(due, self.year)}")
        return ", ".join(parts)

    def title(self, action: Action, *, in_group: bool = False) -> str:
        """'WorkOrderLine/131319 will be updated: 200 × Προφίλ 60x40 for Κατασκευαστική ΑΕ, WO-1, due Fri 4 Dec'.

        ``in_group``: under its work order's heading, which already names the work order and client.
        """
        label = self.label(action, in_group=in_group)
        return f"{action.address} {verb_words(action)}" + (f": {label}" if label else "")


def value(v: Any) -> str:
    """A value as a person reads it: text in quotes without escapes, mappings and lists as in YAML."""
    if isinstance(v, str):
        return '"' + v.replace("\n", "⏎") + '"'
    return _inner(v)


def _inner(v: Any) -> str:
    if v is None:
        return "(none)"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return number(v) if isinstance(v, float) else str(v)
    if isinstance(v, str):
        plain = v and v == v.strip() and not any(c in v for c in ',:{}[]"\n') and v not in ("true", "false")
        return v if plain else value(v)
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_inner(k)}: {_inner(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_inner(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False, sort_keys=True)


def routing_chain(routing: Any) -> str:
    """'ΚΟΠΗ-ΒΑΦΗ: LASER (Κοπή) → ΒΑΦΕΙΟ' instead of a JSON blob."""
    if not isinstance(routing, dict) or not isinstance(routing.get("steps"), list):
        return value(routing)
    chain = " → ".join(step_name(step) for step in routing["steps"])
    return f"{routing['name']}: {chain}" if routing.get("name") else chain


def _field_value(key: str, v: Any, year: str | None) -> str:
    if key == "routing":
        return routing_chain(v)
    if key == "target_day" and v is not None:
        return day(v, year)
    return value(v)


def _days_between(before: Any, after: Any) -> str:
    try:
        delta = (dt.date.fromisoformat(str(after)) - dt.date.fromisoformat(str(before))).days
    except ValueError:
        return ""
    if delta == 0:
        return ""
    n = abs(delta)
    return f" ({n} day{'s' if n != 1 else ''} {'later' if delta > 0 else 'earlier'})"


def _routing_path(path: str) -> bool:
    return path == "routing" or path.startswith(("routing.", "routing["))


def change_lines(
    action: Action,
    routes: RouteChanges | None = None,
    year: str | None = None,
    *,
    steps: bool = True,
    shared_at: str = "above",
) -> Iterator[ChangeLine]:
    """The fields an action sets or changes, then (for a blocked one) why and what to do.

    A routing change is shown as its steps aligned (``steps``), or, when several lines share it
    and ``routes`` shows it once elsewhere (``shared_at`` says where), as one line that says so.
    """
    if action.verb is Verb.CREATE and action.payload is not None:
        for key, v in action.payload.items():
            if v in (None, "", [], {}) or (key == "workorder" and v == action.parent):
                continue
            yield ChangeLine("+", f"{key}: {_field_value(key, v, year)}")
    routed = action.routing is not None
    for change in action.changes:
        if routed and _routing_path(change.path):
            continue
        if change.before is None:
            yield ChangeLine("+", f"{change.path}: {_field_value(change.path, change.after, year)}")
        elif change.after is None:
            yield ChangeLine("-", f"{change.path}: {_field_value(change.path, change.before, year)}")
        else:
            extra = _days_between(change.before, change.after) if change.path == "target_day" else ""
            yield ChangeLine(
                "~",
                f"{change.path}: {_field_value(change.path, change.before, year)} -> "
                f"{_field_value(change.path, change.after, year)}{extra}",
            )
    if action.routing is not None:
        yield from _routing_lines(action, routes, steps=steps, shared_at=shared_at)
    if action.blocked is not None:
        yield ChangeLine(" ", action.blocked.message)
        yield ChangeLine(" ", f"advice: {action.blocked.advice}")


def _routing_lines(action: Action, routes: RouteChanges | None, *, steps: bool, shared_at: str) -> Iterator[ChangeLine]:
    assert action.routing is not None
    aligned = align(action.routing.before, action.routing.after)
    shared = routes.of(action) if routes is not None else None
    renamed = next((c for c in action.changes if c.path == "routing.name"), None)
    name = routing_name(action) or (shared.name if shared is not None else None)
    head = "routing" + (f" {name}" if name and renamed is None else "")
    if renamed is not None:
        head += f" {value(renamed.before)} -> {value(renamed.after)}"
    if shared is not None and shared.shared:
        lines = len(shared.actions)
        yield ChangeLine("~", f"{head}: {counts(aligned)} (shared by {lines} lines; see {shared_at})")
        return
    yield ChangeLine("~", f"{head}: {counts(aligned)}")
    if steps:
        for line in aligned:
            yield ChangeLine(line.sign, step_text(line), 1)


def source_line(plan: Plan) -> str:
    where = f"Target {plan.target!r}, state serial {plan.serial}"
    where += f", lineage {plan.lineage}" if plan.lineage else ""
    if plan.refresh is RefreshScope.FULL:
        how = f"refreshed from Epoptia (all {plan.pages_read} page(s) of lines)"
    elif plan.refresh is RefreshScope.TARGETED and plan.pages_read:
        how = (
            f"refreshed from Epoptia where this plan touches it ({plan.pages_read} page(s) of lines; "
            "--refresh full reads them all)"
        )
    elif plan.refresh is RefreshScope.TARGETED:
        how = "Epoptia read where this plan touches it: no line, so no page (--refresh full reads them all)"
    else:
        how = "not refreshed: planned from the state file alone"
    window = f"\nApply window: {plan.window.message}." if plan.window else ""
    return f"{where}; {how}.{window}"


def drift_sections(drift: tuple[Drift, ...]) -> list[tuple[str, list[str]]]:
    """(heading, lines) for what changed in Epoptia outside the reconciler, in its two parts."""
    owned, progress = [], []
    for d in drift:
        if d.cause is DriftCause.PROGRESS:
            progress.append(d.message)
            continue
        owned.append(d.message)
        for c in d.changes:
            owned.append(f"    {c.path}: applied {value(c.before)}, Epoptia has {value(c.after)}")
    sections = []
    if owned:
        sections.append(
            ("Changed in Epoptia outside the reconciler (this plan puts the manifests' values back):", owned)
        )
    if progress:
        sections.append(("Production progress since the last refresh (the shop floor's; information only):", progress))
    return sections
