"""The plan for a terminal: Terraform-like symbols, colour only when asked."""

from __future__ import annotations

import click

from ..planning.plan import Action, Plan, Verb
from .describe import (
    change_lines,
    drift_sections,
    no_changes_line,
    source_line,
    summary_line,
    summary_notes,
    symbol,
    title,
)

_COLOURS = {
    Verb.CREATE: "green",
    Verb.UPDATE: "yellow",
    Verb.ARCHIVE: "magenta",
    Verb.DELETE: "red",
    Verb.FORGET: "bright_black",
    Verb.ADOPT: "cyan",
}


def render_text(plan: Plan, *, color: bool = False) -> str:
    def paint(text: str, **style: object) -> str:
        return click.style(text, **style) if color else text

    out = [source_line(plan), ""]
    for heading, lines in drift_sections(plan.drift):
        out.append(paint(heading, bold=True))
        out.extend(f"  {line}" for line in lines)
        out.append("")
    if not plan.actions:
        out.append(no_changes_line(plan))
        return "\n".join(out) + "\n"
    for action in plan.actions:
        out.append(paint(f"  {symbol(action)} {title(action)}", fg=_colour(action), bold=True))
        for line in change_lines(action):
            out.append(f"      {line.sign} {line.text}" if line.sign != " " else f"        {line.text}")
        out.append("")
    out.append(paint(summary_line(plan.summary), bold=True))
    out.extend(summary_notes(plan))
    return "\n".join(out) + "\n"


def _colour(action: Action) -> str:
    return "red" if action.blocked is not None else _COLOURS[action.verb]
