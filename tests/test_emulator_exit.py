"""The emulator server process stops cleanly on SIGTERM, as `EmulatorProcess.stop` and systemd stop it."""

from __future__ import annotations

from pathlib import Path

from .emulator_process import EmulatorProcess


def test_sigterm_ends_the_emulator_with_exit_code_0(tmp_path: Path) -> None:
    emulator = EmulatorProcess(tmp_path / "e.sqlite").start()
    proc = emulator.proc
    emulator.stop()
    assert proc.returncode == 0
