"""The local cache database: what the reconciler remembers between runs to be fast, and nothing else.

One SQLite file per repository in the user's cache folder (never in the
repository, never pickle): the parse cache of the manifests, the assembled
index of what they want, and the index of the state file. Everything in it can
be rebuilt from the repository; a cache that is unreadable, belongs to another
user, sits in a folder others can write to, or comes from another version of
the code is ignored and rebuilt.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sqlite3
import stat
from pathlib import Path

from .errors import ReconcilerError

# Bump when anything stored changes shape; the validation code is hashed in as well.
CACHE_VERSION = "3"


@functools.cache
def code_fingerprint() -> str:
    """Changes whenever the code that gives cached values their meaning changes."""
    from . import resources
    from .manifests import parse, yaml
    from .state import layout

    h = hashlib.blake2b(CACHE_VERSION.encode(), digest_size=16)
    for module_file in (parse.__file__, yaml.__file__, resources.__file__, layout.__file__):
        h.update(Path(module_file).read_bytes())
    return h.hexdigest()


def user_cache_root() -> Path:
    """The per-user cache folder: $RECONCILER_CACHE_DIR, else $XDG_CACHE_HOME or ~/.cache."""
    explicit = os.environ.get("RECONCILER_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "epoptia-reconciler"


def cache_dir_for(repository: Path) -> Path:
    """One cache folder per repository, keyed by the repository's absolute path."""
    key = hashlib.blake2b(str(repository.resolve()).encode(), digest_size=8).hexdigest()
    return user_cache_root() / f"repo-{key}"


def _private_folder(folder: Path) -> bool:
    """Create the folder for this user only; trust it only if it is theirs and not writable by others."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = folder.stat()
    except OSError:
        return False
    return info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


_META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
# Dropped and made again whenever the code changes, so a new layout never meets an old table.
_TABLES = """
CREATE TABLE IF NOT EXISTS files (name TEXT PRIMARY KEY, size INTEGER, stamp INTEGER, key TEXT,
                                  entries BLOB, payloads BLOB);
CREATE TABLE IF NOT EXISTS blobs (name TEXT PRIMARY KEY, key TEXT NOT NULL, value BLOB NOT NULL);
"""


def open_cache(path: Path) -> sqlite3.Connection | None:
    """The cache database at ``path``, emptied if it is from other code; None where no cache can be trusted."""
    if not _private_folder(path.parent):
        return None
    for attempt in (1, 2):
        try:
            if path.exists() and path.stat().st_uid != os.getuid():
                raise sqlite3.DatabaseError("the cache file belongs to another user")
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            # Large pages for a new file (an existing one keeps its own): the cache holds blobs of megabytes
            # (the index of 100,000 lines), read and written a page per system call.
            db.execute("PRAGMA page_size=65536")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")  # a cache lost in a power cut is only rebuilt
            db.executescript(_META)
            version = db.execute("SELECT value FROM meta WHERE key = 'code'").fetchone()
            if version is None or version[0] != code_fingerprint():
                db.executescript("DROP TABLE IF EXISTS files; DROP TABLE IF EXISTS blobs;")
                db.execute("INSERT OR REPLACE INTO meta VALUES ('code', ?)", (code_fingerprint(),))
            db.executescript(_TABLES)
            return db
        except (sqlite3.Error, OSError):
            if attempt == 2:
                return None
            # Unreadable or foreign: start again from nothing, once.
            remove_cache(path)
    return None


def remove_cache(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            leftover.unlink()
        except OSError:
            pass


class CacheDamaged(ReconcilerError):
    """A value in the local cache that is not what the reconciler writes (a damaged disk, a planted file),
    where nothing can give it again from the repository: the command stops with this message rather than a
    traceback, and the cache file is removed so that the next run rebuilds it."""

    def __init__(self, path: Path | None) -> None:
        if path is not None:
            remove_cache(path)
        super().__init__(
            f"the local cache {path} is damaged: a value in it is not what the reconciler writes; "
            "it was removed and is rebuilt from the repository",
            hint="run the command again",
        )


def get_blob(db: sqlite3.Connection | None, name: str, key: str) -> bytes | None:
    if db is None:
        return None
    try:
        row = db.execute("SELECT value FROM blobs WHERE name = ? AND key = ?", (name, key)).fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def get_any_blob(db: sqlite3.Connection | None, name: str) -> tuple[str, bytes] | None:
    """The blob stored under ``name`` whatever its key (an earlier version of it)."""
    if db is None:
        return None
    try:
        row = db.execute("SELECT key, value FROM blobs WHERE name = ?", (name,)).fetchone()
    except sqlite3.Error:
        return None
    return (row[0], row[1]) if row else None


def put_blob(db: sqlite3.Connection | None, name: str, key: str, value: bytes) -> None:
    if db is None:
        return
    try:
        db.execute("INSERT OR REPLACE INTO blobs VALUES (?, ?, ?)", (name, key, value))
    except sqlite3.Error:
        pass  # a cache that cannot be written only costs speed
