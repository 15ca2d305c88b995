"""The state file: what was last applied to a target and what was last seen there.

One JSON file per target, meant to be committed and reviewed. It records a
``lineage`` (fixed when the file is first written) and a ``serial`` (bumped on
every write), and per resource the normalised payload last applied, its digest
and the production facts last observed. Writes are atomic and keep the previous
file as ``<state>.backup``; a lock file stops two writers.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import uuid
from contextlib import contextmanager
from pathlib import Path
import re
from typing import Any, Callable, Iterator, Literal, NamedTuple

from filelock import FileLock, Timeout
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .clock import timestamp
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


def drift_digest(payload: dict[str, Any]) -> str:
    """The digest of an entry that holds what Epoptia has after a change made there.

    Its prefix keeps it from ever equalling a manifest's digest, so the plan puts
    the manifests' values back. The state index below recognises it.
    """
    return "drift:" + digest(payload)


class ResourceState(_Frozen):
    # Field order is the file's order: the fields a plan needs for every resource
    # come first on each line, so Snapshot can index them without parsing payloads.
    digest: str
    parent: str | None = None
    archived: bool = False
    observed: Observed | None = None
    payload: dict[str, Any]

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

    def snapshot(self) -> "Snapshot":
        index = {
            addr: IndexEntry(res.digest, res.parent, res.archived, res.started)
            for addr, res in self.resources.items()
        }
        return Snapshot(self.lineage, self.serial, index, self.resources.__getitem__)


class IndexEntry(NamedTuple):
    """What a plan needs to know of every resource in the state, cheaply."""

    digest: str
    parent: str | None
    archived: bool
    started: bool


class Snapshot:
    """A read-only view of one state file for planning.

    The index (digest, parent, archived, started) covers every resource; the full
    entry, with its payload and production facts, is parsed and validated only
    when asked for. At 100,000 lines that is the difference between a plan that
    parses 50 MB of JSON and one that reads a few entries.
    """

    def __init__(self, lineage: str | None, serial: int, index: dict[str, IndexEntry],
                 load: Callable[[str], ResourceState]) -> None:
        self.lineage = lineage
        self.serial = serial
        self.index = index
        self._load = load
        self._loaded: dict[str, ResourceState] = {}

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, addr: object) -> bool:
        return addr in self.index

    def __getitem__(self, addr: str) -> ResourceState:
        if addr not in self.index:
            raise KeyError(addr)
        if addr not in self._loaded:
            self._loaded[addr] = self._load(addr)
        return self._loaded[addr]

    def get(self, addr: str) -> ResourceState | None:
        return self[addr] if addr in self.index else None

    def overlay(self, changes: dict[str, ResourceState | None]) -> "Snapshot":
        """This snapshot with some entries replaced (or removed, for None): e.g. what a refresh saw."""
        index = dict(self.index)
        for addr, res in changes.items():
            if res is None:
                index.pop(addr, None)
            else:
                index[addr] = IndexEntry(res.digest, res.parent, res.archived, res.started)

        def load(addr: str) -> ResourceState:
            replaced = changes.get(addr)
            return replaced if replaced is not None else self[addr]

        return Snapshot(self.lineage, self.serial, index, load)

    def to_state(self) -> State:
        return State(lineage=self.lineage, serial=self.serial, resources={addr: self[addr] for addr in self.index})


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
        fast = _index_lines(raw)
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
        data = _serialise(new)
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
            "created": timestamp(),
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


# ---------------------------------------------------------------------------- layout
#
# {
#   "format_version": 1,
#   "lineage": "…",
#   "serial": 12,
#   "resources": {
#     "Client/C-1001": {"digest":"…","parent":null,"archived":false,"observed":null,"payload":{…}},
#     …
#   }
# }
#
# Plain JSON that any tool reads, with one resource per line: a pull request
# that changes three lines of production data shows three changed lines of
# state, and a plan can index the file line by line.

_HEADER = re.compile(
    rb'\A\{\n  "format_version": 1,\n  "lineage": (null|"[0-9a-f-]+"),\n  "serial": (\d+),\n  "resources": \{\n'
)
_ENTRY = re.compile(
    rb'    ("(?:[^"\\]|\\.)*"): (\{"digest":"((?:drift:)?[0-9a-f]+)","parent":(null|"(?:[^"\\]|\\.)*"),'
    rb'"archived":(true|false),"observed":(null|\{"status":"(?:[^"\\]|\\.)*","started":(true|false)).*\}),?'
)
_FOOTER = b"  }\n}\n"


def _serialise(state: State) -> bytes:
    head = (
        f'{{\n  "format_version": {state.format_version},\n  "lineage": {json.dumps(state.lineage)},\n'
        f'  "serial": {state.serial},\n  "resources": {{\n'
    ).encode()
    lines = [
        b"    " + json.dumps(addr, ensure_ascii=False).encode() + b": " + state.resources[addr].model_dump_json().encode()
        for addr in sorted(state.resources)
    ]
    return head + b",\n".join(lines) + (b"\n" if lines else b"") + _FOOTER


def _index_lines(raw: bytes) -> tuple[str | None, int, dict[str, IndexEntry], dict[str, tuple[int, int]]] | None:
    """Index a file in the layout above without parsing its payloads; None if it is not in that layout."""
    head = _HEADER.match(raw)
    if head is None or not raw.endswith(_FOOTER):
        return None
    lineage = json.loads(head.group(1))
    index: dict[str, IndexEntry] = {}
    spans: dict[str, tuple[int, int]] = {}
    position, end = head.end(), len(raw) - len(_FOOTER)
    loads = json.loads
    while position < end:
        newline = raw.index(b"\n", position)
        match = _ENTRY.fullmatch(raw, position, newline)
        if match is None:
            return None
        addr_raw = match.group(1)
        addr = loads(addr_raw) if b"\\" in addr_raw else addr_raw[1:-1].decode()
        parent_raw = match.group(4)
        parent = None if parent_raw == b"null" else (
            loads(parent_raw) if b"\\" in parent_raw else parent_raw[1:-1].decode()
        )
        index[addr] = IndexEntry(match.group(3).decode(), parent, match.group(5) == b"true",
                                 match.group(7) == b"true")
        spans[addr] = match.span(2)
        position = newline + 1
    return lineage, int(head.group(2)), index, spans


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
