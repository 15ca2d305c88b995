"""End to end: the CLI against the emulator server over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.epoptia.profile import Operation as Op
from reconciler.state import StateStore

from .e2e import KEY_ENV, WO_0412, Repo, sample_line_ids
from .emulator_process import EmulatorProcess


@pytest.fixture
def repo(tmp_path: Path, emulator: EmulatorProcess) -> Repo:
    """A copy of the sample factory whose target is the emulator fixture."""
    root = tmp_path / "factory"
    root.mkdir()
    return Repo(root, emulator)


def template_id(repo: Repo, name: str) -> int:
    templates = repo.emulator.call(Op.WORKFLOW_TEMPLATES).json()["workflows"]
    return next(t["id"] for t in templates if t["name"] == name)


def operator_start(repo: Repo, line: str, station: str) -> None:
    token = repo.run("operator", "login", "--username", "demo", "--password", "demo")
    assert token.returncode == 0, token.stderr
    ws = repo.emulator.workstation(station)
    started = repo.run(
        "station",
        "start",
        "--workstation",
        str(ws),
        "--line",
        line,
        env={"EPOPTIA_OPERATOR_TOKEN": token.stdout.strip()},
    )
    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout)["status"] == "started"


def test_plan_apply_plan_is_empty(repo: Repo) -> None:
    first = repo.run("plan", "--detailed-exitcode")
    assert first.returncode == 2 and "Plan: 23 to create" in first.stdout
    applied = repo.run("apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Apply complete" in applied.stdout
    again = repo.run("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout
    assert (
        "No changes." in again.stdout and "Epoptia read where this plan touches it: no line, so no page" in again.stdout
    )
    lines = repo.emulator.lines()
    assert set(lines) == sample_line_ids()
    assert lines["131341"]["erp_routing"][1]["workstationName"] == "ΜΟΝΤΑΖ 2"
    # The list shows only confirmed fields; the emulator's own records show what ran where.
    assert repo.emulator.stored("lines")["131330"]["workflow_id"] == template_id(repo, "Διέλαση και Βαφή")


def test_apply_refuses_to_prompt_without_a_terminal(repo: Repo) -> None:
    result = repo.run("apply")
    assert result.returncode == 1 and "refusing to ask for confirmation" in result.stderr
    assert repo.emulator.lines() == {}


def test_started_line_blocks_quantity_allows_comments_and_is_archived_not_deleted(repo: Repo) -> None:
    assert repo.run("apply", "--auto-approve").returncode == 0
    operator_start(repo, "131319", "LASER")
    ws = repo.emulator.workstation("LASER")
    assert repo.run("station", "complete", "--workstation", str(ws), "--quantity", "120").returncode == 0

    repo.edit(WO_0412, "quantity: 200", "quantity: 250\n    comments: Βιαστικό")
    plan = repo.run("plan", "--detailed-exitcode")
    assert plan.returncode == 1
    assert "line 131319 has started at LASER (120 of 200 done): quantity cannot change" in plan.stdout
    assert "advice: create a new line for the extra 50" in plan.stdout
    assert '~ comments: "Βιαστικό"' in plan.stdout or '+ comments: "Βιαστικό"' in plan.stdout
    assert "Production progress" in plan.stdout, plan.stdout
    assert "line 131319: status standby → production; LASER: 0 → 120 done (in_progress)" in plan.stdout, plan.stdout

    refused = repo.run("apply", "--auto-approve")
    assert refused.returncode == 1 and "blocked action" in refused.stderr
    skipped = repo.run("apply", "--auto-approve", "--skip-blocked")
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    line = repo.emulator.lines()["131319"]
    assert (line["quantity"], line["comments"]) == (200, "Βιαστικό")
    assert repo.emulator.inspect("alarms")["alarms"] == []  # we never even tried the refused change

    repo.edit(WO_0412, "quantity: 250", "quantity: 200")
    text = (repo.root / WO_0412).read_text(encoding="utf-8")
    start = text.index("  - id: 131319")
    end = text.index("  - id: 131320")
    (repo.root / WO_0412).write_text(text[:start] + text[end:], encoding="utf-8")
    removed = repo.run("plan", "--detailed-exitcode")
    assert removed.returncode == 1
    assert "line 131319 has started at LASER (120 of 200 done): it cannot be deleted" in removed.stdout
    assert "archive it instead" in removed.stdout

    (repo.root / WO_0412).write_text(
        text.replace("quantity: 250", "quantity: 200").replace(
            "    comments: Βιαστικό", "    comments: Βιαστικό\n    archived: true"
        ),
        encoding="utf-8",
    )
    archived = repo.run("apply", "--auto-approve")
    assert archived.returncode == 0, archived.stdout + archived.stderr
    assert repo.emulator.lines()["131319"]["production_status"] == "archive"
    assert repo.run("plan", "--detailed-exitcode").returncode == 0


def test_drift_in_epoptia_is_shown_and_put_back(repo: Repo) -> None:
    assert repo.run("apply", "--auto-approve").returncode == 0
    row = {
        "workorderline_id": "131330",
        "quantity": 600,
        "production_status": "standby",
        "workorder": {"id": "WO-26-0413", "code": "ΠΑΡ-0413"},
        "client": {"id": "C-1002"},
        "product": {"id": "P-2002"},
        "workflow_id": template_id(repo, "Διέλαση και Βαφή"),
        "comments": "άλλαξε στο UI",
        "overUnderPercentage": 5,
        "target_day": "2026-12-07",
        "bom": [{"item": "ΜΠΙΛΙΕΤΑ-6063", "quantity": 1250, "unit": "kg"}],
    }
    assert repo.emulator.write(Op.UPSERT_LINES, [row])[0]["result"] == "updated"
    plan = repo.run("plan", "--detailed-exitcode", "--refresh", "full")  # a targeted plan reads only what it changes
    assert plan.returncode == 2
    assert "Changed in Epoptia outside the reconciler" in plan.stdout
    assert "quantity: applied 500, Epoptia has 600" in plan.stdout
    assert "~ quantity: 600 -> 500" in plan.stdout
    assert repo.run("apply", "--auto-approve", "--refresh", "full").returncode == 0
    assert repo.emulator.lines()["131330"]["quantity"] == 500
    assert repo.run("plan", "--detailed-exitcode").returncode == 0


def test_faults_5xx_and_dropped_connections_then_convergence(repo: Repo) -> None:
    repo.configure(batch_size=3, attempts=2)
    repo.emulator.emulator_post("faults", {"error_rate": 0.3, "drop_rate": 0.3, "seed": 11})
    first = repo.run("apply", "--auto-approve")
    repo.emulator.emulator_post("faults", {})
    second = repo.run("apply", "--auto-approve")
    assert second.returncode == 0, first.stdout + first.stderr + second.stdout + second.stderr
    assert repo.run("plan", "--detailed-exitcode").returncode == 0
    lines = repo.emulator.lines()
    assert set(lines) == sample_line_ids()  # none lost, and the GET holds each id once
    stats = repo.emulator.inspect("stats")
    assert stats.get("faults_5xx", 0) + stats.get("faults_dropped", 0) > 0


def test_429_halts_until_cleared(repo: Repo) -> None:
    repo.configure(batch_size=2)
    repo.emulator.emulator_post("faults", {"rate_limit": 3})
    halted = repo.run("apply", "--auto-approve")
    assert halted.returncode == 1 and "halted" in halted.stderr + halted.stdout
    repo.emulator.emulator_post("faults", {})
    refused = repo.run("plan")
    assert "requests to target 'test' are halted" in refused.stderr  # plans offline, says why
    again = repo.run("apply", "--auto-approve")
    assert again.returncode == 1 and "reconciler halt clear --target test" in again.stderr
    assert repo.run("halt", "clear").returncode == 0
    assert repo.run("apply", "--auto-approve").returncode == 0
    assert repo.run("plan", "--detailed-exitcode").returncode == 0


def test_expired_key_says_so_without_showing_it(repo: Repo) -> None:
    assert repo.run("apply", "--auto-approve").returncode == 0
    repo.emulator.emulator_post("clock", {"advance_days": 61})
    repo.edit(WO_0412, "quantity: 200", "quantity: 210")  # an apply that has something to send reads Epoptia
    result = repo.run("apply", "--auto-approve")
    assert result.returncode == 1
    assert f"Epoptia refused the API key in ${KEY_ENV}" in result.stderr
    assert "keys unused for 60 days expire" in result.stderr and "/integrations" in result.stderr
    assert repo.emulator.key not in result.stderr + result.stdout


def test_stale_plan_is_refused_but_an_unrelated_apply_does_not_make_it_stale(repo: Repo) -> None:
    assert repo.run("apply", "--auto-approve").returncode == 0
    repo.edit(WO_0412, "code: 0412-01", "code: 0412-01A")
    assert repo.run("plan", "--out", "plan-a.json").returncode == 0
    repo.edit(WO_0412, "code: 0412-01A", "code: 0412-01")
    # An unrelated change, applied in between.
    repo.edit("manifests/work-orders/2026-12/WO-26-0415.yaml", "quantity: 250", "quantity: 260")
    assert repo.run("apply", "--auto-approve", "--only", "WorkOrderLine/131352").returncode == 0
    ok = repo.run("apply", "plan-a.json", "--auto-approve")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert repo.emulator.stored("lines")["131319"]["code"] == "0412-01A"

    repo.edit(WO_0412, "code: 0412-01", "code: 0412-01B")
    assert repo.run("plan", "--out", "plan-b.json").returncode == 0
    operator_start(repo, "131319", "LASER")
    stale = repo.run("apply", "plan-b.json", "--auto-approve")
    assert stale.returncode == 1
    assert "the saved plan is stale" in stale.stderr and "line 131319 started since this plan was made" in stale.stderr


def test_a_second_apply_while_the_lock_is_held_names_the_owner(repo: Repo) -> None:
    store = StateStore(repo.root / "state" / "test.json")
    with store.lock("apply"):
        result = repo.run("apply", "--auto-approve")
    assert result.returncode == 1
    assert "is locked: held by" in result.stderr and f"(pid {os.getpid()})" in result.stderr


def test_the_key_never_appears_in_output_or_files(repo: Repo) -> None:
    assert repo.run("plan", "--out", "plan.json").returncode == 0
    assert repo.run("apply", "--auto-approve").returncode == 0
    repo.run("workflows")
    repo.emulator.emulator_post("clock", {"advance_days": 61})
    repo.run("plan")
    key = repo.emulator.key
    assert all(key not in text for text in repo.outputs)
    assert key not in repo.every_file_text()


def test_workflows_command_lists_templates(repo: Repo) -> None:
    result = repo.run("workflows")
    assert result.returncode == 0 and "Διέλαση και Βαφή" in result.stdout


def test_unreachable_endpoint_plans_offline_and_apply_fails_clearly(repo: Repo) -> None:
    repo.emulator.stop()
    plan = repo.run("plan", "--detailed-exitcode")
    assert plan.returncode == 2 and "could not read Epoptia" in plan.stderr and "not refreshed" in plan.stdout
    apply = repo.run("apply", "--auto-approve")
    assert apply.returncode == 1 and "cannot reach http://127.0.0.1" in apply.stderr
    assert "Traceback" not in apply.stderr


def test_a_row_epoptia_rejects_is_reported_and_the_others_go_on(repo: Repo) -> None:
    # No workflow, no routing, and P-2002 has no default workflow: the emulator refuses the row.
    repo.edit(
        "manifests/work-orders/2026-12/WO-26-0413.yaml",
        "    workflow: Διέλαση και Βαφή\n    over_under",
        "    over_under",
    )
    result = repo.run("apply", "--auto-approve")
    assert result.returncode == 1
    assert "WorkOrderLine/131330: rejected: line needs a workflow_id or an erp_routing" in result.stdout
    assert "To continue, fix what is listed above if needed, then run: reconciler apply" in result.stdout
    lines = repo.emulator.lines()
    assert "131330" not in lines and len(lines) == len(sample_line_ids()) - 1
    plan = repo.run("plan", "--detailed-exitcode")
    assert plan.returncode == 2 and "Plan: 2 to create, 0 to update" in plan.stdout
    # The work order that carried the rejected line is not recorded as applied either.
    assert "WorkOrder/WO-26-0413 will be created" in plan.stdout


def test_ctrl_c_finishes_the_request_in_flight_saves_state_and_exits_130(repo: Repo) -> None:
    repo.configure(batch_size=1)
    repo.emulator.emulator_post("faults", {"latency_ms": 200})
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", "--auto-approve"],
        cwd=repo.root,
        env={**os.environ, KEY_ENV: repo.emulator.key, "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Interrupt once the refresh is done and a few lines have been written.
    assert repo.emulator.await_requests(proc, 8), "the apply ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    assert "Interrupted: finishing the request in flight" in stderr
    assert "Apply stopped: interrupted (Ctrl-C)" in stdout and "Not attempted:" in stdout
    state = StateStore(repo.root / "state" / "test.json").read()
    assert 0 < len(state.resources) < 23  # what was done is recorded
    repo.emulator.emulator_post("faults", {})
    assert repo.run("apply", "--auto-approve").returncode == 0
    assert repo.run("plan", "--detailed-exitcode").returncode == 0


def test_drift_command_reports_both_parts_and_changes_nothing(repo: Repo) -> None:
    assert repo.run("apply", "--auto-approve").returncode == 0
    assert repo.run("drift", "--detailed-exitcode").returncode == 0
    row = {
        "workorderline_id": "131331",
        "quantity": 300,
        "workorder": {"id": "WO-26-0413", "code": "ΠΑΡ-0413"},
        "client": {"id": "C-1002"},
        "product": {"id": "P-2001"},
        "workflow_id": template_id(repo, "Διέλαση και Βαφή"),
        "comments": "αλλαγή στο UI",
        "target_day": "2026-12-09",
    }
    repo.emulator.write(Op.UPSERT_LINES, [row])
    operator_start(repo, "131319", "LASER")
    before = (repo.root / "state" / "test.json").read_bytes()
    result = repo.run("drift", "--detailed-exitcode")
    assert result.returncode == 2
    assert "line 131331 was changed in Epoptia" in result.stdout
    assert 'comments: applied "Ανοδίωση 15 μm.", Epoptia has "αλλαγή στο UI"' in result.stdout
    assert "line 131319: status standby → production; LASER: 0 done (started)" in result.stdout
    assert (repo.root / "state" / "test.json").read_bytes() == before
