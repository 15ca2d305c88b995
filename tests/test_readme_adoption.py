"""Every `reconciler` command of the README's "Adopting it in your factory" runs as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from ruamel.yaml import YAML

from .conftest import ROOT
from .e2e import KEY_ENV, Repo
from .emulator_process import EmulatorProcess
from .test_import import fill_by_another_route


def _section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("## Adopting it in your factory", 1)[1].split("\n## ", 1)[0]


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", _section(), flags=re.S)


def test_every_reconciler_command_of_the_adoption_walkthrough_runs(tmp_path: Path, emulator: EmulatorProcess) -> None:
    fill_by_another_route(emulator)
    root = tmp_path / "acme-production-data"
    root.mkdir()
    repo = Repo(root, emulator, manifests=False)
    config = YAML(typ="safe").load(_blocks("yaml")[0])
    target = config["targets"]["production"]
    # The walkthrough's configuration, pointed at the emulator instead of acme.epoptia.io.
    target.update(endpoint=emulator.url, api_key_env=KEY_ENV, throttle={"read_interval": 0, "write_interval": 0})
    target["apply_windows"] = {"timezone": "Europe/Athens", "allow": [{"from": "00:00", "to": "00:00"}]}
    with open(root / "reconciler.yaml", "w", encoding="utf-8") as fh:
        YAML().dump(config, fh)
    commands = [line.split("#")[0].strip() for block in _blocks("sh") for line in block.splitlines()]
    commands = [c for c in commands if c.startswith("reconciler ")]
    assert commands == ["reconciler workflows", "reconciler import --out manifests", "reconciler validate",
                        "reconciler fmt --check", "reconciler plan --detailed-exitcode",
                        "reconciler init", "reconciler drift --detailed-exitcode"]
    for command in commands:
        result = repo.run(*shlex.split(command)[1:])
        assert result.returncode == 0, (command, result.stdout, result.stderr)


def test_the_walkthrough_workflows_use_the_shipped_actions() -> None:
    workflows = [YAML(typ="safe").load(b) for b in _blocks("yaml") if "jobs:" in b]
    assert len(workflows) == 2
    uses = [step["uses"] for w in workflows for step in w["jobs"][next(iter(w["jobs"]))]["steps"]]
    assert "OWNER/epoptia-reconciler/.github/actions/plan@main" in uses
    assert "OWNER/epoptia-reconciler/.github/actions/apply@main" in uses
    apply = next(w for w in workflows if w["name"] == "epoptia-apply")
    assert apply["concurrency"] == {"group": "epoptia-apply-production", "cancel-in-progress": False}
    for name in ("plan", "apply"):
        assert (ROOT / ".github" / "actions" / name / "action.yml").is_file()
