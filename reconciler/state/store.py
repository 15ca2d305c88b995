"""The state store: reads, writes (atomically, with a backup) and locks one target's state file.

It records a ``lineage`` (fixed when the file is first written) and a
``serial`` (bumped on every write); a lock file stops two writers.
"""

from __future__ import annotations

import getpass
import functools
import json
import mmap
import os
import socket
import uuid
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Iterator

import orjson
from filelock import FileLock, Timeout
from pydantic import ValidationError

from ..clock import timestamp
from ..errors import StateError, StateLockedError
from ..fsio import atomic_write
from ..localcache import get_blob, open_cache, put_blob
from ..resources import fingerprint
from .layout import header, index_lines, serialise
from .values import IndexEntry, ResourceState, Snapshot, State, address_problem


class StateStore:
    """Reads, writes and locks one target's state file.

    Between full writes, an apply saves each batch by appending what changed to
    ``<state>.wal`` (one JSON line per save, fsynced), so saving after every
    batch costs what the batch changed, not the whole file; reading lays the
    write-ahead lines over the file, and the next full write folds them in.
    A torn last line (a crash in the middle of an append) is ignored: that
    batch's journal is settled by the next apply, as for any crash.
    """

    def __init__(self, path: Path, cache_dir: Path | None = None) -> None:
        self.path = path
        self.backup_path = path.with_name(path.name + ".backup")
        self.wal_path = path.with_name(path.name + ".wal")
        self.lock_path = path.with_name(path.name + ".lock")
        self.lock_info_path = path.with_name(path.name + ".lock.json")
        self.cache_dir = cache_dir

    # ------------------------------------------------------------------ reading

    def read(self) -> State:
        """The whole current state, validated; a missing file is an empty state, a corrupt one an error."""
        return self.snapshot().to_state()

    def snapshot(self) -> Snapshot:
        """The current state for planning: indexed at once, entries parsed on demand."""
        try:
            with open(self.path, "rb") as fh:
                info = os.fstat(fh.fileno())
                # Mapped, not read: a 50 MB state costs only the pages of the entries a plan looks at.
                raw: Any = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if info.st_size else b""
        except FileNotFoundError:
            return self._with_wal(State().snapshot())
        except OSError as error:
            raise StateError(f"cannot read state file {self.path}: {error.strerror}",
                             hint="check the file's permissions") from None
        indexed = self._index(raw, info)
        if indexed is None:
            # Not in the layout this module writes (edited by hand, or damaged):
            # parse and validate it whole, which also names what is wrong.
            whole = self._parse_whole(bytes(raw))
            self._check_backup(whole.lineage, whole.serial)
            return self._with_wal(whole.snapshot())
        lineage, serial, index, span, meta, rows = indexed
        self._check_backup(lineage, serial)

        def load(addr: str) -> ResourceState:
            start, end = span(addr)
            try:
                return ResourceState.model_validate_json(raw[start:end])
            except ValidationError as error:
                raise self._corrupt(error, prefix=("resources", addr)) from None

        return self._with_wal(Snapshot(lineage, serial, index, load, fingerprint=meta["fingerprint"],
                                       size=meta["count"], rows=rows))

    def _index(self, raw: Any, info: os.stat_result) -> Any:
        """(lineage, serial, index, span, meta, rows) of the file; the index and rows decode on first use.

        ``span(addr)`` is where the entry's JSON is in the file, so one entry is parsed without the rest.

        From the local cache when the file did not change since it was last indexed; else built, with
        every entry validated once, and cached. None when the file is not in the layout this module writes.
        """
        db = open_cache(self.cache_dir / "state.sqlite") if self.cache_dir is not None else None
        name, key = f"state-index:{self.path.resolve()}", f"{info.st_size}:{info.st_mtime_ns}:{info.st_ino}"
        try:
            cached_meta = get_blob(db, name + ":meta", key)
            cached_rows = get_blob(db, name, key) if cached_meta is not None else None
            meta = _cached_meta(cached_meta) if cached_rows is not None else None
            if meta is not None and cached_rows is not None:
                held = cached_rows

                def decoded() -> dict[str, Any]:
                    try:
                        value = orjson.loads(held)
                        if isinstance(value, dict):
                            return value
                    except ValueError:
                        pass
                    # Damaged in the cache: indexed again from the file itself (validated when first indexed).
                    fast = index_lines(bytes(raw))
                    if fast is None:
                        raise StateError(f"the cached index of state file {self.path} does not match the file",
                                         hint="run the command again")
                    return {addr: [*entry, *fast[3][addr]] for addr, entry in fast[2].items()}

                rows = functools.cache(decoded)  # bytes in hand; decoded if needed
                return (meta["lineage"], meta["serial"],
                        lambda: {addr: IndexEntry(*row[:5]) for addr, row in rows().items()},
                        lambda addr: rows()[addr][5:7], meta, rows)
            fast = index_lines(bytes(raw))
            if fast is None:
                return None
            lineage, serial, index, spans = fast
            for addr, (start, end) in spans.items():  # every entry validated once, when the file is new to us
                problem = address_problem(addr)
                if problem is not None:
                    raise StateError(f"state file {self.path} is corrupt: {problem}", hint=self._restore_hint())
                try:
                    ResourceState.model_validate_json(raw[start:end])
                except ValidationError as error:
                    raise self._corrupt(error, prefix=("resources", addr)) from None
            meta = {"lineage": lineage, "serial": serial, "count": len(index),
                    "fingerprint": fingerprint((a, e.digest, e.archived) for a, e in index.items())}
            put_blob(db, name, key, orjson.dumps({addr: [*entry, *spans[addr]] for addr, entry in index.items()}))
            put_blob(db, name + ":meta", key, orjson.dumps(meta))
            return lineage, serial, index, spans.__getitem__, meta, None
        finally:
            if db is not None:
                db.close()

    def _parse_whole(self, raw: bytes) -> State:
        try:
            data = json.loads(raw, object_pairs_hook=_no_duplicate_keys)
        except ValueError as error:
            raise StateError(f"state file {self.path} is corrupt: {str(error)[:200]}",
                             hint=self._restore_hint()) from None
        try:
            return State.model_validate(data)
        except ValidationError as error:
            raise self._corrupt(error) from None

    def _check_backup(self, lineage: str | None, serial: int) -> None:
        """The backup is the version before this one: same lineage, not a newer serial. Anything else means
        the state file was replaced by an older or a foreign one."""
        try:
            with open(self.backup_path, "rb") as fh:
                head = header(fh.read(512))
        except OSError:
            return
        if head is None or lineage is None:
            return
        backup_lineage, backup_serial = head
        if backup_lineage is not None and backup_lineage != lineage:
            raise StateError(
                f"state file {self.path} (lineage {lineage}) is not the successor of its backup "
                f"{self.backup_path} (lineage {backup_lineage})",
                hint="the state file was replaced by another target's; restore the right one from git history, "
                "or remove the backup if the replacement was intended")
        # Equal serials are the moment between keeping the backup and putting the new file in place.
        if backup_serial > serial:
            raise StateError(
                f"state file {self.path} has serial {serial}, older than its backup's {backup_serial}: "
                "an older version of the state was put back",
                hint="an older state would make the next plan undo applied changes; restore the newest one from "
                "git history, or remove the backup if you really mean to go back")

    def _corrupt(self, error: ValidationError, prefix: tuple[str, ...] = ()) -> StateError:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(p) for p in prefix + tuple(first["loc"]))
        detail = f"{first['msg']} at {where}" if where else first["msg"]
        return StateError(f"state file {self.path} is corrupt: {detail}", hint=self._restore_hint())

    def _restore_hint(self) -> str:
        return (f"the previous version is kept at {self.backup_path}; inspect it and copy it over {self.path} "
                "if it is right" if self.backup_path.exists()
                else "no backup exists; restore the file from git history (git log -- <state file>)")

    # ------------------------------------------------------------------ the write-ahead file

    def _with_wal(self, snapshot: Snapshot) -> Snapshot:
        try:
            raw = self.wal_path.read_bytes()
        except FileNotFoundError:
            return snapshot
        except OSError as error:
            raise StateError(f"cannot read {self.wal_path}: {error.strerror}") from None
        changes: dict[str, ResourceState | None] = {}
        lineage, serial = snapshot.lineage, snapshot.serial
        for line in raw.splitlines():
            try:
                record = orjson.loads(line)
                changed = {addr: None if entry is None else ResourceState.model_validate(entry)
                           for addr, entry in record["changes"].items()}
                record_serial = int(record["serial"])
            except (ValueError, KeyError, TypeError, AttributeError, ValidationError):
                break  # a torn last line: what it held is settled by the journal
            problem = next(filter(None, map(address_problem, changed)), None)
            if problem is not None:
                raise StateError(f"{self.wal_path} is corrupt: {problem}",
                                 hint=f"remove {self.wal_path} if {self.path} is the state you want")
            if lineage is not None and record.get("lineage") != lineage:
                raise StateError(f"{self.wal_path} belongs to another state (lineage {record.get('lineage')})",
                                 hint=f"remove {self.wal_path} if {self.path} is the state you want")
            if record_serial <= serial:
                continue  # already folded into the file
            lineage, serial = record.get("lineage"), record_serial
            changes.update(changed)
        if serial == snapshot.serial:
            return snapshot
        result = snapshot.overlay(changes, serial=serial)
        result.lineage = lineage
        return result

    def append(self, lineage: str | None, serial: int, changes: dict[str, ResourceState | None]) -> tuple[str, int]:
        """Save ``changes`` over state (lineage, serial) as the next serial, by appending them to the
        write-ahead file; returns the new (lineage, serial). Costs what changed, whatever the state's size."""
        lineage = lineage or str(uuid.uuid4())
        serial += 1
        record = {"lineage": lineage, "serial": serial,
                  "changes": {a: None if e is None else e.model_dump(mode="json") for a, e in changes.items()}}
        fd = -1
        size = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # O_NOFOLLOW: a write-ahead file planted as a link (a cloned repository can hold one) would
            # make every apply append to whatever file it names, outside the repository.
            fd = os.open(self.wal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
            size = os.fstat(fd).st_size
            data = memoryview(orjson.dumps(record) + b"\n")
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
        except OSError as error:
            if fd >= 0:
                # A full disk or a file size limit can leave half a line; cut it off, or the next
                # append would be glued to it and lost with it.
                with suppress(OSError):
                    os.ftruncate(fd, size)
            raise StateError(f"cannot write {self.wal_path}: {error.strerror}",
                             hint="the state file is unchanged; free the disk or fix the permissions, "
                             "then run again (the journal settles the batch in flight)") from None
        finally:
            if fd >= 0:
                os.close(fd)
        return lineage, serial

    # ------------------------------------------------------------------ writing

    def write(self, state: State) -> State:
        """Write ``state`` as the next serial, atomically, keeping the old file as backup; folds the write-ahead file."""
        new = state.model_copy(
            update={"lineage": state.lineage or str(uuid.uuid4()), "serial": state.serial + 1}
        )
        try:
            atomic_write(self.path, serialise(new), backup=self.backup_path)
            if self.wal_path.exists():
                self.wal_path.unlink()
        except OSError as error:
            raise StateError(
                f"cannot write state file {self.path}: {error.strerror}",
                hint="the previous state file is unchanged; fix the problem (disk space, permissions) and run again",
            ) from None
        return new

    # ------------------------------------------------------------------ locking

    @contextmanager
    def lock(self, operation: str) -> Iterator[str]:
        """Hold the state lock for the duration; yields the lock id."""
        lock = FileLock(str(self.lock_path), timeout=0)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except Timeout:  # a TimeoutError, so an OSError: it must be caught first
            raise StateLockedError(
                f"state {self.path} is locked: {self._describe_holder()}",
                hint="wait for that run to finish; if its process is dead, run "
                "`reconciler force-unlock LOCK_ID` with the id above",
            ) from None
        except OSError as error:
            raise StateError(f"cannot lock state {self.path}: {error.strerror} ({self.lock_path})",
                             hint="the state's folder must be writable by whoever runs the reconciler") from None
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


def _cached_meta(raw: bytes | None) -> dict[str, Any] | None:
    """The cached summary of a state file; None when there is none or it is not one (a damaged cache)."""
    if raw is None:
        return None
    try:
        meta = orjson.loads(raw)
    except ValueError:
        return None
    if not isinstance(meta, dict) or not {"lineage", "serial", "count", "fingerprint"} <= meta.keys():
        return None
    return meta


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return f"uid {os.getuid()}"


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        twice = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"{twice[0]!r} appears twice (a resource address or a field must be unique)")
    return dict(pairs)

