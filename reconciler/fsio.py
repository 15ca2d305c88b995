"""Writing files so that a crash, a full disk or a kill -9 never leaves half of one.

Every file the reconciler writes for itself (state, journal, halt, cache, saved
plans) goes through ``atomic_write``: the bytes go to a temporary file in the
same folder, are flushed to disk, and replace the target in one rename. A
reader sees the old file or the new one, never a mix; a failed write leaves the
old file as it was and no temporary file behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def atomic_write(
    path: Path, data: bytes | Iterable[bytes], *, durable: bool = True, backup: Path | None = None
) -> None:
    """Replace ``path`` with ``data`` (bytes, or pieces of them written as they come) atomically.

    ``durable`` fsyncs the file and its folder, for files that must survive a
    power cut (state, journal); caches skip it. ``backup``, when given, receives
    the previous version by a hard link before the rename, so that at no moment
    is there no file at ``path``. Raises OSError; the target is then unchanged.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    backup_tmp = None
    try:
        with open(tmp, "wb", buffering=1 << 20) as fh:
            if isinstance(data, bytes):
                fh.write(data)
            else:
                for piece in data:
                    fh.write(piece)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        if backup is not None and path.exists():
            backup_tmp = backup.with_name(f".{backup.name}.{os.getpid()}.tmp")
            _remove(backup_tmp)
            os.link(path, backup_tmp)
            os.replace(backup_tmp, backup)
        os.replace(tmp, path)
        if durable:
            fsync_folder(path.parent)
    finally:
        _remove(tmp)
        if backup_tmp is not None:  # a link made for the backup that a failure kept from its place
            _remove(backup_tmp)


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX needs the folder itself synced)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
