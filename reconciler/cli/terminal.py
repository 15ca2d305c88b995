"""Hooks for a person at a terminal or a CI log: stderr for everything but the result.

Progress goes to stderr, so `reconciler apply > log` keeps the plan and the
report in the log and still shows progress. On a terminal: a live bar per phase
(reading Epoptia, writing, reading back). Elsewhere (CI logs, a redirected
stderr): one line when a phase ends, with its counts, and a line every
``HEARTBEAT`` seconds while a long phase runs, so a log never sits silent for a
minute. Ctrl-C during an apply is taken between batches.

Confirmation is Terraform's: only `yes` approves; when the plan deletes or
archives in a target marked `protected: true`, only the target's name does.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any, TextIO

import click

from ..commands.hooks import Phase
from ..errors import ReconcilerError
from ..planning import Plan, Verb
from ..render import Format, render
from ..render.describe import Namer, summary_line

_PHASE_WORDS = {
    Phase.REFRESH: ("Reading Epoptia", "pages"),
    Phase.WRITE: ("Applying", "rows"),
    Phase.READ_BACK: ("Reading back", "pages"),
}

HEARTBEAT = 10.0  # seconds between progress lines of one phase in a log


def use_color(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stdout
    return stream.isatty() and "NO_COLOR" not in os.environ


def progress_line(phase: Phase, done: int, total: int | None, *, finished: bool) -> str:
    """'Reading Epoptia: 12 of 100 pages...' while a phase runs; 'Reading Epoptia: 100 pages, done.' after.

    Every line starts with the phase's title and a colon, so a workflow can tell progress from warnings.
    """
    title, unit = _PHASE_WORDS[phase]
    if finished:
        return f"{title}: {done:,} {unit[:-1] if done == 1 else unit}, done."
    of = f" of {total:,}" if total is not None else ""
    return f"{title}: {done:,}{of} {unit}..."


class TerminalHooks:
    """``show_plan``: 'full' prints the plan an apply is about to carry out; 'summary' its summary line
    and anything blocked (with --auto-approve, the plan was read before: in the pull request, or by
    `reconciler plan`). ``protected``: the target's `protected` setting."""

    def __init__(self, *, show_plan: str = "full", protected: bool = False) -> None:
        self.show_plan = show_plan
        self.protected = protected
        self._stop = False
        self._previous: Any = None
        self._bar: Any = None
        self._task: Any = None
        self._phase: Phase | None = None
        self._last: tuple[int, int | None] = (0, None)
        self._said_at = 0.0

    # -- Ctrl-C: finish the request in flight, stop between batches; a second Ctrl-C stops now
    def __enter__(self) -> TerminalHooks:
        def handler(signum: int, frame: Any) -> None:
            if self._stop:
                raise KeyboardInterrupt
            self._stop = True
            self._end_phase()
            click.echo("\nInterrupted: finishing the request in flight, then saving the state...", err=True)

        self._previous = signal.signal(signal.SIGINT, handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._end_phase()
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def interrupted(self) -> bool:
        return self._stop

    def notice(self, message: str) -> None:
        self._end_phase()
        click.echo(message, err=True)

    def progress(self, phase: Phase, done: int, total: int | None) -> None:
        if self._phase is not phase:
            self._end_phase()
            self._phase = phase
            self._said_at = time.monotonic()
            if sys.stderr.isatty():
                self._start_bar(phase, total)
        self._last = (done, total)
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total)
        elif time.monotonic() - self._said_at >= HEARTBEAT:
            self._said_at = time.monotonic()
            click.echo(progress_line(phase, done, total, finished=False), err=True)

    def _start_bar(self, phase: Phase, total: int | None) -> None:
        from rich.console import Console
        from rich.progress import Progress

        self._bar = Progress(console=Console(stderr=True), transient=True)
        self._bar.start()
        self._task = self._bar.add_task(_PHASE_WORDS[phase][0], total=total)

    def _end_phase(self) -> None:
        """A phase ends when another begins, or anything else is said: its line, with its counts."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        if self._phase is not None:
            done, total = self._last
            click.echo(progress_line(self._phase, done, total, finished=True), err=True)
            self._phase = None

    def planned(self, plan: Plan) -> None:
        self._end_phase()
        if self.show_plan == "full":
            click.echo(render(plan, Format.TEXT, color=use_color()), nl=False)
            return
        if not plan.actions:
            return  # the command says "Nothing to apply."
        namer = Namer(plan)
        for action in plan.blocked:
            assert action.blocked is not None
            click.echo(f"  ! {namer.title(action)}\n      {action.blocked.message}")
        click.echo(summary_line(plan.summary))

    def confirm(self, plan: Plan) -> bool:
        self._end_phase()
        if not sys.stdin.isatty():
            raise ReconcilerError(
                "refusing to ask for confirmation: standard input is not a terminal",
                hint="review the plan above and run again with --auto-approve",
            )
        removals = [a for a in plan.runnable if a.verb in (Verb.DELETE, Verb.ARCHIVE)]
        if self.protected and removals:
            click.echo(
                f"\nTarget {plan.target!r} is protected, and this plan deletes or archives "
                f"{len(removals)} resource{'s' if len(removals) != 1 else ''} in it.",
                err=True,
            )
            answer = click.prompt(
                f"Only the target's name approves. Type {plan.target} to apply",
                default="",
                show_default=False,
                err=True,
            )
            return answer.strip() == plan.target
        click.echo(f"\nDo you want to apply these changes to {plan.target!r}? Only 'yes' approves.", err=True)
        answer = click.prompt("Enter a value", default="", show_default=False, err=True)
        return answer.strip() == "yes"
