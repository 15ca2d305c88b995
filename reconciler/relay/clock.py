"""The relay's sense of time, injectable so that tests can run an hour in seconds.

The clock decides the policy (periods, backoff). How long a request may still
be running at Epoptia is real time, and never comes from here.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds (any origin, but one that survives a restart: the spool stores these times)."""

    def wait(self, wake: threading.Event, seconds: float) -> bool:
        """Sleep up to `seconds` of this clock's time, or until `wake` is set; True if woken."""


class SystemClock:
    def now(self) -> float:
        return time.time()

    def wait(self, wake: threading.Event, seconds: float) -> bool:
        return wake.wait(max(0.0, seconds))


class ManualClock:
    """Moves only when told: for tests that drive the relay in-process."""

    def __init__(self, start: float = 0.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        self.t += seconds
        return self.t

    def wait(self, wake: threading.Event, seconds: float) -> bool:
        return wake.wait(0.005)


class FileClock:
    """The time written in a file by another process (a test); polled, since it jumps."""

    def __init__(self, path: Path, poll: float = 0.02) -> None:
        self.path = path
        self.poll = poll

    def now(self) -> float:
        for _ in range(50):  # the writer replaces the file atomically, but be patient with a torn read
            try:
                return float(self.path.read_text().strip() or 0)
            except (OSError, ValueError):
                time.sleep(0.002)
        return 0.0

    def wait(self, wake: threading.Event, seconds: float) -> bool:
        return wake.wait(min(self.poll, max(0.0, seconds)))
