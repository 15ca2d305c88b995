from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def write(base: Path, rel: str, text: str) -> Path:
    path = base / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, input: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    full_env.pop("RECONCILER_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        env=full_env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Parse caches of the test run go to a folder of its own, never the user's ~/.cache."""
    os.environ["RECONCILER_CACHE_DIR"] = str(tmp_path_factory.mktemp("reconciler-cache"))


@pytest.fixture
def sample_repo(tmp_path: Path) -> Path:
    """A copy of the sample factory and its reconciler.yaml in an empty folder."""
    shutil.copytree(ROOT / "manifests", tmp_path / "manifests")
    shutil.copy(ROOT / "reconciler.yaml", tmp_path / "reconciler.yaml")
    return tmp_path


@pytest.fixture
def emulator(tmp_path: Path):
    """A fresh emulator server process on a free 127.0.0.1 port, with its SQLite file in tmp_path."""
    from .emulator_process import EmulatorProcess

    process = EmulatorProcess(tmp_path / "emulator.sqlite").start()
    try:
        yield process
    finally:
        process.stop()
