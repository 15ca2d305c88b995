"""The carried files of one target on disk, and any command run in the tenant's queue (`reconciler ci run`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..fsio import atomic_write
from .queue import CARRIED, Held, TenantQueue


def local_paths(context: Any) -> dict[str, Path]:
    """Where a Context keeps the carried files: its state file, halt file and journal."""
    return {"state": context.state_store.path, "halt": context.halt.path, "journal": context.journal.path}


def read_local(paths: dict[str, Path]) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for name, path in paths.items():
        try:
            out[name] = path.read_bytes()
        except FileNotFoundError:
            out[name] = None
    return out


def place(paths: dict[str, Path], contents: dict[str, bytes | None]) -> None:
    """Put the branch's files where the reconciler reads them; where the branch has none, the local one stays
    (a state committed on main before the first CI run, a halt a laptop run set)."""
    for name in CARRIED:
        content = contents.get(name)
        if content is not None:
            atomic_write(paths[name], content, durable=False)


def halt_words(content: bytes | None) -> str:
    if content is None:
        return "halt cleared"
    try:
        info = json.loads(content)
        return f"halted: Epoptia answered HTTP {info.get('status')} to {info.get('request')}"
    except ValueError:
        return "halted"


def change_words(held: Held, local: dict[str, bytes | None], job: str) -> str:
    words = []
    if local.get("state") is not None and local.get("state") != held.base.get("state"):
        words.append(f"state after {job}")
    if local.get("halt") != held.base.get("halt"):
        words.append(halt_words(local.get("halt")))
    return "; ".join(words) or "queue released"


def run_in_queue(
    queue: TenantQueue, paths: dict[str, Path], job: str, command: Callable[[], int], *, read_only: bool = False
) -> int:
    """Run ``command`` holding the tenant's queue, on the state branch's files, and record what it changed.

    ``read_only`` (a plan from a fork, with no key and a read-only token) takes
    no lease and records nothing: it only reads the state the branch has.
    """
    if read_only:
        place(paths, queue.read_carried(queue.branch.fetch()))
        return command()
    held = queue.acquire(job)
    place(paths, held.branch)
    held.base = read_local(paths)
    code = 1
    try:
        code = command()
        return code
    finally:
        local = read_local(paths)
        queue.record(
            held, local, f"reconciler: {job} of {queue.target!r}: {change_words(held, local, job)}\n", release=True
        )
