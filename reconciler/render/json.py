"""The plan as its versioned JSON document (see Plan.to_json)."""

from __future__ import annotations

from ..planning.plan import Plan


def render_json(plan: Plan) -> str:
    return plan.to_json() + "\n"
