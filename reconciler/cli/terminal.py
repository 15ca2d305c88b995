"""Hooks for a person at a terminal or a CI log: stderr for everything but the result.

Progress goes to stderr, so `reconciler apply > log` keeps the plan and the
report in the log and still shows progress: a live bar on a terminal, one line
per step otherwise. Ctrl-C during an apply is taken between batches.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any, TextIO

import click

from ..commands.hooks import Phase
from ..errors import ReconcilerError
from ..planning import Plan
from ..render import Format, render

_PHASE_WORDS = {
    Phase.REFRESH: ("Reading Epoptia", "pages"),
    Phase.WRITE: ("Applying", "rows"),
    Phase.READ_BACK: ("Reading back", "pages"),
}


def use_color(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stdout
    return stream.isatty() and "NO_COLOR" not in os.environ


class TerminalHooks:
    def __init__(self, *, show_plan: bool = True) -> None:
        self.show_plan = show_plan
        self._stop = False
        self._previous: Any = None
        self._bar: Any = None
        self._task: Any = None
        self._phase: Phase | None = None

    # -- Ctrl-C: finish the request in flight, stop between batches; a second Ctrl-C stops now
    def __enter__(self) -> "TerminalHooks":
        def handler(signum: int, frame: Any) -> None:
            if self._stop:
                raise KeyboardInterrupt
            self._stop = True
            self._end_bar()
            click.echo("\nInterrupted: finishing the request in flight, then saving the state...", err=True)

        self._previous = signal.signal(signal.SIGINT, handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._end_bar()
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def interrupted(self) -> bool:
        return self._stop

    def notice(self, message: str) -> None:
        self._end_bar()
        click.echo(message, err=True)

    def progress(self, phase: Phase, done: int, total: int | None) -> None:
        title, unit = _PHASE_WORDS[phase]
        if sys.stderr.isatty():
            self._live(phase, title, done, total)
        elif phase is Phase.WRITE or (total is not None and done >= total):
            # Not a terminal (CI logs): one line per batch, and one when a read phase ends.
            of = f" of {total}" if total is not None else ""
            click.echo(f"{title}: {done}{of} {unit}", err=True)

    def _live(self, phase: Phase, title: str, done: int, total: int | None) -> None:
        from rich.console import Console
        from rich.progress import Progress

        if self._phase is not phase:
            self._end_bar()
            self._bar = Progress(console=Console(stderr=True), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(title, total=total)
            self._phase = phase
        self._bar.update(self._task, completed=done, total=total)

    def _end_bar(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
            self._phase = None

    def planned(self, plan: Plan) -> None:
        self._end_bar()
        if self.show_plan:
            click.echo(render(plan, Format.TEXT, color=use_color()), nl=False)

    def confirm(self, plan: Plan) -> bool:
        if not sys.stdin.isatty():
            raise ReconcilerError("refusing to ask for confirmation: standard input is not a terminal",
                                  hint="review the plan above and run again with --auto-approve")
        return click.confirm(f"Apply these changes to {plan.target!r}?", default=False)
