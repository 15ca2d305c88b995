"""The errors of the CI side.

ReconcilerError
└── GitOpsError             GitHub or git refused what a workflow step asked
    ├── QueueBusyError      another job held the tenant's queue for longer than this one would wait
    └── StateConflictError  two runs changed one resource of the state (only when a lease was broken)
"""

from __future__ import annotations

from ..errors import ReconcilerError


class GitOpsError(ReconcilerError):
    """GitHub or git refused what a workflow step asked."""


class QueueBusyError(GitOpsError):
    """Another job holds the tenant's queue, for longer than this one was told to wait."""


class StateConflictError(GitOpsError):
    """Two runs changed the same resource of the state; nothing was overwritten."""
