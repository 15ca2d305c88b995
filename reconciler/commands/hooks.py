"""How a running command talks to whoever runs it: a terminal, a CI log, a test."""

from __future__ import annotations

import enum
from typing import Protocol

from ..planning import Plan

BLOCKED_HINT = "change the manifests as each advice says, or apply the rest with --skip-blocked"


class Phase(str, enum.Enum):
    """The long steps of a command, as progress reports name them."""

    REFRESH = "refresh"  # reading the list of lines from Epoptia
    WRITE = "write"  # sending batches
    READ_BACK = "read-back"  # reading written lines back


class Hooks(Protocol):
    def notice(self, message: str) -> None:
        """Something the person should know that is not the result (a warning, a recovery)."""

    def progress(self, phase: Phase, done: int, total: int | None) -> None:
        """How far a long phase is: ``done`` of ``total`` units (pages, rows); total None if unknown."""

    def planned(self, plan: Plan) -> None:
        """The plan an apply is about to carry out, before it asks or changes anything."""

    def confirm(self, plan: Plan) -> bool:
        """Whether to carry out ``plan``; asked only when the person did not approve in advance."""

    def interrupted(self) -> bool:
        """Whether the person asked to stop; checked between batches."""


class QuietHooks:
    """Hooks for tests, benches and scripts: notices are kept, nothing is asked."""

    def __init__(self, *, approve: bool = True) -> None:
        self.approve = approve
        self.notices: list[str] = []
        self.plans: list[Plan] = []
        self.phases: list[tuple[Phase, int, int | None]] = []
        self.stop = False

    def notice(self, message: str) -> None:
        self.notices.append(message)

    def progress(self, phase: Phase, done: int, total: int | None) -> None:
        self.phases.append((phase, done, total))

    def planned(self, plan: Plan) -> None:
        self.plans.append(plan)

    def confirm(self, plan: Plan) -> bool:
        return self.approve

    def interrupted(self) -> bool:
        return self.stop
