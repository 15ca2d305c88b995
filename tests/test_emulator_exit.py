"""The emulator server process stops cleanly on SIGTERM, as `EmulatorProcess.stop` and systemd stop it."""

from __future__ import annotations

from pathlib import Path

import pytest

from .emulator_process import EmulatorProcess


@pytest.mark.xfail(strict=True, reason="bug (emulator/server.py): uvicorn re-raises SIGTERM after its graceful "
                   "shutdown, so the process dies by the signal (exit -15): serve()'s finally and atexit hooks never "
                   "run (coverage of the emulator needs [tool.coverage.run] sigterm = true to save its data)")
def test_sigterm_ends_the_emulator_with_exit_code_0(tmp_path: Path) -> None:
    emulator = EmulatorProcess(tmp_path / "e.sqlite").start()
    proc = emulator.proc
    emulator.stop()
    assert proc.returncode == 0
