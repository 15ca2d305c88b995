"""The parse cache: validated per-file results, so an unchanged file is never parsed twice.

Rows of the local cache database (``reconciler.localcache``): per file, its
size, modification time, content key, entries and payloads, as JSON. A file is
known unchanged by its size and modification time without being read; one
modified in the last moments before its row was written is checked by its
content next time (the "racy" case git's index also guards against).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from ..localcache import (
    CacheDamaged,
    code_fingerprint,
    get_any_blob,
    get_blob,
    open_cache,
    put_blob,
    remove_cache,
)

# A file modified this close to when its row was written may change again within the
# same timestamp tick; its row is then trusted only after its content is compared.
_RACY_NS = 2_000_000_000
_DESIRED = "desired-index"
RECENT_FILES = 256  # files whose decoded entries and payloads are held at once (see Recent)


def content_key(file: str, content: bytes) -> str:
    h = hashlib.blake2b(digest_size=20)
    h.update(f"{code_fingerprint()}\0{file}\0".encode())
    h.update(content)
    return h.hexdigest()


class Recent:
    """The files whose decoded entries and payloads are held: the last ``size`` used.

    A plan that creates 100,000 lines goes through 10,000 files; holding every
    file's decoded data took 150 MB. A file let go is decoded again if asked
    for (from the cache database, or the bytes kept for it), which a plan,
    going file by file, rarely does.
    """

    def __init__(self, size: int | None = None) -> None:
        self.size = RECENT_FILES if size is None else size
        # id -> a weak reference to what holds decoded data (it has forget()). Weak, so that no cycle
        # keeps a load's data alive once it is dropped: only a full collection would free it, and a
        # run holding a large plan seldom makes one.
        self._held: OrderedDict[int, weakref.ref[Any]] = OrderedDict()

    def used(self, holder: Any) -> None:
        key = id(holder)
        found = self._held.get(key)
        if found is not None and found() is holder:
            self._held.move_to_end(key)
            return
        self._held.pop(key, None)
        self._held[key] = weakref.ref(holder)
        if len(self._held) > self.size:
            oldest = self._held.popitem(last=False)[1]()
            if oldest is not None:
                oldest.forget()


class Payloads:
    """The payloads of one file, decoded only if one of them is asked for (and let go, with ``recent``,
    when other files were used since)."""

    __slots__ = ("__weakref__", "_fallback", "_items", "_recent", "_source")

    def __init__(
        self,
        source: Any = None,
        items: list[dict[str, Any]] | None = None,
        recent: Recent | None = None,
        fallback: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        self._source = source  # orjson bytes, or a callable returning them
        self._items = items
        self._recent = recent
        self._fallback = fallback  # the payloads when the source is not what was written (a damaged cache)

    def get(self, index: int) -> dict[str, Any]:
        if self._items is None:
            try:
                raw = self._source() if callable(self._source) else self._source
                items = orjson.loads(raw)
                if not isinstance(items, list):
                    raise ValueError("not a list")
            except (ValueError, CacheDamaged):
                if self._fallback is None:
                    raise
                items = self._fallback()
            self._items = items
        if self._recent is not None:
            self._recent.used(self)
        return self._items[index]

    def forget(self) -> None:
        if self._source is not None:
            self._items = None


class Row(NamedTuple):
    size: int
    stamp: int  # see _stamp; -1: compare the content next time
    key: str
    entries: bytes


class ParseCache:
    """The manifests' rows of the local cache; without a database (path None or untrusted) every file is a miss."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = open_cache(path) if path is not None else None
        self._rows: dict[str, Row] = {}
        self._seen: set[str] = set()
        self.recent = Recent()  # the files whose decoded entries and payloads are held
        if self._db is not None:
            try:
                self._rows = {
                    name: Row(size, stamp, key, entries)
                    for name, size, stamp, key, entries in self._db.execute(
                        "SELECT name, size, stamp, key, entries FROM files"
                    )
                }
                self._db.execute("BEGIN")  # one transaction per run: committed by save(), dropped by a crash
            except sqlite3.Error:
                self._db, self._rows = None, {}

    def by_stat(self, name: str, info: os.stat_result) -> str | None:
        """The file's content key if its size and time stamps say it did not change."""
        row = self._rows.get(name)
        if row is None or row.stamp < 0 or (row.size, row.stamp) != (info.st_size, _stamp(info)):
            return None
        self._seen.add(name)
        return row.key

    def knows(self, name: str) -> bool:
        """Whether the cache has a row for this file (whatever its content now)."""
        return name in self._rows

    def by_content(self, name: str, key: str, info: os.stat_result) -> bool:
        """Whether the row of this file holds this content (its stat is refreshed if so)."""
        row = self._rows.get(name)
        if row is None or row.key != key:
            return False
        self._seen.add(name)
        self._write("UPDATE files SET size = ?, stamp = ? WHERE name = ?", (info.st_size, _stable_stamp(info), name))
        return True

    def entries(self, name: str, reparse: Callable[[], list[Any]] | None = None) -> list[Any]:
        """The file's cached entries; ``reparse`` gives them from the file itself should they be damaged."""
        try:
            entries = orjson.loads(self._rows[name].entries)
            if isinstance(entries, list):
                return entries
        except (ValueError, TypeError):
            pass
        if reparse is None:
            raise self.damaged()
        if self.path is not None:
            remove_cache(self.path)  # rebuilt by the next run
        return reparse()

    def payloads(
        self,
        name: str,
        reparse: Callable[[], list[dict[str, Any]]] | None = None,
        items: list[dict[str, Any]] | None = None,
    ) -> Payloads:
        """The file's cached payloads, read when first needed (``items``: already decoded); ``reparse``
        gives them from the file itself should the cached ones be damaged."""

        def fallback() -> list[dict[str, Any]]:
            if reparse is None:
                raise self.damaged()
            if self.path is not None:
                remove_cache(self.path)  # rebuilt by the next run
            return reparse()

        def load() -> bytes:
            if self._db is None:
                return b"[]"
            try:
                found = self._db.execute("SELECT payloads FROM files WHERE name = ?", (name,)).fetchone()
            except sqlite3.Error:
                raise self.damaged() from None
            if found is None:  # the row went missing since this run read it: never taken as "no payloads"
                raise self.damaged()
            return found[0]

        return Payloads(load, items, recent=self.recent, fallback=fallback)

    def damaged(self) -> CacheDamaged:
        """The error for a value of this cache that cannot be what was written; the cache file is removed."""
        return CacheDamaged(self.path)

    def put(self, name: str, key: str, info: os.stat_result, encoded: bytes, payloads: bytes) -> bool:
        """Record a file just parsed (its entries and payloads, serialised); True when its row reached the
        database (its payloads can be read from there). Its entries are kept for ``entries`` either way."""
        self._seen.add(name)
        stamp = _stable_stamp(info)
        self._rows[name] = Row(info.st_size, stamp, key, encoded)
        return self._write(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)",
            (name, info.st_size, stamp, key, encoded, payloads),
        )

    # The assembled index of what the manifests want, keyed by the content keys of all files.
    def desired(self, key: str) -> bytes | None:
        return get_blob(self._db, _DESIRED, key)

    def desired_meta(self, key: str) -> bytes | None:
        return get_blob(self._db, _DESIRED + "-meta", key)

    def last_desired(self) -> bytes | None:
        found = get_any_blob(self._db, _DESIRED)
        return found[1] if found else None

    def put_desired(self, key: str, value: bytes, meta: bytes) -> None:
        put_blob(self._db, _DESIRED, key, value)
        put_blob(self._db, _DESIRED + "-meta", key, meta)

    def _write(self, sql: str, args: tuple[Any, ...]) -> bool:
        if self._db is None:
            return False
        try:
            self._db.execute(sql, args)
        except sqlite3.Error:
            return False  # a cache that cannot be written only costs speed
        return True

    def save(self) -> None:
        """Forget files not seen in this run and commit. The connection stays open: payloads are read on demand."""
        if self._db is None:
            return
        stale = set(self._rows) - self._seen
        try:
            if stale:
                self._db.executemany("DELETE FROM files WHERE name = ?", [(n,) for n in stale])
            self._db.execute("COMMIT")
        except sqlite3.Error:
            pass

    def close(self) -> None:
        """Give up this run's writes (a run that failed to load caches nothing) and close."""
        if self._db is not None:
            try:
                self._db.rollback()
            finally:
                self._db.close()
            self._db = None


def _stamp(info: os.stat_result) -> int:
    """The file's modification and change times, in one number.

    The modification time alone is not enough: tools set it to a time of their choosing
    (``git archive`` + tar, ``cp -p``, rsync give a file its commit's time), so two versions
    of the same size could share it. The change time is set by the system on every write.
    """
    return hash((info.st_mtime_ns, info.st_ctime_ns)) & 0x7FFF_FFFF_FFFF_FFFF


def _stable_stamp(info: os.stat_result) -> int:
    """The stamp to trust next time, or -1 when the file changed too recently to tell a later edit apart."""
    latest = max(info.st_mtime_ns, info.st_ctime_ns)
    return -1 if time.time_ns() - latest < _RACY_NS else _stamp(info)
