"""The CLI with a broken disk: ``python -m tests.cli_faults ARGS...`` is ``reconciler ARGS...`` where
writes to some files fail, as a full disk or a folder gone read-only makes them fail.

``$RECONCILER_TEST_DISK_FAULT`` says which, as ``ERRNO:OPERATION:REGEX``:

- ERRNO: ENOSPC, EROFS, EACCES, EDQUOT...
- OPERATION: ``open`` (opening the file for writing fails), ``write`` (opening works, then half of the
  first write reaches the disk and the write fails: a torn file), or ``sqlite`` (every SQLite database is
  opened read-only, as in a read-only folder; REGEX is then unused).
- REGEX: searched in the path of the file.

These faults cannot be made on demand with a real disk when the tests run as root (permissions do not
stop root); the file size limit (RLIMIT_FSIZE), which can, is set by the tests themselves.
"""

from __future__ import annotations

import builtins
import errno
import os
import re
import sqlite3
import sys
from typing import Any


def _fault() -> tuple[int, str, re.Pattern[str]]:
    number, operation, pattern = os.environ["RECONCILER_TEST_DISK_FAULT"].split(":", 2)
    return getattr(errno, number), operation, re.compile(pattern)


def _error(number: int, path: str) -> OSError:
    return OSError(number, os.strerror(number), path)


def install() -> None:
    number, operation, pattern = _fault()
    if operation == "sqlite":
        connect = sqlite3.connect

        def read_only(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
            if str(database) == ":memory:":
                return connect(database, *args, **kwargs)
            return connect(f"file:{os.fspath(database)}?mode=ro", *args, **{**kwargs, "uri": True})

        sqlite3.connect = read_only  # type: ignore[assignment]
        return
    real_open, real_os_open, real_write = builtins.open, os.open, os.write
    torn: set[int] = set()

    def writing(mode: str | int) -> bool:
        if isinstance(mode, int):
            return bool(mode & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND))
        return any(c in mode for c in "wax+")

    class Torn:
        """A file whose first write puts half the bytes on disk, then fails."""

        def __init__(self, fh: Any) -> None:
            self._fh = fh

        def write(self, data: Any) -> int:
            self._fh.write(data[: len(data) // 2])
            self._fh.flush()
            raise _error(number, self._fh.name)

        def __enter__(self) -> Torn:
            return self

        def __exit__(self, *exc: Any) -> None:
            self._fh.close()

        def __getattr__(self, name: str) -> Any:
            return getattr(self._fh, name)

    def fault_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        hit = isinstance(file, (str, os.PathLike)) and writing(mode) and pattern.search(os.fspath(file))
        if hit and operation == "open":
            raise _error(number, os.fspath(file))
        fh = real_open(file, mode, *args, **kwargs)
        return Torn(fh) if hit else fh

    def fault_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        hit = writing(flags) and pattern.search(os.fspath(path))
        if hit and operation == "open":
            raise _error(number, os.fspath(path))
        fd = real_os_open(path, flags, *args, **kwargs)
        if hit:
            torn.add(fd)
        return fd

    def fault_write(fd: int, data: Any) -> int:
        if fd in torn:
            torn.discard(fd)
            real_write(fd, bytes(data[: len(data) // 2]))
            raise _error(number, f"fd {fd}")
        return real_write(fd, data)

    def fault_close(fd: int) -> None:
        torn.discard(fd)
        real_close(fd)

    real_close = os.close
    builtins.open = fault_open
    os.open = fault_os_open
    os.write = fault_write
    os.close = fault_close


if __name__ == "__main__":
    install()
    from reconciler.cli import main

    main(sys.argv[1:])
