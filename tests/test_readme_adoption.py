"""Every `reconciler` command of the README's "Adopting it in your factory" (and of "In CI") runs as written,
and the workflows it shows are the shipped actions, pinned, with permissions and protected keys."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from ruamel.yaml import YAML

from reconciler.gitops.branch import StateBranch, TargetFiles
from reconciler.gitops.git import Git
from reconciler.gitops.queue import TenantQueue

from .conftest import ROOT
from .e2e import KEY_ENV, Repo
from .emulator_process import EmulatorProcess
from .test_import import fill_by_another_route


def _section(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def _blocks(lang: str, title: str = "Adopting it in your factory") -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", _section(title), flags=re.S)


def _commands(title: str) -> list[str]:
    commands = [line.split("#")[0].strip() for block in _blocks("sh", title) for line in block.splitlines()]
    return [c for c in commands if c.startswith("reconciler ")]


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
        env={
            "GIT_AUTHOR_NAME": "p",
            "GIT_AUTHOR_EMAIL": "p@x",
            "GIT_COMMITTER_NAME": "p",
            "GIT_COMMITTER_EMAIL": "p@x",
            "PATH": "/usr/bin:/bin",
        },
    ).stdout


def test_every_reconciler_command_of_the_adoption_walkthrough_runs(tmp_path: Path, emulator: EmulatorProcess) -> None:
    fill_by_another_route(emulator)
    root = tmp_path / "acme-production-data"
    root.mkdir()
    _git(tmp_path, "init", "-q", "--bare", "-b", "main", str(tmp_path / "origin.git"))  # the repository on GitHub
    _git(root, "init", "-q", "-b", "main")
    _git(root, "remote", "add", "origin", str(tmp_path / "origin.git"))
    repo = Repo(root, emulator, manifests=False)
    config = YAML(typ="safe").load(_blocks("yaml")[0])
    target = config["targets"]["production"]
    # The walkthrough's configuration, pointed at the emulator instead of acme.epoptia.io.
    target.update(endpoint=emulator.url, api_key_env=KEY_ENV, throttle={"read_interval": 0, "write_interval": 0})
    target["apply_windows"] = {"timezone": "Europe/Athens", "allow": [{"from": "00:00", "to": "00:00"}]}
    with open(root / "reconciler.yaml", "w", encoding="utf-8") as fh:
        YAML().dump(config, fh)
    (root / ".gitignore").write_text(".reconciler/\n/state/\n")
    commands = _commands("Adopting it in your factory")
    assert commands == [
        "reconciler workflows",
        "reconciler ci run -- import --out manifests",
        "reconciler validate",
        "reconciler fmt --check",
        "reconciler ci run -- plan --detailed-exitcode",
        "reconciler init",
        "reconciler ci run -- drift --detailed-exitcode",
        "reconciler ci run -- halt clear",
    ]
    for command in commands:
        result = repo.run(*shlex.split(command)[1:])
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        if command.endswith("import --out manifests"):  # the imported state is where CI will read it
            state = _git(tmp_path / "origin.git", "show", "reconciler-state:state/production.json")
            assert '"WorkOrderLine/900"' in state
            _git(root, "add", "-A")
            _git(root, "commit", "-q", "-m", "Import what the tenant has")
            _git(root, "push", "-q", "origin", "main")
    assert "state/production.json" not in _git(root, "ls-files")  # main holds no state

    # "In CI": the queue, looked at and freed by a person; an approval; going through the queue from a laptop.
    held = TenantQueue(StateBranch(Git(root)), TargetFiles("state/production.json"), "production").acquire("apply")
    in_ci = _commands("In CI: state, queue, halt and review")
    assert in_ci == [
        "reconciler ci lease show",
        "reconciler ci lease break LEASE_ID",
        "reconciler ci apply --approve DIGEST",
    ]
    for command in in_ci:
        result = repo.run(
            *shlex.split(command.replace("LEASE_ID", held.lease.id).replace("DIGEST", "0123456789abcdef"))[1:]
        )
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        if command.endswith("lease show"):
            assert f"lease {held.lease.id}" in result.stdout
    # main's one commit (the import) sends nothing, so it is recorded as applied: the next merge starts there.
    applied = _git(tmp_path / "origin.git", "show", "reconciler-state:state/production.applied.json")
    assert _git(root, "rev-parse", "HEAD").strip() in applied


def test_the_walkthrough_workflows_use_the_shipped_actions_pinned_with_permissions_and_protected_keys() -> None:
    workflows = {w["name"]: w for w in (YAML(typ="safe").load(b) for b in _blocks("yaml") if "jobs:" in b)}
    assert set(workflows) == {"epoptia-plan", "epoptia-apply", "epoptia-drift", "epoptia-halt-clear"}
    uses = {
        name: [step["uses"] for job in w["jobs"].values() for step in job["steps"]] for name, w in workflows.items()
    }
    shipped = {"epoptia-plan": "plan", "epoptia-apply": "apply", "epoptia-drift": "run", "epoptia-halt-clear": "run"}
    for name, action in shipped.items():
        assert f"OWNER/epoptia-reconciler/.github/actions/{action}@V0_1_0_COMMIT" in uses[name]
        assert (ROOT / ".github" / "actions" / action / "action.yml").is_file()
        assert all(re.fullmatch(r"[\w/.-]+@([0-9a-f]{40}|V0_1_0_COMMIT)", u) for u in uses[name]), uses[name]
        workflow = workflows[name]
        assert workflow["permissions"] == {}
        for job in workflow["jobs"].values():
            assert job["permissions"]["contents"] == "write" and job.get("timeout-minutes", 360) < 120
            checkout = job["steps"][0]
            assert checkout["uses"].startswith("actions/checkout@") and checkout["with"]["persist-credentials"] is False
            with_key = any("secrets." in str(step.get("with", {})) for step in job["steps"])
            if with_key:  # the key is an environment's secret; the production one only runs on main
                assert job["environment"] == ("epoptia-plan" if name == "epoptia-plan" else "epoptia-production")
    apply = workflows["epoptia-apply"]
    assert apply["concurrency"] == {"group": "epoptia-apply-production", "cancel-in-progress": False}
    assert apply["jobs"]["apply"]["permissions"] == {"contents": "write", "pull-requests": "write", "actions": "read"}
    assert apply["jobs"]["apply"]["steps"][0]["with"]["fetch-depth"] == 0
    assert {"push", "schedule", "workflow_dispatch"} <= set(apply.get("on") or apply[True])
    assert "gh workflow run epoptia-apply.yml --ref main -f approve=DIGEST" in _section(
        "In CI: state, queue, halt and review"
    )
