"""A process that writes a large state over and over, slowly, for the torn-state tests to kill.

    python tests/torn_writer.py STATE_FILE atomic|in-place

Every write of serial N holds `resources(N)`, so a reader can tell whether a
file is exactly one whole version. The file writes are slowed (the bytes go out
in small chunks with pauses), so a kill lands inside a write most of the time.
`in-place` replaces the store's atomic write with an overwrite of the file
itself, without a backup: the writer the torn-state test must catch.
Before each write it prints `writing N`, after it `wrote N`.
"""

from __future__ import annotations

import builtins
import io
import sys
import time
from pathlib import Path
from typing import Any

from reconciler.state import ResourceState, StateStore
from reconciler.state import store as store_module

ENTRIES = 4000
CHUNK = 32 * 1024
PAUSE = 0.003


def resources(serial: int) -> dict[str, ResourceState]:
    return {
        f"WorkOrderLine/{700000 + i}": ResourceState(
            payload={"quantity": serial, "comments": f"σχόλιο {serial}/{i} " * 6, "workorder": f"WO-{i // 10}"},
            digest=f"{serial:08x}{i:08x}",
            parent=f"WO-{i // 10}",
        )
        for i in range(ENTRIES)
    }


class SlowFile:
    """A file whose writes go out in chunks, flushed, with a pause after each."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh

    def write(self, data: bytes) -> int:
        for start in range(0, len(data), CHUNK):
            self.fh.write(data[start : start + CHUNK])
            self.fh.flush()
            time.sleep(PAUSE)
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fh, name)

    def __enter__(self) -> SlowFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.fh.close()


_open = io.open


def slow_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
    fh = _open(path, mode, *args, **kwargs)
    return SlowFile(fh) if "w" in mode else fh


def in_place(path: Path, data: bytes, *, durable: bool = True, backup: Path | None = None) -> None:
    """The writer the test must catch: the state file itself is overwritten, and no backup is kept."""
    with slow_open(path, "wb") as fh:
        fh.write(data)


def main(path: Path, mode: str) -> None:
    # Every file opened for writing in this process is slowed, however the store opens it (open, Path.write_bytes).
    builtins.open = io.open = slow_open  # type: ignore[assignment]
    if mode == "in-place":
        store_module.atomic_write = in_place  # type: ignore[assignment]
    store = StateStore(path)
    while True:
        current = store.read()
        serial = current.serial + 1
        print(f"writing {serial}", flush=True)
        store.write(current.model_copy(update={"resources": resources(serial)}))
        print(f"wrote {serial}", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
