"""The plan for a terminal: Terraform-like symbols, colour only when asked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ..planning.plan import Action, Plan, Verb
from .describe import (
    Namer,
    change_lines,
    drift_sections,
    no_changes_line,
    source_line,
    summary_line,
    summary_notes,
    symbol,
)
from .routing import RouteChange, RouteChanges, align, counts, step_text

_COLOURS = {
    Verb.CREATE: "green",
    Verb.UPDATE: "yellow",
    Verb.ARCHIVE: "magenta",
    Verb.DELETE: "red",
    Verb.FORGET: "bright_black",
    Verb.ADOPT: "cyan",
}
_STEP_COLOURS = {"+": "green", "-": "red", "~": "yellow", "↕": "cyan"}
# Lines of a shared routing change listed by id before "and N more".
_SHOWN_USERS = 20


def render_text(plan: Plan, *, color: bool = False) -> str:
    def paint(text: str, **style: Any) -> str:
        return click.style(text, **style) if color else text

    namer = Namer(plan)
    out = [source_line(plan), ""]
    for heading, lines in drift_sections(plan.drift):
        out.append(paint(heading, bold=True))
        out.extend(f"  {line}" for line in lines)
        out.append("")
    if not plan.actions:
        out.append(no_changes_line(plan))
        return "\n".join(out) + "\n"
    routes = RouteChanges(plan)
    if routes.shared:
        out.append(paint("Routing changes shared by several lines (each shown once):", bold=True))
        for change in routes.shared:
            out.extend(_shared_route(change, paint))
        out.append("")
    for action in plan.actions:
        out.append(paint(f"  {symbol(action)} {namer.title(action)}", fg=_colour(action), bold=True))
        for line in change_lines(action, routes, namer.year, shared_at="Routing changes above"):
            if line.depth:  # a step of an aligned routing
                out.append(paint(f"          {line.sign} {line.text}", fg=_STEP_COLOURS.get(line.sign)))
            elif line.sign == " ":
                out.append(f"        {line.text}")
            else:
                out.append(f"      {line.sign} {line.text}")
        out.append("")
    out.append(paint(summary_line(plan.summary), bold=True))
    out.extend(summary_notes(plan))
    return "\n".join(out) + "\n"


def _shared_route(change: RouteChange, paint: Callable[..., str]) -> list[str]:
    aligned = align(change.before, change.after)
    out = [f"  {change.title}: {counts(aligned)}, {change.usage()}"]
    for line in aligned:
        out.append(paint(f"      {line.sign} {step_text(line)}", fg=_STEP_COLOURS.get(line.sign)))
    ids = [a.id for a in change.actions]
    shown = ", ".join(ids[:_SHOWN_USERS]) + (f" and {len(ids) - _SHOWN_USERS} more" if len(ids) > _SHOWN_USERS else "")
    out.append(f"      lines: {shown}")
    return out


def _colour(action: Action) -> str:
    return "red" if action.blocked is not None else _COLOURS[action.verb]
