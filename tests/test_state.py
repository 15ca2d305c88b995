"""The state file: atomic writes with a backup, corrupt files, the lock."""

from __future__ import annotations

import json
import os
import random
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
    return State(
        resources={f"Client/C-{i}": ResourceState(payload={"name": f"Πελάτης {i}"}, digest=f"d{i}") for i in range(n)}
    )


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
    resources = {**_state(2).resources, "WorkOrderLine/1": drifted}
    written = store.write(_state(2).model_copy(update={"resources": resources}))
    indexed = index_lines(store.path.read_bytes())
    assert indexed is not None
    assert indexed.rows["WorkOrderLine/1"][0] == drifted.digest
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
        with pytest.raises(StateLockedError) as caught, StateStore(tmp_path / "local.json").lock("apply"):
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
        with StateStore(Path({str(tmp_path / "local.json")!r})).lock("apply"):
            print("locked", flush=True)
            time.sleep(60)
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with (
            pytest.raises(StateLockedError, match=rf"pid {holder.pid}\) since .* for apply"),
            StateStore(tmp_path / "local.json").lock("plan"),
        ):
            pass
    finally:
        holder.kill()
        holder.wait()
    with StateStore(tmp_path / "local.json").lock("apply"):  # a dead holder's lock is gone
        pass


TORN_WRITER = Path(__file__).with_name("torn_writer.py")


def version_of(raw: bytes) -> int | None:
    """The serial of a state file that is exactly one whole version torn_writer wrote; None for anything else."""
    from .torn_writer import resources

    try:
        data = json.loads(raw)
        serial = int(data["serial"])
    except (ValueError, KeyError, TypeError):
        return None
    expected = {addr: entry.model_dump(mode="json") for addr, entry in resources(serial).items()}
    return serial if data.get("format_version") == 1 and data.get("resources") == expected else None


def kill_during_writes(path: Path, mode: str, rounds: int) -> list[dict]:
    """Start torn_writer, wait for a write to begin (after one has ended), SIGKILL it at a random moment of the
    write; per round: the serial last written whole, whether the kill landed inside a write, and the files after.
    Stops after a round that leaves the file torn (serial None): the next writer could not read it."""
    from .torn_writer import resources

    rng = random.Random(1601)
    StateStore(path).write(State(resources=resources(1)))
    out = []
    for _ in range(rounds):
        writer = subprocess.Popen(
            [sys.executable, str(TORN_WRITER), str(path), mode], stdout=subprocess.PIPE, text=True
        )
        seen: list[str] = []
        while not (any(s.startswith("wrote") for s in seen) and seen[-1].startswith("writing")):
            line = writer.stdout.readline()
            assert line, "the writer stopped"
            seen.append(line.strip())
        time.sleep(rng.uniform(0.0, 0.15))  # a write of this state takes ~0.3 s with the slowed file writes
        writer.send_signal(signal.SIGKILL)
        seen += [s.strip() for s in writer.communicate()[0].splitlines() if s.strip()]
        wrote = [int(s.split()[1]) for s in seen if s.startswith("wrote")]
        backup = path.with_name(path.name + ".backup")
        out.append(
            {
                "wrote": wrote[-1],
                "inside": seen[-1].startswith("writing"),
                "serial": version_of(path.read_bytes()),
                "backup": version_of(backup.read_bytes()) if backup.exists() else "none",
            }
        )
        if out[-1]["serial"] is None:
            break
    return out


def test_a_writer_killed_mid_write_leaves_the_old_or_the_new_version_never_anything_else(tmp_path: Path) -> None:
    """A large state, written with slowed file writes, killed inside the write: the file is always one whole version,
    the last one written or the one being written, and its backup the whole version before it."""
    path = tmp_path / "local.json"
    rounds = kill_during_writes(path, "atomic", rounds=8)
    for r in rounds:
        assert r["serial"] in (r["wrote"], r["wrote"] + 1), rounds  # never torn (None), never older
        assert r["backup"] in (r["serial"] - 1, r["serial"]), rounds  # equal: killed between keeping it and the rename
        state = StateStore(path).read()  # the store's own reading agrees, backup checks included
        assert state.serial == r["serial"] or r is not rounds[-1]
    final = StateStore(path).read()
    assert final.serial == rounds[-1]["serial"]
    # The power of the test: most kills landed inside a write (the slowed writes make the window wide).
    assert sum(r["inside"] for r in rounds) >= 6, rounds


def test_the_torn_state_check_catches_a_writer_that_overwrites_in_place(tmp_path: Path) -> None:
    """The check above has teeth: a store that overwrites the state file in place, without a backup, is caught."""
    rounds = kill_during_writes(tmp_path / "local.json", "in-place", rounds=8)
    assert any(r["serial"] is None for r in rounds), rounds
