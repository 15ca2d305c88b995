"""What an apply did: a plain value per resource, with a stable outcome code.

The executor builds it; renderers and the CLI read it. Outcomes are codes, so
the CLI chooses exit codes from them and never parses sentences.
"""

from __future__ import annotations

import enum

from .frozen import FrozenValue


class Outcome(str, enum.Enum):
    DONE = "done"  # Epoptia took the change (and the read-back agreed, or mismatches says otherwise)
    FAILED = "failed"  # Epoptia refused the row (rejected, or a system alarm on a started line)
    UNKNOWN = "unknown"  # the request failed in flight: the next apply reads back what happened
    NOT_APPLIED = "not-applied"  # the operation does not exist on this tenant: nothing was written
    BLOCKED = "blocked"  # refused by the plan: production has started on what it changes
    NOT_ATTEMPTED = "not-attempted"  # the run stopped before it


class _Value(FrozenValue):
    """Frozen, and light (see ``FrozenValue``): a plan or report may hold 100,000 of them."""


class ResourceOutcome(_Value):
    address: str
    outcome: Outcome
    detail: str = ""  # for display: Epoptia's words, or why it was not attempted


class Mismatch(_Value):
    """A write Epoptia took, whose read-back differs from what was sent (or that was not found)."""

    address: str
    detail: str


class ApplyReport(_Value):
    outcomes: tuple[ResourceOutcome, ...] = ()
    mismatches: tuple[Mismatch, ...] = ()
    recovered: tuple[str, ...] = ()  # what the journal of an interrupted run was settled as
    stopped_by: str | None = None  # why the run stopped early, if it did
    interrupted: bool = False

    def having(self, outcome: Outcome) -> tuple[ResourceOutcome, ...]:
        return tuple(o for o in self.outcomes if o.outcome is outcome)

    @property
    def done(self) -> tuple[ResourceOutcome, ...]:
        return self.having(Outcome.DONE)

    @property
    def complete(self) -> bool:
        """Everything planned was done and read back as sent."""
        return not self.mismatches and self.stopped_by is None and all(o.outcome is Outcome.DONE for o in self.outcomes)

    @property
    def only_blocked_left(self) -> bool:
        """Everything runnable was done; what is left was blocked by the plan (--skip-blocked)."""
        return (
            not self.mismatches
            and self.stopped_by is None
            and all(o.outcome in (Outcome.DONE, Outcome.BLOCKED) for o in self.outcomes)
        )
