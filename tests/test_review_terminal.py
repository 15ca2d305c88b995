"""Progress where people look, prompts that need a real yes, and apply's stdout holding only the plan and report."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import click
import pytest

from reconciler.cli import terminal
from reconciler.cli.terminal import TerminalHooks
from reconciler.commands.hooks import Phase
from reconciler.errors import ReconcilerError
from reconciler.planning.plan import Action, Plan, Verb
from reconciler.resources import Kind

from .conftest import run_cli

PROGRESS = re.compile(r"^(Reading Epoptia|Applying|Reading back): ", re.M)


def _plan(*verbs: Verb) -> Plan:
    actions = tuple(Action(verb=v, kind=Kind.WORK_ORDER_LINE, id=str(i), parent="WO-1") for i, v in enumerate(verbs))
    return Plan(target="production", lineage=None, serial=1, created_at="2026-11-24T09:30:00+00:00", actions=actions)


def test_apply_prints_the_plan_once_and_its_report_on_stdout_and_every_phase_on_stderr(sample_repo: Path) -> None:
    first = run_cli("apply", "--auto-approve", cwd=sample_repo)
    assert first.returncode == 0, first.stderr
    assert not PROGRESS.search(first.stdout), first.stdout
    # --auto-approve: the summary line, not the whole plan again (it was read in `plan` or the PR).
    assert first.stdout.splitlines()[0].startswith("Plan: 23 to create") and "will be created" not in first.stdout
    assert "Done: 23 of 23 planned changes" in first.stdout
    for phase in ("Reading Epoptia: 1 page, done.", "Applying: 19 rows, done.", "Reading back: "):
        assert phase in first.stderr, first.stderr
    order = sample_repo / "manifests/work-orders/2026-12/WO-26-0412.yaml"
    order.write_text(order.read_text(encoding="utf-8").replace("quantity: 200", "quantity: 210"), encoding="utf-8")
    plan = run_cli("plan", cwd=sample_repo)
    assert plan.returncode == 0 and not PROGRESS.search(plan.stdout) and "quantity: 200 -> 210" in plan.stdout
    assert "Reading Epoptia: 1 page, done." in plan.stderr and plan.stdout.startswith("Target 'local'")


def test_without_a_terminal_each_phase_is_one_line_with_counts_and_long_phases_say_they_are_alive(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with TerminalHooks() as hooks:
        for done in range(1, 101):
            hooks.progress(Phase.REFRESH, done, 100)
        hooks.progress(Phase.WRITE, 200, 400)
        hooks.progress(Phase.WRITE, 400, 400)
        hooks.progress(Phase.READ_BACK, 1, 2)
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "Reading Epoptia: 100 pages, done.",
        "Applying: 400 rows, done.",
        "Reading back: 1 page, done.",
    ]
    monkeypatch.setattr(terminal, "HEARTBEAT", 0.0)
    with TerminalHooks() as hooks:
        hooks.progress(Phase.REFRESH, 1, 3)
        hooks.progress(Phase.REFRESH, 2, 3)
    assert capsys.readouterr().err.splitlines() == [
        "Reading Epoptia: 1 of 3 pages...",
        "Reading Epoptia: 2 of 3 pages...",
        "Reading Epoptia: 2 pages, done.",
    ]


class _Keyboard(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("protected", "verbs", "typed", "approved"),
    [
        (False, (Verb.UPDATE,), "yes", True),
        (False, (Verb.UPDATE,), "y", False),
        (False, (Verb.UPDATE,), "YES please", False),
        (False, (Verb.DELETE,), "yes", True),
        (True, (Verb.UPDATE,), "yes", True),  # nothing removed: a protected target asks for yes as usual
        (True, (Verb.UPDATE, Verb.ARCHIVE), "yes", False),
        (True, (Verb.DELETE,), "production", True),
        (True, (Verb.DELETE,), "Production", False),
    ],
)
def test_confirmation_takes_yes_and_a_protected_target_takes_its_name(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    protected: bool,
    verbs: tuple[Verb, ...],
    typed: str,
    approved: bool,
) -> None:
    monkeypatch.setattr(sys, "stdin", _Keyboard())
    asked: list[str] = []
    monkeypatch.setattr(click.termui, "visible_prompt_func", lambda prompt: asked.append(prompt) or typed)
    assert TerminalHooks(protected=protected).confirm(_plan(*verbs)) is approved
    out, err = capsys.readouterr()
    err += "".join(asked)  # click hands the prompt to input() with stdout sent to stderr
    assert out == ""  # prompts go to stderr: stdout holds the plan alone
    assert ("Type production to apply" in err) == (protected and any(v is not Verb.UPDATE for v in verbs))
    assert "Only 'yes' approves" in err or "Only the target's name approves" in err


def test_confirmation_is_refused_without_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("yes\n"))
    with pytest.raises(ReconcilerError, match="not a terminal"):
        TerminalHooks().confirm(_plan(Verb.UPDATE))
