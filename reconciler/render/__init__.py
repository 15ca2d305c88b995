"""Renderers: a Plan in, text out. They never decide anything."""

from __future__ import annotations

import enum

from ..planning.plan import Plan
from .json import render_json
from .markdown import render_markdown
from .text import render_text


class Format(str, enum.Enum):
    TEXT = "text"
    MARKDOWN = "markdown"
    JSON = "json"


def render(plan: Plan, fmt: Format, *, color: bool = False) -> str:
    if fmt is Format.JSON:
        return render_json(plan)
    if fmt is Format.MARKDOWN:
        return render_markdown(plan)
    return render_text(plan, color=color)


__all__ = ["Format", "render", "render_json", "render_markdown", "render_text"]
