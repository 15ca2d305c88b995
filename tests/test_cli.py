"""The command line on a copy of the sample factory, as a new user would run it."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.planning import Plan

from .conftest import run_cli, write


def test_validate_the_sample(sample_repo: Path) -> None:
    result = run_cli("validate", cwd=sample_repo)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Valid: 8 files with 3 clients, 5 products, 2 routings, 4 work orders and 11 lines.\n"


def test_plan_of_the_sample_creates_everything(sample_repo: Path) -> None:
    result = run_cli("plan", "--detailed-exitcode", cwd=sample_repo)
    assert result.returncode == 2, result.stderr
    assert result.stdout.rstrip().endswith("Plan: 23 to create, 0 to update, 0 to archive, 0 to delete, 0 blocked.")
    assert "ΜΟΝΤΑΖ 1 (Πλαίσιο)" in result.stdout and "\x1b[" not in result.stdout


def test_plan_without_detailed_exitcode_exits_zero(sample_repo: Path) -> None:
    assert run_cli("plan", cwd=sample_repo).returncode == 0


def test_json_plan_parses_and_holds_every_action(sample_repo: Path) -> None:
    result = run_cli("plan", "--format", "json", cwd=sample_repo)
    data = json.loads(result.stdout)
    addresses = {f"{a['kind']}/{a['id']}" for a in data["actions"]}
    assert len(addresses) == 23 and {a["verb"] for a in data["actions"]} == {"create"}
    assert "WorkOrderLine/131341" in addresses and data["summary"]["create"] == 23


def test_markdown_plan_puts_the_summary_first(sample_repo: Path) -> None:
    lines = run_cli("plan", "--format", "markdown", cwd=sample_repo).stdout.splitlines()
    first_text = next(line for line in lines if line and not line.startswith(("<!--", "#")))
    assert first_text == "**Plan: 23 to create, 0 to update, 0 to archive, 0 to delete, 0 blocked.**"


def test_saved_plan_is_shown_again(sample_repo: Path) -> None:
    planned = run_cli("plan", "--out", "plans/pr-12.json", cwd=sample_repo)
    shown = run_cli("show", "plans/pr-12.json", cwd=sample_repo)
    assert shown.returncode == 0 and shown.stdout == planned.stdout
    assert Plan.from_json((sample_repo / "plans/pr-12.json").read_text()).summary.create == 23


def test_show_refuses_a_file_that_is_not_a_plan(sample_repo: Path) -> None:
    (sample_repo / "x.json").write_text('{"format_version": 9}')
    result = run_cli("show", "x.json", cwd=sample_repo)
    assert result.returncode == 1
    assert "plan file x.json has plan format version 9" in result.stderr and "Traceback" not in result.stderr


def test_broken_manifest_gives_positions_and_no_traceback(sample_repo: Path) -> None:
    path = sample_repo / "manifests/work-orders/2026-12/WO-26-0413.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("quantity: 500", "quantity: πεντακόσια"), encoding="utf-8")
    for command in (["validate"], ["plan"]):
        result = run_cli(*command, cwd=sample_repo)
        assert result.returncode == 1
        assert result.stderr.startswith(
            "Error: manifests/work-orders/2026-12/WO-26-0413.yaml:8:15: lines[0].quantity: input should be a "
            "valid integer"
        )
        assert "Traceback" not in result.stderr and result.stdout == ""


def test_config_errors_name_the_file_and_position(sample_repo: Path) -> None:
    write(
        sample_repo,
        "reconciler.yaml",
        "default_target: local\ntargets:\n  local:\n    endpoint: emulator\n    state: s.json\n    throttel: {}\n",
    )
    result = run_cli("plan", cwd=sample_repo)
    assert result.returncode == 1
    assert "reconciler.yaml:6:5: unknown field 'throttel' in Target; did you mean 'throttle'?" in result.stderr


def test_unknown_target_and_missing_config(sample_repo: Path, tmp_path_factory) -> None:
    result = run_cli("plan", "--target", "staging", cwd=sample_repo)
    assert result.returncode == 1 and "unknown target 'staging'" in result.stderr
    assert "known targets: local, production" in result.stderr
    empty = tmp_path_factory.mktemp("no-config")
    result = run_cli("plan", cwd=empty)
    assert result.returncode == 1 and "no reconciler.yaml" in result.stderr


def test_usage_errors_never_exit_2(sample_repo: Path) -> None:
    result = run_cli("plan", "--detailed-exitcod", cwd=sample_repo)
    assert result.returncode == 1 and "No such option" in result.stderr


def test_blocked_plan_exits_1_unless_skipped(sample_repo: Path) -> None:
    import os

    from reconciler.context import Context
    from reconciler.state import Observed, ResourceState, StepProgress

    cwd = os.getcwd()
    os.chdir(sample_repo)
    try:
        context = Context.open()
        desired = context.load_desired()
        observed = Observed(
            status="production",
            started=True,
            observed_at="2026-11-24T08:00:00+00:00",
            steps=(StepProgress(workstation="LASER", status="in_progress", qty_done=80),),
        )
        resources = {
            a: ResourceState.applied(r, observed if r.id == "131319" else None) for a, r in desired.resources.items()
        }
        context.state_store.write(context.state_store.read().model_copy(update={"resources": resources}))
    finally:
        os.chdir(cwd)
    path = sample_repo / "manifests/work-orders/2026-12/WO-26-0412.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("quantity: 200", "quantity: 260"), encoding="utf-8")
    result = run_cli("plan", "--detailed-exitcode", "--no-refresh", cwd=sample_repo)
    assert result.returncode == 1
    assert "line 131319 has started at LASER (80 of 200 done): quantity cannot change" in result.stdout
    assert "advice: create a new line for the extra 60" in result.stdout
    assert "1 blocked action(s)" in result.stderr
    skipped = run_cli("plan", "--detailed-exitcode", "--skip-blocked", "--no-refresh", cwd=sample_repo)
    assert skipped.returncode == 0  # nothing else to do


def test_help_works_everywhere(sample_repo: Path) -> None:
    for command in ([], ["plan"], ["validate"], ["show"], ["force-unlock"]):
        result = run_cli(*command, "--help", cwd=sample_repo)
        assert result.returncode == 0 and "Usage:" in result.stdout
