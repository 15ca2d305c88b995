"""The one exception hierarchy every user-facing failure belongs to.

    ReconcilerError                 exit 1: something the user can fix or must act on
    ├── ConfigError                 reconciler.yaml missing, malformed, unknown target
    ├── ManifestError               manifests invalid; every problem of the run, file:line:col
    ├── StateError                  state file unreadable, corrupt, unwritable
    │   └── StateLockedError        another run holds the lock
    ├── PlanError                   the plan cannot be made or used as asked
    │   └── StalePlanError          a saved plan no longer matches what it touches
    ├── ImportRefused               an import would overwrite or cannot be expressed
    ├── MappingError                a payload cannot be put on the wire (unknown workflow...)
    └── EpoptiaError                a request to Epoptia failed (tree in reconciler.epoptia.errors)

Each error carries a message that says what happened and, where the user can do
something about it, a hint saying what. The CLI prints ``str(error)`` and exits
with ``error.exit_code``; anything that is not a ReconcilerError is a bug: the
CLI exits 3 and writes the traceback to a file it names, never to the terminal.
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
    """One problem found in a YAML file, pinned to a line and column (1-based, in characters)."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


# A run with a million bad lines must not print a million lines: the first ones, then a count.
MAX_PROBLEMS_SHOWN = 50


class ManifestError(ReconcilerError):
    """One or more manifests are invalid; every problem of the run is listed."""

    def __init__(
        self, problems: list[SourceError] | None = None, *, message: str | None = None, hint: str | None = None
    ) -> None:
        self.problems = sorted(problems or [], key=lambda p: (p.file, p.line, p.column))
        if message is None:
            count = len(self.problems)
            noun = "problem" if count == 1 else "problems"
            shown = self.problems[:MAX_PROBLEMS_SHOWN]
            lines = [str(p) for p in shown]
            if count > len(shown):
                lines.append(f"... and {count - len(shown)} more")
            files = {p.file for p in self.problems}
            # A configuration file (reconciler.yaml) is named: it is not one of the manifests.
            where = "the manifests" if len(files) != 1 or "reconciler.y" not in next(iter(files)) else next(iter(files))
            message = "\n".join(lines) + f"\n{count} {noun} in {where}."
        super().__init__(message, hint=hint)


class StateError(ReconcilerError):
    """The state file cannot be read, written or locked."""


class StateLockedError(StateError):
    """Another process holds the state lock."""


class PlanError(ReconcilerError):
    """The plan cannot be made or used as asked (mass deletion, unknown selector...)."""


class StalePlanError(PlanError):
    """A saved plan touches something that moved since it was made."""


class ImportRefused(ReconcilerError):
    """The import would overwrite something, or Epoptia's data cannot be expressed as manifests."""


class MappingError(ReconcilerError):
    """A payload cannot be put on the wire (e.g. a workflow name Epoptia does not know)."""
