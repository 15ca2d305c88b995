"""The state file: what was last applied to a target and what was last seen there.

One JSON file per target, meant to be committed and reviewed. It records a
``lineage`` (fixed when the file is first written) and a ``serial`` (bumped on
every write), and per resource the normalised payload last applied, its digest
and the production facts last observed. Writes are atomic and keep the previous
file as ``<state>.backup``; a lock file stops two writers.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import socket
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Literal

from filelock import FileLock, Timeout
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import StateError, StateLockedError
from .resources import DesiredResource, digest

STATE_FORMAT_VERSION = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StepProgress(_Frozen):
    """One routing step as the shop floor reports it."""

    workstation: str | None = None
    job_task: str | None = None
    status: str = "not_started"
    qty_done: float = 0


class Observed(_Frozen):
    """Production facts of a line, owned by the shop floor and never 'fixed' by a plan."""

    status: str
    started: bool
    archived: bool = False
    steps: tuple[StepProgress, ...] = ()
    observed_at: str

    def fingerprint(self) -> str:
        # When it was seen does not matter for staleness, only what was seen.
        return digest(self.model_dump(mode="json", exclude={"observed_at"}))

    def progress(self) -> tuple[StepProgress | None, float]:
        """The furthest step that has work on it, and its quantity done."""
        furthest = None
        for step in self.steps:
            if step.status != "not_started" or step.qty_done > 0:
                furthest = step
        return furthest, (furthest.qty_done if furthest else 0)


class ResourceState(_Frozen):
    payload: dict[str, Any]
    digest: str
    archived: bool = False
    parent: str | None = None
    observed: Observed | None = None

    @property
    def started(self) -> bool:
        return bool(self.observed and self.observed.started)

    @classmethod
    def applied(cls, resource: DesiredResource, observed: Observed | None = None) -> "ResourceState":
        """What the state records once ``resource`` has been written to Epoptia."""
        return cls(
            payload=resource.payload,
            digest=resource.digest,
            archived=resource.archived,
            parent=resource.parent,
            observed=observed,
        )


class State(_Frozen):
    format_version: Literal[1] = STATE_FORMAT_VERSION
    lineage: str | None = None
    serial: int = 0
    resources: dict[str, ResourceState] = Field(default_factory=dict)

    def children(self, work_order: str) -> list[tuple[str, ResourceState]]:
        return [(addr, res) for addr, res in self.resources.items() if res.parent == work_order]


class StateStore:
    """Reads, writes and locks one target's state file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.backup_path = path.with_name(path.name + ".backup")
        self.lock_path = path.with_name(path.name + ".lock")
        self.lock_info_path = path.with_name(path.name + ".lock.json")

    # ------------------------------------------------------------------ reading

    def read(self) -> State:
        """The current state; a missing file is an empty state, a corrupt one an error."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return State()
        except OSError as error:
            raise StateError(f"cannot read state file {self.path}: {error.strerror}") from None
        try:
            return State.model_validate_json(raw)
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            detail = f"{first['msg']} at {where}" if where else first["msg"]
            backup = (
                f"the previous version is kept at {self.backup_path}; inspect it and copy it over {self.path} "
                "if it is right"
                if self.backup_path.exists()
                else "no backup exists; restore the file from git history (git log -- <state file>)"
            )
            raise StateError(f"state file {self.path} is corrupt: {detail}", hint=backup) from None

    # ------------------------------------------------------------------ writing

    def write(self, state: State) -> State:
        """Write ``state`` as the next serial, atomically, keeping the old file as backup."""
        new = state.model_copy(
            update={"lineage": state.lineage or str(uuid.uuid4()), "serial": state.serial + 1}
        )
        ordered = new.model_copy(update={"resources": dict(sorted(new.resources.items()))})
        data = ordered.model_dump_json(indent=2).encode() + b"\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            if self.path.exists():
                # Link, then rename over the backup: at no moment is there no state file.
                backup_tmp = self.backup_path.with_name(f".{self.backup_path.name}.{os.getpid()}.tmp")
                if backup_tmp.exists():
                    backup_tmp.unlink()
                os.link(self.path, backup_tmp)
                os.replace(backup_tmp, self.backup_path)
            os.replace(tmp, self.path)
            _fsync_dir(self.path.parent)
        except OSError as error:
            raise StateError(
                f"cannot write state file {self.path}: {error.strerror}",
                hint="the previous state file is unchanged; fix the problem and run again",
            ) from None
        finally:
            if tmp.exists():
                tmp.unlink()
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
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        try:
            self.lock_info_path.write_text(json.dumps(info, indent=2))
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


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
