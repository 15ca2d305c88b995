"""The state of a target: values (``values``), the file's layout (``layout``), and the store (``store``).

As in Terraform, what the state *is* is kept apart from how it is written and
from who may write it: planners and renderers use the values only; the store
alone touches the file and its lock.
"""

from .store import StateStore
from .values import IndexEntry, Observed, ResourceState, Snapshot, State, StepProgress, drift_digest

__all__ = ["IndexEntry", "Observed", "ResourceState", "Snapshot", "State", "StateStore", "StepProgress", "drift_digest"]
