"""Politeness towards a real tenant: one request in flight across processes, spacing, and the halt.

Epoptia once blocked an integration's IP address for sending requests too fast.
The integration that survived sends one request at a time across all its
processes, waits at least 1 s between reads and 2 s around writes, and on 403
or 429 stops everything until a person looks. This module is that discipline,
shared by every process on the machine through files under .reconciler/.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock

from ..clock import timestamp
from ..fsio import atomic_write
from .errors import HaltedError
from .settings import Spacing


class Halt:
    """The halt file of one target: while it exists, no process sends anything."""

    def __init__(self, path: Path, target: str) -> None:
        self.path = path
        self.target = target

    def check(self) -> None:
        info = self.read()
        if info is not None:
            raise HaltedError(
                f"requests to target {self.target!r} are halted since {info.get('at')}: Epoptia answered "
                f"HTTP {info.get('status')} to {info.get('request')} ({info.get('reason')})",
                hint="Epoptia blocks clients that send too fast; check with Epoptia that the address is not "
                "blocked, then run `reconciler halt clear" + (f" --target {self.target}" if self.target else "") + "`",
            )

    def read(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {"at": "unknown", "status": "?", "request": "?", "reason": "unreadable halt file"}

    def set(self, status: int, request: str, reason: str) -> None:
        info = {"at": timestamp(), "status": status, "request": request, "reason": reason, "pid": os.getpid()}
        try:
            atomic_write(self.path, json.dumps(info, indent=2).encode())
        except OSError as error:
            raise HaltedError(
                f"Epoptia answered HTTP {status} to {request} ({reason}); the halt file {self.path} could not be "
                f"written ({error.strerror}), so other processes are not stopped",
                hint="stop every job that talks to this target until you know Epoptia is not blocking this address; "
                "fix the disk or permissions of the halt folder",
            ) from None

    def clear(self) -> bool:
        try:
            self.path.unlink()
            return True
        except FileNotFoundError:
            return False


class Throttle:
    """One request in flight per target across processes, with a minimum gap before each."""

    def __init__(self, folder: Path, target: str, spacing: Spacing) -> None:
        self.lock_path = folder / f"{target}.lock"
        self.stamp_path = folder / f"{target}.last"
        self.read_interval = spacing.read_interval
        self.write_interval = spacing.write_interval
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(self.lock_path))

    @contextmanager
    def slot(self, write: bool) -> Iterator[None]:
        with self._lock:
            last_end, last_write = self._last()
            gap = self.write_interval if (write or last_write) else self.read_interval
            wait = last_end + gap - time.time()
            if wait > 0:
                time.sleep(wait)
            try:
                yield
            finally:
                self._stamp(write)

    def _last(self) -> tuple[float, bool]:
        try:
            end, kind = self.stamp_path.read_text().split()
            return float(end), kind == "write"
        except (OSError, ValueError):
            return 0.0, False

    def _stamp(self, write: bool) -> None:
        if self.read_interval == 0 and self.write_interval == 0:
            return  # nothing to space: skip the file write
        self.stamp_path.write_text(f"{time.time()} {'write' if write else 'read'}")
