"""Planning: the Plan value, the started-order policy and the planner."""

from .plan import Action, Blocked, BlockReason, Drift, DriftCause, FieldChange, Plan, RefreshScope, Summary, Verb
from .planner import Selection, make_plan

__all__ = [
    "Action",
    "BlockReason",
    "Blocked",
    "Drift",
    "DriftCause",
    "FieldChange",
    "Plan",
    "RefreshScope",
    "Selection",
    "Summary",
    "Verb",
    "make_plan",
]
