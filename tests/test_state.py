"""The state file: atomic writes with a backup, corrupt files, the lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from reconciler.errors import StateError, StateLockedError
from reconciler.state import ResourceState, State, StateStore, drift_digest
from reconciler.state.layout import index_lines


def _state(n: int) -> State:
    return State(resources={f"Client/C-{i}": ResourceState(payload={"name": f"Πελάτης {i}"}, digest=f"d{i}") for i in range(n)})


def test_missing_file_is_an_empty_state(tmp_path: Path) -> None:
    assert StateStore(tmp_path / "state.json").read() == State()


def test_write_assigns_lineage_once_and_bumps_serial_and_keeps_a_backup(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state" / "local.json")
    first = store.write(_state(1))
    assert first.serial == 1 and first.lineage
    second = store.write(first.model_copy(update={"resources": _state(2).resources}))
    assert (second.serial, second.lineage) == (2, first.lineage)
    assert store.read() == second
    assert State.model_validate_json(store.backup_path.read_bytes()) == first
    text = store.path.read_text(encoding="utf-8")
    assert "Πελάτης 1" in text and "\\u" not in text  # Greek stays readable in review


def test_an_entry_holding_drift_keeps_the_fast_index(tmp_path: Path) -> None:
    """An apply records what a refresh saw, drift digests included; the file stays indexable line by line."""
    store = StateStore(tmp_path / "local.json")
    drifted = ResourceState(payload={"quantity": 7}, digest=drift_digest({"quantity": 7}), parent="WO-1")
    written = store.write(_state(2).model_copy(update={"resources": {**_state(2).resources, "WorkOrderLine/1": drifted}}))
    indexed = index_lines(store.path.read_bytes())
    assert indexed is not None
    assert indexed[2]["WorkOrderLine/1"].digest == drifted.digest
    assert store.snapshot().to_state() == written


def test_corrupt_state_is_an_error_that_names_the_backup(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "local.json")
    store.write(store.write(_state(1)))
    store.path.write_text('{"format_version": 1, "serial": "x"')
    with pytest.raises(StateError) as caught:
        store.read()
    assert f"state file {store.path} is corrupt" in str(caught.value)
    assert str(store.backup_path) in str(caught.value)


def test_lock_held_names_the_owner_and_force_unlock_needs_the_id(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "local.json")
    with store.lock("apply") as lock_id:
        with pytest.raises(StateLockedError) as caught:
            with StateStore(tmp_path / "local.json").lock("apply"):
                pass
        message = str(caught.value)
        assert "is locked: held by" in message and f"(pid {os.getpid()})" in message
        assert f"lock id {lock_id}" in message and "force-unlock" in message
        with pytest.raises(StateError, match="does not match"):
            store.force_unlock("not-the-id")
    with store.lock("apply"):  # released on exit
        pass


def test_lock_held_by_another_process(tmp_path: Path) -> None:
    code = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from reconciler.state import StateStore
        with StateStore(Path({str(tmp_path / 'local.json')!r})).lock("apply"):
            print("locked", flush=True)
            time.sleep(60)
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StateLockedError, match=rf"pid {holder.pid}\) since .* for apply"):
            with StateStore(tmp_path / "local.json").lock("plan"):
                pass
    finally:
        holder.kill()
        holder.wait()
    with StateStore(tmp_path / "local.json").lock("apply"):  # a dead holder's lock is gone
        pass


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from reconciler.state import ResourceState, State, StateStore
    store = StateStore(Path(sys.argv[1]))
    n = int(sys.argv[2])
    while True:
        current = store.read()
        big = {f"WorkOrderLine/{i}": ResourceState(payload={"quantity": n, "comments": "σχόλιο " * 20}, digest=str(n))
               for i in range(3000)}
        store.write(current.model_copy(update={"resources": big}))
        n += 1
""")


def test_a_writer_killed_mid_write_never_leaves_a_torn_state(tmp_path: Path) -> None:
    """Kill a looping writer at random moments: the state always parses, old or new."""
    path = tmp_path / "local.json"
    StateStore(path).write(_state(1))
    kills = 0
    for attempt in range(12):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(attempt * 1000)])
        time.sleep(0.4 + (attempt % 4) * 0.13)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        kills += 1
        state = StateStore(path).read()  # raises if torn
        assert state.serial >= 1
        for entry in tmp_path.iterdir():
            if entry.name.endswith(".backup"):
                json.loads(entry.read_text())
    assert kills == 12
