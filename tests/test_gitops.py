"""The GitHub side: workflow files, the plan step run locally, one PR comment, the state commit."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
from ruamel.yaml import YAML

from reconciler.gitops import GitHub, comment_body, pull_request_of
from reconciler.render.markdown import MARKER

from .conftest import ROOT, run_cli
from .e2e import KEY_ENV, Repo
from .emulator_process import EmulatorProcess

GOLDEN = Path(__file__).parent / "golden"
yaml = YAML(typ="safe")


def test_workflow_and_action_files_are_valid() -> None:
    files = sorted((ROOT / ".github").rglob("*.yml"))
    assert {f.relative_to(ROOT).as_posix() for f in files} >= {
        ".github/workflows/ci.yml", ".github/actions/plan/action.yml", ".github/actions/apply/action.yml"}
    for path in files:
        doc = yaml.load(path.read_text(encoding="utf-8"))
        if path.name == "action.yml":
            assert doc["runs"]["using"] == "composite" and doc["name"] and doc["description"]
            for step in doc["runs"]["steps"]:
                assert "uses" in step or ("run" in step and step.get("shell") == "bash"), (path, step)
            for expression in re.findall(r"\$\{\{\s*inputs\.([\w-]+)", path.read_text()):
                assert expression in doc["inputs"], (path, expression)
        else:
            assert doc["jobs"] and (doc.get("on") or doc.get(True))  # YAML 1.1 reads `on` as True


def _plan_step() -> str:
    action = yaml.load((ROOT / ".github/actions/plan/action.yml").read_text(encoding="utf-8"))
    return next(s["run"] for s in action["runs"]["steps"] if s.get("id") == "plan")


def test_the_plan_step_run_locally_gives_the_golden_comment(tmp_path: Path, emulator: EmulatorProcess) -> None:
    root = tmp_path / "factory"
    root.mkdir()
    repo = Repo(root, emulator)
    assert repo.run("apply", "--auto-approve").returncode == 0
    repo.edit("manifests/work-orders/2026-12/WO-26-0414.yaml", "workstation: ΜΟΝΤΑΖ 2", "workstation: ΜΟΝΤΑΖ 3")
    repo.edit("manifests/work-orders/2026-12/WO-26-0414.yaml", "comments: Export order", "comments: Export order, 2 crates")
    output = tmp_path / "github_output"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "NO_COLOR": "1",
           "RECONCILER_KEY_VALUE": emulator.key, "RECONCILER_KEY_NAME": KEY_ENV, "TARGET": "",
           "GITHUB_OUTPUT": str(output)}
    result = subprocess.run(["bash", "-e", "-c", _plan_step()], cwd=root, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert output.read_text().strip() == "exitcode=2"
    plan = json.loads((root / "reconciler-plan.json").read_text(encoding="utf-8"))
    assert plan["summary"]["update"] == 2 and plan["summary"]["blocked"] == 0
    markdown = (root / "reconciler-plan.md").read_text(encoding="utf-8")
    body = comment_body(markdown, sha="0123456789abcdef0123", run_url="https://github.com/acme/factory/actions/runs/1")
    body = re.sub(r"lineage [0-9a-f-]{36}", "lineage <lineage>", body)
    golden = GOLDEN / "pr-comment.md"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(body, encoding="utf-8")
    assert body == golden.read_text(encoding="utf-8")
    assert body.startswith(MARKER) and "```mermaid" in body and ":::added" in body and emulator.key not in body


def test_a_fork_without_the_key_plans_from_the_state(tmp_path: Path, emulator: EmulatorProcess) -> None:
    root = tmp_path / "factory"
    root.mkdir()
    Repo(root, emulator)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "RECONCILER_KEY_VALUE": "", "RECONCILER_KEY_NAME": KEY_ENV, "TARGET": "",
           "GITHUB_OUTPUT": str(tmp_path / "out")}
    env.pop(KEY_ENV, None)
    subprocess.run(["bash", "-e", "-c", _plan_step()], cwd=root, env=env, check=True)
    assert (tmp_path / "out").read_text().strip() == "exitcode=2"
    assert "not refreshed" in (root / "reconciler-plan.md").read_text(encoding="utf-8")


def test_one_comment_is_created_then_updated() -> None:
    comments: list[dict] = [{"id": 1, "body": "Looks good to me"}]
    calls: list[tuple[str, str]] = []

    def github(request: httpx.Request) -> httpx.Response:
        calls.append((request.method, request.url.path))
        assert request.headers["Authorization"] == "Bearer t0ken"
        if request.method == "GET":
            return httpx.Response(200, json=comments)
        body = json.loads(request.content)["body"]
        if request.method == "POST":
            comments.append({"id": 2, "body": body})
            return httpx.Response(201, json=comments[-1])
        comments[1]["body"] = body
        return httpx.Response(200, json=comments[1])

    client = GitHub("https://api.github.com", "acme/factory", "t0ken", transport=httpx.MockTransport(github))
    assert client.upsert_comment(12, comment_body("**Plan: 1 to create**")) == "created"
    assert client.upsert_comment(12, comment_body("**Plan: 2 to create**")) == "updated"
    assert [c["body"].splitlines()[-1] for c in comments] == ["Looks good to me", "**Plan: 2 to create**"]
    assert calls[-1] == ("PATCH", "/repos/acme/factory/issues/comments/2")


def test_pull_request_of_merge_and_squash_commits() -> None:
    assert pull_request_of("Merge pull request #42 from acme/wo-0412\n\nΠαραγγελία 0412") == 42
    assert pull_request_of("Παραγγελία 0412: +3 γραμμές (#17)") == 17
    assert pull_request_of("direct push") is None


def test_commit_state_names_the_pull_request(sample_repo: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=sample_repo, check=True, capture_output=True, text=True).stdout

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@x", "commit", "-q", "--allow-empty", "-m",
        "Merge pull request #42 from acme/wo-0412")
    (sample_repo / "state").mkdir()
    (sample_repo / "state" / "local.json").write_text('{"format_version": 1}\n')
    env = {"GIT_AUTHOR_NAME": "bot", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "bot", "GIT_COMMITTER_EMAIL": "b@x"}
    first = run_cli("ci", "commit-state", cwd=sample_repo, env=env)
    assert first.returncode == 0 and first.stdout.strip() == "reconciler: state of 'local' after applying #42"
    assert git("log", "-1", "--format=%s") == "reconciler: state of 'local' after applying #42\n"
    assert git("show", "--name-only", "--format=").split() == ["state/local.json"]
    again = run_cli("ci", "commit-state", cwd=sample_repo, env=env)
    assert again.stdout.strip() == "State unchanged; nothing to commit."
