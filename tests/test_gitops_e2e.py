"""The shipped actions end to end: their `run:` scripts with bash, a bare repository with a protected main as
`origin`, a fake GitHub API on 127.0.0.1, and the emulator as the tenant.

Each test is one story a factory lives through; each asserts what a person
would check afterwards: what Epoptia has, what the state branch records, what
the pull request and the job summary say.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.gitops.comment import APPLY_MARKER, PLAN_MARKER

from .conftest import ROOT, run_cli
from .e2e import KEY_ENV
from .emulator_process import EmulatorProcess
from .fake_github import ActionRun, FakeGitHub, PullRequest

STATE_BRANCH = "reconciler-state"
WO12, WO13, WO14 = (f"manifests/work-orders/2026-12/WO-26-04{n}.yaml" for n in (12, 13, 14))


def config(url: str, windows: str = "") -> str:
    return (
        "manifests: manifests\ndefault_target: production\ntargets:\n  production:\n"
        f"    endpoint: {url}\n    api_key_env: {KEY_ENV}\n    state: state/production.json\n"
        "    throttle: {read_interval: 0, write_interval: 0}\n    retries: {attempts: 2, backoff: 0.05}\n"
        "    profile: {page_size: 2}\n" + windows
    )


@dataclass
class Factory:
    hub: FakeGitHub
    emulator: EmulatorProcess
    tmp: Path
    jobs: list[ActionRun] = field(default_factory=list)
    _n: int = 0

    def workspace(self, kind: str) -> Path:
        self._n += 1
        return self.tmp / f"runner-{kind}-{self._n}"

    def bootstrap(self, *extra: str) -> None:
        """The first apply, from a person's checkout, through the tenant's queue (as the README says)."""
        done = run_cli(
            "ci", "run", "--", "apply", "--auto-approve", *extra, cwd=self.hub.admin, env={KEY_ENV: self.emulator.key}
        )
        assert done.returncode == 0, done.stdout + done.stderr

    def plan(self, pull: PullRequest, *, key: bool = True) -> ActionRun:
        self.hub.pr_merge_ref(pull)
        workspace = self.hub.checkout(f"refs/pull/{pull.number}/merge", self.workspace("plan"))
        run = self.hub.run_action(
            "plan",
            workspace,
            event="pull_request",
            pull=pull,
            inputs={"api-key": self.emulator.key if key else "", "api-key-env": KEY_ENV},
        )
        self.jobs.append(run)
        return run

    def apply(self, sha: str = "main", *, event: str = "push", **inputs: str) -> ActionRun:
        workspace = self.hub.checkout(sha, self.workspace("apply"))
        run = self.hub.run_action(
            "apply", workspace, event=event, inputs={"api-key": self.emulator.key, "api-key-env": KEY_ENV, **inputs}
        )
        self.jobs.append(run)
        return run

    def command(self, command: str, *, key: bool = True) -> ActionRun:
        workspace = self.hub.checkout("main", self.workspace("run"))
        run = self.hub.run_action(
            "run",
            workspace,
            event="schedule",
            inputs={"command": command, "api-key": self.emulator.key if key else "", "api-key-env": KEY_ENV},
        )
        self.jobs.append(run)
        return run

    def branch_file(self, name: str) -> str | None:
        result = subprocess.run(
            ["git", "show", f"{STATE_BRANCH}:state/production.{name}.json"],
            cwd=self.hub.origin,
            capture_output=True,
            text=True,
        )
        return result.stdout if result.returncode == 0 else None

    def branch_log(self) -> list[str]:
        return subprocess.run(
            ["git", "log", "--format=%s", STATE_BRANCH], cwd=self.hub.origin, capture_output=True, text=True, check=True
        ).stdout.splitlines()

    def requests(self) -> int:
        return int(self.emulator.inspect("stats").get("requests", 0))

    def line(self, line_id: str) -> dict:
        return self.emulator.lines()[line_id]


@pytest.fixture
def factory(tmp_path: Path, emulator: EmulatorProcess):
    hub = FakeGitHub(tmp_path)
    files = {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in (ROOT / "manifests").rglob("*.yaml")}
    files.update({"reconciler.yaml": config(emulator.url), ".gitignore": ".reconciler/\nstate/*.backup\n"})
    hub.push_main(files, "The factory's manifests")
    try:
        yield Factory(hub, emulator, tmp_path)
    finally:
        hub.close()


def _ok(run: ActionRun) -> ActionRun:
    assert not run.failed, run.log()
    return run


def test_concurrent_merges_on_a_protected_main_lose_nothing_and_the_next_plan_is_exact(factory: Factory) -> None:
    f = factory
    f.bootstrap()
    pulls = [
        f.hub.open_pr("wo-0412", {WO12: ("quantity: 24", "quantity: 30")}, "0412: 30 παράθυρα"),
        f.hub.open_pr("wo-0413", {WO13: ("Ανοδίωση 15 μm.", "Ανοδίωση 20 μm.")}, "0413: 20 μm"),
        f.hub.open_pr("wo-0414", {WO14: ("quantity: 60", "quantity: 64")}, "0414: 64"),
    ]
    for pull in pulls:
        run = _ok(f.plan(pull))
        assert run.outputs["plan"]["exitcode"] == "2"
        comment = f.hub.comment(pull.number, PLAN_MARKER)
        assert comment is not None
        assert "Plan: 0 to create, 1 to update, 0 to archive, 0 to delete, 0 blocked." in comment
    f.emulator.emulator_post("faults", {"latency_ms": 300})  # an apply that takes a while
    first = f.hub.merge(pulls[0])
    with ThreadPoolExecutor(3) as pool:
        running = pool.submit(f.apply, first)
        deadline = time.monotonic() + 60
        while f.branch_file("lease") is None:  # the first apply holds the tenant's queue...
            assert time.monotonic() < deadline and not running.done(), running.result().log() if running.done() else ""
            time.sleep(0.05)
        later = [f.hub.merge(pulls[1]), f.hub.merge(pulls[2])]  # ...while two more merges land on main
        assert f.branch_file("lease") is not None and not running.done(), "the merges did not land during the apply"
        waiting = [pool.submit(f.apply, sha) for sha in later]
        runs = [running.result(), *(w.result() for w in waiting)]
    for run in runs:
        _ok(run)
    assert f.hub.refused_pushes() == []  # nothing ever tried to push to the protected main...
    assert f.hub.git("ls-remote", "origin", "refs/heads/main").split()[0] == later[-1]  # ...which holds only merges
    assert (f.line("131320")["quantity"], f.line("131331")["comments"], f.line("131340")["quantity"]) == (
        30,
        "Ανοδίωση 20 μm.",
        64,
    ), "\n=====\n".join(run.log() for run in runs)
    log = f.branch_log()
    for pull in pulls:  # each merge applied exactly once, its state on the branch
        assert sum(f"after applying #{pull.number}" in s for s in log) == 1, log
        assert "Applied as reviewed" in (f.hub.comment(pull.number, APPLY_MARKER) or "")
    assert json.loads(f.branch_file("applied") or "{}")["commit"] == later[-1]
    assert f.branch_file("lease") is None and f.branch_file("pending") is None
    # The next pull request's plan is exactly its own change: nothing re-created, nothing "deleted outside".
    nxt = f.hub.open_pr("wo-0414-b", {WO14: ("quantity: 64", "quantity: 66")}, "0414: 66")
    run = _ok(f.plan(nxt))
    comment = f.hub.comment(nxt.number, PLAN_MARKER) or ""
    assert run.outputs["plan"]["exitcode"] == "2" and "Plan: 0 to create, 1 to update, 0 to archive" in comment
    assert "outside the reconciler" not in comment and "131340" in comment
    main = f.hub.checkout("main", f.workspace("laptop"))
    again = run_cli(
        "ci", "run", "--read-only", "--", "plan", "--detailed-exitcode", cwd=main, env={KEY_ENV: f.emulator.key}
    )
    assert again.returncode == 0, again.stdout + again.stderr  # main, on the branch's state: no changes


def test_a_halt_set_by_one_job_stops_every_later_job_until_a_person_clears_it(factory: Factory) -> None:
    f = factory
    f.bootstrap()
    pull = f.hub.open_pr("wo-0412", {WO12: ("quantity: 8", "quantity: 9")}, "0412: 9 πόρτες")
    _ok(f.plan(pull))
    f.emulator.emulator_post("faults", {"rate_limit": 3})  # the nightly drift reads too fast: 429
    drift = f.command("drift --detailed-exitcode")
    assert drift.failed and "halted" in drift.step("run").stderr
    assert '"status": 429' in (f.branch_file("halt") or "")  # the halt is on the state branch, for every job
    f.emulator.emulator_post("faults", {})
    before = f.requests()
    merged = f.hub.merge(pull)
    held = f.apply(merged)
    assert held.failed and "halted" in held.summary
    assert "requests to Epoptia are halted" in (f.hub.comment(pull.number, APPLY_MARKER) or "")
    other = f.hub.open_pr("wo-0413", {WO13: ("quantity: 120", "quantity: 125")}, "0413: 125")
    planned = _ok(f.plan(other))  # a plan still gets its comment, from the state alone, and says why
    assert "halted" in (f.hub.comment(other.number, PLAN_MARKER) or "") and planned.outputs["plan"]["exitcode"] == "2"
    assert f.requests() == before  # no job sent Epoptia anything while halted
    cleared = _ok(f.command("halt clear", key=False))
    assert "Cleared the halt on 'production'" in cleared.step("run").stdout and f.branch_file("halt") is None
    _ok(f.apply(event="schedule"))
    assert f.line("131321")["quantity"] == 9
    assert "Applied as reviewed" in (f.hub.comment(pull.number, APPLY_MARKER) or "")


def _digest(text: str) -> str:
    match = re.search(r"-f approve=([0-9a-f]{16})", text)
    assert match, text
    return match.group(1)


def test_a_reviewed_plan_that_no_longer_holds_is_not_applied_but_shown_then_approved(factory: Factory) -> None:
    f = factory
    f.bootstrap()
    # Two pull requests reviewed side by side change the same line.
    first = f.hub.open_pr("qty", {WO13: ("quantity: 300", "quantity: 320")}, "0413: 320")
    second = f.hub.open_pr("μm", {WO13: ("Ανοδίωση 15 μm.", "Ανοδίωση 20 μm.")}, "0413: 20 μm")
    _ok(f.plan(first))
    _ok(f.plan(second))
    _ok(f.apply(f.hub.merge(first)))
    held = f.apply(f.hub.merge(second))  # its reviewed plan would send the old quantity back
    assert held.failed
    comment = f.hub.comment(second.number, APPLY_MARKER) or ""
    assert "Not applied: the plan on main differs from the plan reviewed here" in comment
    assert "`WorkOrderLine/131331`" in comment and "`quantity` reviewed 300, now 320" in comment
    assert _digest(comment) in held.summary and "gh workflow run epoptia-apply.yml --ref main -f approve=" in comment
    before = f.requests()
    again = _ok(f.apply(event="schedule"))  # the schedule leaves a held merge to a person: no red run, no requests
    assert "Still held for a person" in again.summary and f.requests() == before
    assert f.line("131331")["comments"] == "Ανοδίωση 15 μm." and f.line("131331")["quantity"] == 320
    pending = json.loads(f.branch_file("pending") or "{}")
    assert [m["status"] for m in pending["merges"]] == ["different"]
    wrong = f.apply(event="workflow_dispatch", approve="0" * 16)  # approving another plan applies nothing
    assert wrong.failed and f.line("131331")["comments"] == "Ανοδίωση 15 μm."
    _ok(f.apply(event="workflow_dispatch", approve=_digest(comment)))
    assert f.line("131331")["comments"] == "Ανοδίωση 20 μm." and f.line("131331")["quantity"] == 320
    assert "Applied the plan a person approved" in (f.hub.comment(second.number, APPLY_MARKER) or "")
    assert f.branch_file("pending") is None
    # Same actions, but the line started on the shop floor since the review: apply PLANFILE refuses it as stale.
    third = f.hub.open_pr("glass", {WO14: ("Glass: triple, Ug 0.6", "Glass: triple, Ug 0.5")}, "0414: Ug 0.5")
    _ok(f.plan(third))
    _start(f, "131340")
    stale = f.apply(f.hub.merge(third))
    comment = f.hub.comment(third.number, APPLY_MARKER) or ""
    assert stale.failed and "the reviewed plan is stale" in comment and "line 131340 started since this plan" in comment
    assert f.line("131340")["customFields"] != [] and "Ug 0.6" in json.dumps(f.line("131340"), ensure_ascii=False)


def _start(f: Factory, line: str) -> None:
    """An operator starts the line's first step, as the shop floor does."""
    env = {KEY_ENV: f.emulator.key}
    token = run_cli("operator", "login", "--username", "demo", "--password", "demo", cwd=f.hub.admin, env=env)
    assert token.returncode == 0, token.stderr
    station = f.line(line)["erp_routing"][0]["workstationName"]
    started = run_cli(
        "station",
        "start",
        "--workstation",
        str(f.emulator.workstation(station)),
        "--line",
        line,
        cwd=f.hub.admin,
        env={**env, "EPOPTIA_OPERATOR_TOKEN": token.stdout.strip()},
    )
    assert started.returncode == 0, started.stderr


def test_a_merge_outside_the_apply_window_is_applied_by_the_scheduled_job_when_it_opens(factory: Factory) -> None:
    f = factory
    f.bootstrap()
    pull = f.hub.open_pr("wo-0414", {WO14: ("quantity: 60", "quantity: 61")}, "0414: 61")
    _ok(f.plan(pull))
    opens = datetime.now(UTC) + timedelta(seconds=7)
    window = (
        "    apply_windows:\n      timezone: UTC\n"
        f'      allow: [{{from: "{opens:%H:%M:%S}", to: "{opens + timedelta(hours=1):%H:%M:%S}"}}]\n'
    )
    f.hub.git("checkout", "-q", "-B", "main", "origin/main")
    f.hub.push_main({"reconciler.yaml": config(f.emulator.url, window)}, "Applies only in the afternoon shift")
    merged = f.hub.merge(pull)
    before = f.requests()
    pending = _ok(f.apply(merged))  # not a failure: waiting for the window is what was asked
    assert datetime.now(UTC) < opens, "the machine was too slow for this test's window"
    assert "Pending: merged outside the apply windows" in (f.hub.comment(pull.number, APPLY_MARKER) or "")
    assert "outside the apply windows" in pending.summary and f.requests() == before
    assert [(m["commit"], m["status"]) for m in json.loads(f.branch_file("pending") or "{}")["merges"]] == [
        (merged, "window")
    ]
    assert f.line("131340")["quantity"] == 60
    before = f.requests()
    quiet = f.apply(event="schedule")  # the scheduled job, still outside the window: nothing sent
    assert not quiet.failed and f.requests() == before
    time.sleep(max(0.0, (opens - datetime.now(UTC)).total_seconds()) + 0.5)
    _ok(f.apply(event="schedule"))
    assert f.line("131340")["quantity"] == 61 and f.branch_file("pending") is None
    assert "Applied as reviewed" in (f.hub.comment(pull.number, APPLY_MARKER) or "")


def test_a_fork_plans_from_the_state_branch_into_the_job_summary_without_failing(factory: Factory) -> None:
    f = factory
    f.bootstrap()
    tip = f.hub.git("ls-remote", "origin", f"refs/heads/{STATE_BRANCH}")
    before = f.requests()
    pull = f.hub.open_pr("fork", {WO12: ("quantity: 24", "quantity: 25")}, "0412: 25", fork=True)
    run = f.plan(pull, key=False)
    assert not run.failed, run.log()
    assert run.outputs["plan"]["exitcode"] == "2"
    assert "Plan: 0 to create, 1 to update" in run.summary and "not refreshed" in run.summary  # read the branch's state
    assert "comes from a fork" in run.step("comment").stdout and pull.number not in f.hub.comments
    assert f.hub.git("ls-remote", "origin", f"refs/heads/{STATE_BRANCH}") == tip  # no lease taken, nothing written
    assert f.requests() == before
    assert [a.name for a in f.hub.artifacts.values()] == [f"epoptia-plan-production-pr{pull.number}"]
    assert not f.hub.leaked_auth
    shutil.rmtree(f.tmp / "runner-plan-1", ignore_errors=True)


def test_the_request_budget_is_what_the_readme_says(factory: Factory) -> None:
    """Sample factory, 11 lines, page_size 2: the tenant's list is N = 6 pages."""
    f = factory
    f.bootstrap()
    pull = f.hub.open_pr("wo-0412", {WO12: ("quantity: 24", "quantity: 30")}, "0412: 30")
    spent = []
    for job in (
        lambda: f.plan(pull),
        lambda: f.apply(f.hub.merge(pull)),
        lambda: f.apply(event="schedule"),
        lambda: f.command("drift --detailed-exitcode"),
    ):
        before = f.requests()
        _ok(job())
        spent.append(f.requests() - before)
    # PR: the page of the line it touches. Merge: that page again, all N pages (the reviewed plan's staleness
    # check), one write, the page read back. Scheduled run with nothing pending: nothing. Night: N pages.
    assert spent == [1, 1 + 6 + 1 + 1, 0, 6]
