"""The one exception hierarchy every user-facing failure belongs to.

Each error carries a message that says what happened and, where the user can do
something about it, a hint saying what. The CLI prints ``str(error)`` and exits
with ``error.exit_code``; nothing below ``ReconcilerError`` is ever shown to a
user as a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


class ReconcilerError(Exception):
    """Base of every error a user can cause or must act on."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class ConfigError(ReconcilerError):
    """reconciler.yaml is missing, malformed or names an unknown target."""


@dataclass(frozen=True, slots=True)
class SourceError:
    """One problem found in a YAML file, pinned to a line and column (1-based)."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class ManifestError(ReconcilerError):
    """One or more manifests are invalid; every problem of the run is listed."""

    def __init__(self, problems: list[SourceError] | None = None, *, message: str | None = None,
                 hint: str | None = None) -> None:
        self.problems = sorted(problems or [], key=lambda p: (p.file, p.line, p.column))
        if message is None:
            count = len(self.problems)
            noun = "problem" if count == 1 else "problems"
            message = "\n".join(str(p) for p in self.problems) + f"\n{count} {noun} in the manifests."
        super().__init__(message, hint=hint)


class StateError(ReconcilerError):
    """The state file cannot be read, written or locked."""


class StateLockedError(StateError):
    """Another process holds the state lock."""


class PlanError(ReconcilerError):
    """The plan cannot be made or used as asked (mass deletion, stale plan file...)."""
