"""The state store: reads, writes (atomically, with a backup) and locks one target's state file.

It records a ``lineage`` (fixed when the file is first written) and a
``serial`` (bumped on every write); a lock file stops two writers.
"""

from __future__ import annotations

import bisect
import errno
import functools
import getpass
import json
import os
import stat
import uuid
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from ..clock import timestamp
from ..errors import StateError, StateLockedError
from ..fsio import atomic_write
from ..localcache import get_blob, open_cache, put_blob
from ..resources import fingerprint
from .layout import Row, Summary, find_row, fits, header, index_lines, sealed_summary, serialise, serialise_entries
from .values import STATE_FORMAT_VERSION, IndexEntry, ResourceState, Snapshot, State, address_problem


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
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return self._with_wal(State().snapshot())
        except OSError as error:
            raise StateError(
                f"cannot read state file {self.path}: {error.strerror}", hint="check the file's permissions"
            ) from None
        try:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):  # opens, but cannot be read
                raise StateError(
                    f"cannot read state file {self.path}: {os.strerror(errno.EISDIR)}",
                    hint="check the file's permissions",
                )
            indexed = self._index(fd, info)
            if indexed is None:
                # Not in the layout this module writes (edited by hand, or damaged):
                # parse and validate it whole, which also names what is wrong.
                with open(fd, "rb", closefd=False) as fh:
                    fh.seek(0)  # indexing read part of it
                    whole = self._parse_whole(fh.read())
                self._check_backup(whole.lineage, whole.serial)
                os.close(fd)
                return self._with_wal(whole.snapshot())
            meta, row, rows = indexed
            lineage, serial = meta["lineage"], meta["serial"]
            self._check_backup(lineage, serial)
        except BaseException:
            os.close(fd)
            raise

        # Each entry is read from the file when asked for (the descriptor keeps this version of the file, even
        # once a write replaces it): a plan that looks at a few entries reads a few, and a pass over all of them
        # holds one at a time (a mapped file would keep every page it touched, 100 MB at 100,000 lines).
        def entry_json(addr: str) -> bytes:
            found = row(addr)
            if found is None:
                raise KeyError(addr)
            start, end = found[5], found[6]
            return os.pread(fd, end - start, start)

        def load(addr: str) -> ResourceState:
            try:
                return ResourceState.model_validate_json(entry_json(addr))
            except ValidationError as error:
                raise self._corrupt(error, prefix=("resources", addr)) from None

        snapshot = Snapshot(
            lineage,
            serial,
            lambda: {addr: IndexEntry(*r[:5]) for addr, r in rows().items()},
            load,
            fingerprint=meta["fingerprint"],
            size=meta["count"],
            rows=rows,
            row=row,
            raw=entry_json,
        )
        weakref.finalize(snapshot, os.close, fd)
        return self._with_wal(snapshot)

    def _index(self, fd: int, info: os.stat_result) -> Any:
        """(meta, row, rows) of the file: its summary (lineage, serial, count, fingerprint), ``row(addr)`` one
        resource's row (its index entry, then where its JSON is in the file), ``rows()`` all of them.

        From the local cache when the file did not change since it was last indexed. Else, for a sealed
        file with a summary, the summary is the file's own: a plan whose manifests match its fingerprint
        indexes nothing, one that looks at a few resources finds them by bisecting the sorted file, and
        the rows are indexed only when all of them are asked for. Else indexed now. None when the file
        is not in the layout this module writes.
        """
        db = open_cache(self.cache_dir / "state.sqlite") if self.cache_dir is not None else None
        name, key = f"state-index:{self.path.resolve()}", f"{info.st_size}:{info.st_mtime_ns}:{info.st_ino}"
        try:
            meta = _cached_meta(get_blob(db, name + ":meta", key))
            held = [get_blob(db, f"{name}:{i}", key) for i in range(len(meta["shards"]))] if meta else []
            if meta is not None and all(blob is not None for blob in held):
                return self._cached_index(fd, meta, held)
            summary = _cached_summary(get_blob(db, name + ":summary", key))
            if summary is None or not fits(fd, summary):
                summary = sealed_summary(fd, info.st_size)
                if summary is not None:
                    put_blob(db, name + ":summary", key, orjson.dumps(list(summary)))
        finally:
            if db is not None:
                db.close()
        if summary is None:
            return self._build_index(fd, name, key)

        @functools.cache
        def built() -> tuple[Callable[[str], Row | None], Callable[[], dict[str, Row]]]:
            found = self._build_index(fd, name, key)
            if found is None:  # the descriptor holds the version whose checksum matched: it cannot change
                raise StateError(f"state file {self.path} could not be indexed", hint="run the command again")
            return found[1], found[2]

        looked: dict[str, Row | None] = {}

        def lookup(addr: str) -> Row | None:
            # A few resources are found in the sorted file by bisecting it; past a few hundred, one pass
            # indexing them all costs less (and is cached for the next run).
            if addr in looked:
                return looked[addr]
            if built.cache_info().currsize or len(looked) >= _LOOKUPS:
                return built()[0](addr)
            found, row = find_row(fd, summary, addr)
            if not found:  # a line not in the layout: only indexing the file tells what it holds
                return built()[0](addr)
            looked[addr] = row
            return row

        meta = {
            "lineage": summary.lineage,
            "serial": summary.serial,
            "count": summary.size,
            "fingerprint": summary.fingerprint,
        }
        return meta, lookup, lambda: built()[1]()

    def _build_index(self, fd: int, name: str, key: str) -> Any:
        """``_index`` from the file itself, read line by line (every entry validated, unless the checksum says
        the bytes are what was written), and cached. The cache holds the rows in shards of consecutive
        addresses, so a plan that looks at a few resources decodes a few shards, not 100,000 rows."""
        with open(fd, "rb", closefd=False, buffering=1 << 20) as fh:
            fh.seek(0)
            fast = index_lines(fh)
        if fast is None:
            return None
        if not fast.sealed:  # edited, damaged, or from before checksums: every entry validated once
            self._validate(fd, fast.rows)
        items = list(fast.rows.items())
        # Consecutive addresses per shard, found by the first of each; a file out of order is one shard.
        step = _SHARD_ROWS if fast.ordered else max(1, len(items))
        shards = [items[i : i + step] for i in range(0, len(items), step)]
        meta = {
            "lineage": fast.lineage,
            "serial": fast.serial,
            "count": len(items),
            "fingerprint": fingerprint((addr, row[0], row[2]) for addr, row in items),
            # The first shard holds whatever sorts before the second's first address, so it starts at "".
            "shards": ["", *(shard[0][0] for shard in shards[1:])] if shards else [],
        }
        db = open_cache(self.cache_dir / "state.sqlite") if self.cache_dir is not None else None
        try:
            for i, shard in enumerate(shards):
                put_blob(db, f"{name}:{i}", key, orjson.dumps(dict(shard)))
            put_blob(db, name + ":meta", key, orjson.dumps(meta))
        finally:
            if db is not None:
                db.close()
        return meta, fast.rows.get, _held(fast.rows)

    def _cached_index(self, fd: int, meta: dict[str, Any], held: list[Any]) -> Any:
        """``_index`` from the cached shards: each decoded when first needed."""
        bounds: list[str] = meta["shards"]
        whole: list[dict[str, Row]] = []  # the rows indexed again from the file, if a shard was damaged

        def reindexed() -> dict[str, Row]:
            if not whole:
                with open(fd, "rb", closefd=False, buffering=1 << 20) as fh:
                    fh.seek(0)
                    fast = index_lines(fh)
                if fast is None:
                    raise StateError(
                        f"the cached index of state file {self.path} does not match the file",
                        hint="run the command again",
                    )
                whole.append(fast.rows)
            return whole[0]

        @functools.cache
        def shard(i: int) -> dict[str, Row]:
            try:
                value = orjson.loads(held[i])
                if isinstance(value, dict):
                    return value
            except ValueError:
                pass
            return reindexed()  # damaged in the cache: from the file itself (validated when first indexed)

        def row(addr: str) -> Row | None:
            i = bisect.bisect_right(bounds, addr) - 1
            return shard(i).get(addr) if i >= 0 else None  # -1: no shard at all (an empty state)

        @functools.cache
        def rows() -> dict[str, Row]:
            out: dict[str, Row] = {}
            for i in range(len(bounds)):
                out.update(shard(i))
            return out if not whole else whole[0]

        return meta, row, rows

    def _validate(self, fd: int, rows: dict[str, Row]) -> None:
        """Every entry of the file, validated; the first that is not valid is named."""
        for addr, row in rows.items():
            problem = address_problem(addr)
            if problem is not None:
                raise StateError(f"state file {self.path} is corrupt: {problem}", hint=self._restore_hint())
            start, end = row[5], row[6]
            try:
                ResourceState.model_validate_json(os.pread(fd, end - start, start))
            except ValidationError as error:
                raise self._corrupt(error, prefix=("resources", addr)) from None

    def _parse_whole(self, raw: bytes) -> State:
        try:
            data = json.loads(raw, object_pairs_hook=_no_duplicate_keys)
        except ValueError as error:
            raise StateError(
                f"state file {self.path} is corrupt: {str(error)[:200]}", hint=self._restore_hint()
            ) from None
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
                "or remove the backup if the replacement was intended",
            )
        # Equal serials are the moment between keeping the backup and putting the new file in place.
        if backup_serial > serial:
            raise StateError(
                f"state file {self.path} has serial {serial}, older than its backup's {backup_serial}: "
                "an older version of the state was put back",
                hint="an older state would make the next plan undo applied changes; restore the newest one from "
                "git history, or remove the backup if you really mean to go back",
            )

    def _corrupt(self, error: ValidationError, prefix: tuple[str, ...] = ()) -> StateError:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(p) for p in prefix + tuple(first["loc"]))
        detail = f"{first['msg']} at {where}" if where else first["msg"]
        return StateError(f"state file {self.path} is corrupt: {detail}", hint=self._restore_hint())

    def _restore_hint(self) -> str:
        return (
            f"the previous version is kept at {self.backup_path}; inspect it and copy it over {self.path} "
            "if it is right"
            if self.backup_path.exists()
            else "no backup exists; restore the file from git history (git log -- <state file>)"
        )

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
                changed = {
                    addr: None if entry is None else ResourceState.model_validate(entry)
                    for addr, entry in record["changes"].items()
                }
                record_serial = int(record["serial"])
            except (ValueError, KeyError, TypeError, AttributeError, ValidationError):
                break  # a torn last line: what it held is settled by the journal
            problem = next(filter(None, map(address_problem, changed)), None)
            if problem is not None:
                raise StateError(
                    f"{self.wal_path} is corrupt: {problem}",
                    hint=f"remove {self.wal_path} if {self.path} is the state you want",
                )
            if lineage is not None and record.get("lineage") != lineage:
                raise StateError(
                    f"{self.wal_path} belongs to another state (lineage {record.get('lineage')})",
                    hint=f"remove {self.wal_path} if {self.path} is the state you want",
                )
            if record_serial <= serial:
                continue  # already folded into the file
            lineage, serial = record.get("lineage"), record_serial
            changes.update(changed)
        if serial == snapshot.serial:
            return snapshot
        result = snapshot.overlay(changes, serial=serial)
        result.lineage = lineage
        return result

    def write_ahead(self) -> WriteAhead:
        """The write-ahead file, for a run that saves as it goes (see ``WriteAhead``)."""
        return WriteAhead(self.wal_path, self.path)

    def append(self, lineage: str | None, serial: int, changes: dict[str, ResourceState | None]) -> tuple[str, int]:
        """Save ``changes`` over state (lineage, serial) as the next serial, as one record of the write-ahead
        file; returns the new (lineage, serial). Costs what changed, whatever the state's size."""
        wal = self.write_ahead()
        try:
            wal.begin(lineage, serial)
            wal.add([(addr, None if e is None else e.model_dump_json().encode()) for addr, e in changes.items()])
            return wal.commit()
        finally:
            wal.close()

    # ------------------------------------------------------------------ writing

    def write(self, state: State) -> State:
        """Write ``state`` as the next serial, atomically, keeping the old file as backup; folds the write-ahead file."""
        new = state.model_copy(update={"lineage": state.lineage or str(uuid.uuid4()), "serial": state.serial + 1})
        self._replace(serialise(new))
        return new

    def write_snapshot(self, snapshot: Snapshot) -> tuple[str, int]:
        """Write what ``snapshot`` holds as the next serial, like ``write(snapshot.to_state())`` but one entry
        at a time: unchanged entries are copied from the file as they are, none is held longer than its line.
        Returns the (lineage, serial) written."""
        lineage, serial = snapshot.lineage or str(uuid.uuid4()), snapshot.serial + 1
        pieces = serialise_entries(STATE_FORMAT_VERSION, lineage, serial, sorted(snapshot.index), snapshot.entry_json)
        self._replace(pieces)
        return lineage, serial

    def _replace(self, data: Any) -> None:
        try:
            atomic_write(self.path, data, backup=self.backup_path)
            if self.wal_path.exists():
                self.wal_path.unlink()
        except OSError as error:
            raise StateError(
                f"cannot write state file {self.path}: {error.strerror}",
                hint="the previous state file is unchanged; fix the problem (disk space, permissions) and run again",
            ) from None

    # ------------------------------------------------------------------ locking

    @contextmanager
    def lock(self, operation: str) -> Iterator[str]:
        """Hold the state lock for the duration; yields the lock id."""
        import socket  # here: `plan` takes no lock, and these imports cost it 8 ms

        from filelock import FileLock, Timeout

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
            raise StateError(
                f"cannot lock state {self.path}: {error.strerror} ({self.lock_path})",
                hint="the state's folder must be writable by whoever runs the reconciler",
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


_TAIL_CHUNK = 1 << 20  # how much of a torn write-ahead file is read at a time, looking for its last newline


class WriteAhead:
    """The write-ahead file of one run: each save is one record (one JSON line, the next serial), written
    entry by entry as the run goes and fsynced when the save is committed.

    Where each entry went is returned, so the run can read it back instead of holding it: at 100,000
    created lines the entries would be 100 MB in memory; on disk they are there already.

    A write that fails (a full disk, a file size limit) leaves the file as it was before that write,
    and every later write fails alike: the run stops, and ``close`` cuts off the record it could not
    commit, so the file only ever holds whole, committed lines.
    """

    def __init__(self, path: Path, state_path: Path) -> None:
        self.path, self.state_path = path, state_path
        self._write_fd: int | None = None
        self._read_fd: int | None = None
        self._end = 0  # the file's length: where the next piece goes
        self._open: tuple[str, int] | None = None  # (lineage, serial) of the record being written
        self._separator = b""
        self._record_start: int | None = None  # where the open record starts
        self._failed: OSError | None = None  # the write that failed: none is tried after it

    def begin(self, lineage: str | None, serial: int) -> None:
        """Start the record of the next save over state (lineage, serial)."""
        assert self._open is None
        self._open = (lineage or str(uuid.uuid4()), serial + 1)
        self._record_start = None
        self._separator = b""
        self._write(orjson.dumps({"lineage": self._open[0], "serial": self._open[1]})[:-1] + b',"changes":{')

    @property
    def recording(self) -> bool:
        return self._open is not None

    def add(self, entries: list[tuple[str, bytes | None]]) -> list[int]:
        """Append entries (address, the entry's JSON or None for a removal) to the open record, in one
        write; returns where each entry's JSON starts in the file."""
        assert self._open is not None
        chunk = bytearray()
        offsets = []
        separator = self._separator
        for addr, entry in entries:
            chunk += separator + orjson.dumps(addr) + b":"
            offsets.append(self._end + len(chunk))
            chunk += b"null" if entry is None else entry
            separator = b","
        self._write(bytes(chunk))
        self._separator = separator
        return offsets

    def commit(self) -> tuple[str, int]:
        """End the open record and make it durable; returns the (lineage, serial) it saved."""
        assert self._open is not None
        self._write(b"}}\n")
        assert self._write_fd is not None
        try:
            os.fsync(self._write_fd)
        except OSError as error:
            self._failed = error
            raise self._error(error) from None
        saved, self._open, self._record_start = self._open, None, None
        return saved

    def read(self, offset: int, length: int) -> bytes:
        if self._read_fd is None:
            self._read_fd = os.open(self.path, os.O_RDONLY)
        return os.pread(self._read_fd, length, offset)

    def close(self) -> None:
        if self._open is not None and self._write_fd is not None and self._record_start is not None:
            with suppress(OSError):  # a record never committed: cut off, as a crash's is by the next run
                os.ftruncate(self._write_fd, self._record_start)
        for fd in (self._write_fd, self._read_fd):
            if fd is not None:
                os.close(fd)
        self._write_fd = self._read_fd = None

    def _write(self, data: bytes) -> None:
        if self._failed is not None:
            raise self._error(self._failed)
        start = self._end
        try:
            fd = self._write_fd if self._write_fd is not None else self._open_for_append()
            start = self._end
            if self._record_start is None:
                self._record_start = start
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
                self._end += written
        except OSError as error:
            self._failed = error
            if self._write_fd is not None:
                # Half of this write may be there: cut it, so that what was written before stays readable.
                with suppress(OSError):
                    os.ftruncate(self._write_fd, start)
                self._end = start
            raise self._error(error) from None

    def _open_for_append(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # O_NOFOLLOW: a write-ahead file planted as a link (a cloned repository can hold one) would
        # make every apply append to whatever file it names, outside the repository.
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        end = os.fstat(fd).st_size
        if end and os.pread(fd, 1, end - 1) != b"\n":
            # A record a crash left torn (no newline after it) was never committed: cut it off, so
            # that the record written now starts on a line of its own.
            keep = end
            while keep > 0:  # back to the last newline, a chunk at a time
                start = max(0, keep - _TAIL_CHUNK)
                cut = os.pread(fd, keep - start, start).rfind(b"\n")
                if cut >= 0:
                    keep = start + cut + 1
                    break
                keep = start
            os.ftruncate(fd, keep)
            end = keep
        self._write_fd, self._end = fd, end
        return fd

    def _error(self, error: OSError) -> StateError:
        return StateError(
            f"cannot write {self.path}: {error.strerror}",
            hint="the state file is unchanged; free the disk or fix the permissions, "
            "then run again (the journal settles the batch in flight)",
        )


# How many resources a snapshot of a sealed file looks up one by one before it indexes them all.
_LOOKUPS = 256
_SHARD_ROWS = 4096  # rows per shard of the cached index: 27 shards at 100,000 lines


def _held(value: Any) -> Callable[[], Any]:
    return lambda: value


def _cached_meta(raw: bytes | None) -> dict[str, Any] | None:
    """The cached summary of a state file; None when there is none or it is not one (a damaged cache)."""
    if raw is None:
        return None
    try:
        meta = orjson.loads(raw)
    except ValueError:
        return None
    if not isinstance(meta, dict) or not {"lineage", "serial", "count", "fingerprint", "shards"} <= meta.keys():
        return None
    bounds = meta["shards"]
    if not isinstance(bounds, list) or not all(isinstance(b, str) for b in bounds) or bounds != sorted(bounds):
        return None
    return meta


def _cached_summary(raw: bytes | None) -> Summary | None:
    """A sealed file's summary as cached; None when there is none or it is not one (a damaged cache)."""
    try:
        found = orjson.loads(raw) if raw is not None else None
    except ValueError:
        return None
    if not isinstance(found, list) or len(found) != len(Summary._fields):
        return None
    summary = Summary(*found)
    lineage, serial, size, value, start, end = summary
    if not (
        (lineage is None or isinstance(lineage, str))
        and all(type(n) is int for n in (serial, size, start, end))
        and isinstance(value, str)
        and len(value) == 32
        and 0 < start <= end
    ):
        return None
    return summary


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
