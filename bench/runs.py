"""What the benches share: timing a command as its own process, medians, and the machine they ran on.

Each run is a separate process, timed by wall clock and by its own CPU time (user + system, from
the rusage ``os.wait4`` returns, which includes the children it waited for), with its peak
memory (max RSS). The package is byte-compiled first (``compiled``): an installed wheel has its
bytecode, and timing the compilation of the sources would not be honest.
"""

from __future__ import annotations

import compileall
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import reconciler


class Run(NamedTuple):
    wall: float
    cpu: float
    rss_kib: int

    @property
    def rss_mb(self) -> float:
        return self.rss_kib / 1024


def compiled() -> None:
    """Byte-compile the reconciler package, as an installed wheel would be."""
    compileall.compile_dir(str(Path(reconciler.__file__).parent), quiet=1)


def timed(cmd: list[str], cwd: Path, expect: Iterable[int] = (0,), env: dict[str, str] | None = None) -> Run:
    """Wall time, CPU time (user + system) and peak RSS (KiB) of one process; exits on an unexpected code."""
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: a chatty process never blocks on it
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, **(env or {})})
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        if code not in set(expect):
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd)} exited {code}: {err.read().decode(errors='replace')[-3000:]}")
    return Run(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)


def medians(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.wall for r in runs),
        statistics.median(r.cpu for r in runs),
        int(statistics.median(r.rss_kib for r in runs)),
    )


def reconciler_command() -> list[str]:
    """The `reconciler` console script next to this Python (what a user runs), else `python -m reconciler`."""
    script = Path(sys.executable).parent / "reconciler"
    return [str(script)] if script.exists() else [sys.executable, "-m", "reconciler"]


def machine() -> str:
    """One line on where and when: date, CPUs, load, Python."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{dt.date.today().isoformat()}; {os.cpu_count()} CPUs; load {load} (1/5/15 min); "
        f"Python {platform.python_version()}"
    )
