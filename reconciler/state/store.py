"""The state store: reads, writes (atomically, with a backup) and locks one target's state file.

It records a ``lineage`` (fixed when the file is first written) and a
``serial`` (bumped on every write); a lock file stops two writers.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from filelock import FileLock, Timeout
from pydantic import ValidationError

from ..clock import timestamp
from ..errors import StateError, StateLockedError
from ..fsio import atomic_write
from .layout import index_lines, serialise
from .values import ResourceState, Snapshot, State


class StateStore:
    """Reads, writes and locks one target's state file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.backup_path = path.with_name(path.name + ".backup")
        self.lock_path = path.with_name(path.name + ".lock")
        self.lock_info_path = path.with_name(path.name + ".lock.json")

    # ------------------------------------------------------------------ reading

    def read(self) -> State:
        """The whole current state, validated; a missing file is an empty state, a corrupt one an error."""
        return self.snapshot().to_state()

    def snapshot(self) -> Snapshot:
        """The current state for planning: indexed at once, entries parsed on demand."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return State().snapshot()
        except OSError as error:
            raise StateError(f"cannot read state file {self.path}: {error.strerror}") from None
        fast = index_lines(raw)
        if fast is None:
            # Not in the layout this module writes (edited by hand, or damaged):
            # parse and validate it whole, which also names what is wrong.
            return self._parse_whole(raw).snapshot()
        lineage, serial, index, spans = fast

        def load(addr: str) -> ResourceState:
            start, end = spans[addr]
            try:
                return ResourceState.model_validate_json(raw[start:end])
            except ValidationError as error:
                raise self._corrupt(error, prefix=("resources", addr)) from None

        return Snapshot(lineage, serial, index, load)

    def _parse_whole(self, raw: bytes) -> State:
        try:
            return State.model_validate_json(raw)
        except ValidationError as error:
            raise self._corrupt(error) from None

    def _corrupt(self, error: ValidationError, prefix: tuple[str, ...] = ()) -> StateError:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(p) for p in prefix + tuple(first["loc"]))
        detail = f"{first['msg']} at {where}" if where else first["msg"]
        backup = (
            f"the previous version is kept at {self.backup_path}; inspect it and copy it over {self.path} "
            "if it is right"
            if self.backup_path.exists()
            else "no backup exists; restore the file from git history (git log -- <state file>)"
        )
        return StateError(f"state file {self.path} is corrupt: {detail}", hint=backup)

    # ------------------------------------------------------------------ writing

    def write(self, state: State) -> State:
        """Write ``state`` as the next serial, atomically, keeping the old file as backup."""
        new = state.model_copy(
            update={"lineage": state.lineage or str(uuid.uuid4()), "serial": state.serial + 1}
        )
        try:
            atomic_write(self.path, serialise(new), backup=self.backup_path)
        except OSError as error:
            raise StateError(
                f"cannot write state file {self.path}: {error.strerror}",
                hint="the previous state file is unchanged; fix the problem and run again",
            ) from None
        return new

    # ------------------------------------------------------------------ locking

    @contextmanager
    def lock(self, operation: str) -> Iterator[str]:
        """Hold the state lock for the duration; yields the lock id."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.lock_path), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise StateLockedError(
                f"state {self.path} is locked: {self._describe_holder()}",
                hint="wait for that run to finish; if its process is dead, run "
                "`reconciler force-unlock LOCK_ID` with the id above",
            ) from None
        lock_id = str(uuid.uuid4())
        info = {
            "id": lock_id,
            "operation": operation,
            "owner": _user(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "created": timestamp(),
        }
        try:
            atomic_write(self.lock_info_path, json.dumps(info, indent=2).encode(), durable=False)
            yield lock_id
        finally:
            try:
                self.lock_info_path.unlink()
            except FileNotFoundError:
                pass
            lock.release()

    def lock_info(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.lock_info_path.read_text())
        except (OSError, ValueError):
            return None

    def _describe_holder(self) -> str:
        info = self.lock_info()
        if not info:
            return "held by another process (no owner information recorded)"
        return (
            f"held by {info.get('owner')} on {info.get('host')} (pid {info.get('pid')}) "
            f"since {info.get('created')} for {info.get('operation')}; lock id {info.get('id')}"
        )

    def force_unlock(self, lock_id: str) -> None:
        """Break a lock whose owner is gone, if ``lock_id`` names it."""
        info = self.lock_info()
        if info is None:
            raise StateError(f"state {self.path} has no recorded lock to remove")
        if info.get("id") != lock_id:
            raise StateError(
                f"lock id {lock_id!r} does not match the lock on {self.path} ({info.get('id')})",
                hint="copy the id from the 'locked' error message",
            )
        for path in (self.lock_info_path, self.lock_path):
            try:
                path.unlink()
            except FileNotFoundError:
                pass


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return f"uid {os.getuid()}"
