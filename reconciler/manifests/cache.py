"""The parse cache: validated per-file results, so an unchanged file is never parsed twice."""

from __future__ import annotations

import functools
import hashlib
import pickle
from pathlib import Path
from typing import Any

from ..fsio import atomic_write
from .parse import Entry

# Bump when the cached representation changes. The source of the modules that
# define validation is hashed into every key as well (see _code_fingerprint),
# so a changed rule can never be served from an old entry.
CACHE_VERSION = "1"


@functools.cache
def _code_fingerprint() -> str:
    from .. import resources
    from . import parse, yaml

    h = hashlib.blake2b(digest_size=16)
    for module_file in (parse.__file__, yaml.__file__, resources.__file__):
        h.update(Path(module_file).read_bytes())
    return h.hexdigest()


class Payloads:
    """The payloads of one file, decoded from the cache only if one of them is asked for."""

    __slots__ = ("_blob", "_items")

    def __init__(self, blob: bytes | None = None, items: list[dict[str, Any]] | None = None) -> None:
        self._blob = blob
        self._items = items

    def get(self, index: int) -> dict[str, Any]:
        if self._items is None:
            self._items = pickle.loads(self._blob)  # type: ignore[arg-type]
        return self._items[index]


def serialise_payloads(payloads: list[dict[str, Any]]) -> bytes:
    return pickle.dumps(payloads, protocol=pickle.HIGHEST_PROTOCOL)


class ParseCache:
    """Validated per-file results in one file, keyed by (code version, file name, content hash).

    One file rather than one per manifest: a 100,000-line repository has ten
    thousand manifests, and opening as many cache files costs more than reading
    one. Entries of file versions not seen in a run are dropped when it is saved.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._entries: dict[str, tuple[list[Entry], bytes]] | None = None
        self._used: set[str] = set()
        self._dirty = False

    @staticmethod
    def key(file: str, content: bytes) -> str:
        h = hashlib.blake2b(digest_size=20)
        h.update(f"{CACHE_VERSION}\0{_code_fingerprint()}\0{file}\0".encode())
        h.update(content)
        return h.hexdigest()

    def _load(self) -> dict[str, tuple[list[Entry], bytes]]:
        if self._entries is None:
            self._entries = {}
            if self.path is not None:
                try:
                    with open(self.path, "rb") as fh:
                        loaded = pickle.load(fh)
                    if isinstance(loaded, dict):
                        self._entries = loaded
                except FileNotFoundError:
                    pass
                except Exception:  # a torn or foreign cache is only a miss
                    self._dirty = True
        return self._entries

    def get(self, key: str) -> tuple[list[Entry], bytes] | None:
        self._used.add(key)
        return self._load().get(key)

    def put(self, key: str, entries: list[Entry], blob: bytes) -> None:
        self._load()[key] = (entries, blob)
        self._dirty = True

    def save(self) -> None:
        if self.path is None:
            return
        entries = self._load()
        stale = set(entries) - self._used
        if not self._dirty and not stale:
            return
        for key in stale:
            del entries[key]
        try:
            atomic_write(self.path, pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL), durable=False)
        except OSError:
            pass  # a cache that cannot be written only costs speed
