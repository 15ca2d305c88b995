"""The GitHub side, statically and in parts: workflow and action files, pins, permissions, the plan step,
the comment, the REST client, LICENSE and the pre-commit hooks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from ruamel.yaml import YAML

from reconciler.gitops import GitHub, comment_body, pull_request_of
from reconciler.gitops.github import GitHubRefused
from reconciler.render.markdown import MARKER

from .conftest import ROOT
from .e2e import KEY_ENV, Repo
from .emulator_process import EmulatorProcess
from .fake_github import READ_TOKEN, WRITE_TOKEN, Artifact, FakeGitHub

GOLDEN = Path(__file__).parent / "golden"
yaml = YAML(typ="safe")
FILES = sorted((ROOT / ".github").rglob("*.yml"))
ACTIONS = {p.parent.name: yaml.load(p.read_text(encoding="utf-8")) for p in FILES if p.name == "action.yml"}
WORKFLOWS = {p.name: yaml.load(p.read_text(encoding="utf-8")) for p in FILES if p.parent.name == "workflows"}
PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def test_workflow_and_action_files_are_valid() -> None:
    assert set(ACTIONS) == {"plan", "apply", "run"} and set(WORKFLOWS) == {"ci.yml"}
    for name, doc in ACTIONS.items():
        text = (ROOT / ".github" / "actions" / name / "action.yml").read_text()
        assert doc["runs"]["using"] == "composite" and doc["name"] and doc["description"]
        for step in doc["runs"]["steps"]:
            assert "uses" in step or ("run" in step and step.get("shell") == "bash"), (name, step)
        for expression in re.findall(r"\$\{\{\s*inputs\.([\w-]+)", text):
            assert expression in doc["inputs"], (name, expression)
        for expression in re.findall(r"\$\{\{\s*steps\.([\w-]+)\.", text):
            assert expression in {s.get("id") for s in doc["runs"]["steps"]}, (name, expression)


def test_every_action_used_is_pinned_by_commit() -> None:
    for path in FILES:
        for uses in re.findall(r"uses:\s*(\S+)", path.read_text(encoding="utf-8")):
            assert uses.startswith("./") or PIN.match(uses), (path.name, uses)
        for line in path.read_text(encoding="utf-8").splitlines():
            if "uses:" in line and "@" in line:
                assert re.search(r"# v\d+\.\d+\.\d+$", line), line  # the version the commit is, for people


def test_permissions_everywhere_and_no_persisted_token() -> None:
    for name, doc in WORKFLOWS.items():
        assert "permissions" in doc, name
        for job in doc["jobs"].values():
            assert "permissions" in job, name
            for step in job["steps"]:
                if "actions/checkout" in step.get("uses", ""):
                    assert step["with"]["persist-credentials"] is False


def test_scripts_take_inputs_through_the_environment_and_the_action_path_from_github_action_path() -> None:
    for name, doc in ACTIONS.items():
        for step in doc["runs"]["steps"]:
            assert "${{" not in step.get("run", ""), (name, step.get("id"))  # no template injection
    for path in FILES:
        assert "github.action_path" not in path.read_text(encoding="utf-8"), path  # breaks in container jobs
    assert all("$GITHUB_ACTION_PATH" in (ROOT / ".github/actions" / n / "action.yml").read_text() for n in ACTIONS)


def test_the_actions_expose_the_reconcilers_options() -> None:
    shared = {"target", "api-key", "api-key-env", "working-directory", "github-token", "state-branch"}
    options = {"refresh", "skip-blocked", "allow-mass-delete", "only", "exclude"}
    assert shared | options <= set(ACTIONS["plan"]["inputs"])
    assert shared | {
        "refresh",
        "skip-blocked",
        "allow-mass-delete",
        "only",
        "exclude",
        "ignore-window",
        "approve",
        "main-branch",
    } <= set(ACTIONS["apply"]["inputs"])
    assert shared | {"command"} <= set(ACTIONS["run"]["inputs"])


def _requirement_name(spec: str) -> str:
    return re.split(r"[<>=!~\[ ;]", spec, maxsplit=1)[0].lower().replace("_", "-").replace(".", "-")


def test_dependencies_come_from_the_constraints_file_through_a_cache() -> None:
    import tomllib

    pins = {}
    for line in (ROOT / ".github" / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[_requirement_name(name)] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = [*project["project"]["dependencies"], *project["build-system"]["requires"]]
    assert {_requirement_name(r) for r in needed} <= set(pins)
    from pip._vendor.packaging.requirements import Requirement

    for spec in needed:
        requirement = Requirement(spec)
        assert requirement.specifier.contains(pins[_requirement_name(spec)]), spec
    for name, doc in ACTIONS.items():
        steps = {s.get("id"): s for s in doc["runs"]["steps"]}
        assert steps["install"]["env"]["PIP_CONSTRAINT"] == "${{ steps.deps.outputs.constraints }}", name
        cache = next(s for s in doc["runs"]["steps"] if "actions/cache" in s.get("uses", ""))
        assert cache["with"]["path"] == "${{ steps.deps.outputs.cache }}", name


def _git_repo(root: Path) -> None:
    subprocess.run(["git", "init", "-q", "--bare", str(root.parent / "origin.git")], check=True)
    for args in (["init", "-q", "-b", "main"], ["remote", "add", "origin", str(root.parent / "origin.git")]):
        subprocess.run(["git", *args], cwd=root, check=True)


def _plan_step() -> str:
    return next(s["run"] for s in ACTIONS["plan"]["runs"]["steps"] if s.get("id") == "plan")


def test_the_plan_step_run_locally_gives_the_golden_comment(tmp_path: Path, emulator: EmulatorProcess) -> None:
    root = tmp_path / "factory"
    root.mkdir()
    repo = Repo(root, emulator)
    _git_repo(root)
    assert repo.run("apply", "--auto-approve").returncode == 0
    repo.edit("manifests/work-orders/2026-12/WO-26-0414.yaml", "workstation: ΜΟΝΤΑΖ 2", "workstation: ΜΟΝΤΑΖ 3")
    repo.edit(
        "manifests/work-orders/2026-12/WO-26-0414.yaml", "comments: Export order", "comments: Export order, 2 crates"
    )
    output = tmp_path / "github_output"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "NO_COLOR": "1",
        "RECONCILER_KEY_VALUE": emulator.key,
        "RECONCILER_KEY_NAME": KEY_ENV,
        "TARGET": "",
        "PR_NUMBER": "12",
        "GITHUB_OUTPUT": str(output),
    }
    result = subprocess.run(["bash", "-e", "-c", _plan_step()], cwd=root, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert output.read_text().splitlines() == ["exitcode=2", "artifact=epoptia-plan-test-pr12"]
    plan = json.loads((root / "reconciler-plan.json").read_text(encoding="utf-8"))
    assert plan["summary"]["update"] == 2 and plan["summary"]["blocked"] == 0
    markdown = (root / "reconciler-plan.md").read_text(encoding="utf-8")
    assert "Queue:" not in markdown  # the queue's progress stays in the log
    body = comment_body(markdown, sha="0123456789abcdef0123", run_url="https://github.com/acme/factory/actions/runs/1")
    body = re.sub(r"lineage [0-9a-f-]{36}", "lineage <lineage>", body)
    golden = GOLDEN / "pr-comment.md"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(body, encoding="utf-8")
    assert body == golden.read_text(encoding="utf-8")
    assert body.startswith(MARKER) and "```mermaid" in body and ":::added" in body and emulator.key not in body


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


def test_the_client_reads_artifacts_without_sending_the_token_to_storage_and_names_what_a_403_needs(
    tmp_path: Path,
) -> None:
    hub = FakeGitHub(tmp_path)
    try:
        hub.artifacts[5] = Artifact(
            5, "epoptia-plan-production-pr3", "a" * 40, 1, {"reconciler-plan.json": b"{}"}, "2026-11-25T10:00:00Z"
        )
        client = GitHub(hub.url, hub.repository, WRITE_TOKEN)
        [found] = client.artifacts("epoptia-plan-production-pr3")
        assert found["workflow_run"]["head_sha"] == "a" * 40
        assert client.artifact_file(5, "reconciler-plan.json") == b"{}" and client.artifact_file(5, "x") is None
        assert hub.leaked_auth == [] and client.artifacts("other") == []
        with pytest.raises(GitHubRefused, match="HTTP 403") as refused:
            GitHub(hub.url, hub.repository, READ_TOKEN).upsert_comment(3, "plan")
        assert refused.value.status == 403 and "fork" in (refused.value.hint or "")
    finally:
        hub.close()


def test_license_is_the_apache_license_pyproject_names() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text
    assert 'license = { text = "Apache-2.0" }' in (ROOT / "pyproject.toml").read_text()


def test_pre_commit_hooks_and_the_rev_people_are_told_to_use() -> None:
    hooks = yaml.load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert {h["id"] for h in hooks} == {"reconciler-validate", "reconciler-fmt"}
    for hook in hooks:
        assert hook["language"] == "python" and hook["entry"].startswith("reconciler ")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    revs = re.findall(r"^\s*#?\s*rev:\s*(\S+)", readme + (ROOT / ".pre-commit-hooks.yaml").read_text(), re.M)
    assert revs and all(re.fullmatch(r"v\d+\.\d+\.\d+", rev) for rev in revs), revs  # a tag, never a branch
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert version and all(rev == f"v{version.group(1)}" for rev in revs)
