"""A manifests repository wired to an emulator server process, driven through the real CLI."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .conftest import ROOT, run_cli
from .emulator_process import KEY, EmulatorProcess

KEY_ENV = "EPOPTIA_TEST_KEY"


class Repo:
    def __init__(self, root: Path, emulator: EmulatorProcess, *, batch_size: int = 200, manifests: bool = True) -> None:
        self.root, self.emulator = root, emulator
        if manifests:
            shutil.copytree(ROOT / "manifests", root / "manifests")
        self.configure(batch_size)
        self.outputs: list[str] = []

    def configure(self, batch_size: int = 200, attempts: int = 3) -> None:
        (self.root / "reconciler.yaml").write_text(
            "manifests: manifests\ndefault_target: test\ntargets:\n  test:\n"
            f"    endpoint: {self.emulator.url}\n    api_key_env: {KEY_ENV}\n    state: state/test.json\n"
            "    throttle: {read_interval: 0, write_interval: 0}\n"
            f"    retries: {{attempts: {attempts}, backoff: 0.05}}\n"
            f"    profile: {{batch_size: {batch_size}}}\n",
            encoding="utf-8",
        )

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        result = run_cli(*args, cwd=self.root, env={KEY_ENV: self.emulator.key, **(env or {})}, timeout=timeout)
        self.outputs += [result.stdout, result.stderr]
        return result

    def edit(self, rel: str, old: str, new: str) -> None:
        path = self.root / rel
        text = path.read_text(encoding="utf-8")
        assert old in text, old
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    def every_file_text(self) -> str:
        out = []
        for path in self.root.rglob("*"):
            if path.is_file() and path.suffix not in (".sqlite", ".pickle") and "-wal" not in path.name:
                out.append(path.read_text(encoding="utf-8", errors="replace"))
        return "\n".join(out)


WO_0412 = "manifests/work-orders/2026-12/WO-26-0412.yaml"


def sample_line_ids() -> set[str]:
    return {
        "131319",
        "131320",
        "131321",
        "131330",
        "131331",
        "131332",
        "131340",
        "131341",
        "131350",
        "131351",
        "131352",
    }


__all__ = ["KEY", "KEY_ENV", "WO_0412", "Repo", "sample_line_ids"]
