"""Planning: the Plan value, the started-order policy and the planner."""

from .plan import Action, ActionKind, Blocked, BlockReason, Drift, DriftKind, FieldChange, Plan, Summary
from .planner import DeleteLimit, Selection, make_plan

__all__ = [
    "Action",
    "ActionKind",
    "Blocked",
    "BlockReason",
    "DeleteLimit",
    "Drift",
    "DriftKind",
    "FieldChange",
    "Plan",
    "Selection",
    "Summary",
    "make_plan",
]
