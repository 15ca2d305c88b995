"""The state store and its file layout, branch by branch: the fast index and the whole parse, the cached index,
the backup's lineage and serial, the write-ahead file, locks, and the errors a person sees."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import sqlite3
from pathlib import Path

import orjson
import pytest

from reconciler.errors import StateError
from reconciler.state import Observed, ResourceState, State, StateStore
from reconciler.state import store as store_module
from reconciler.state.layout import Summary, find_row, header, index_lines, sealed_summary, serialise, serialise_entries
from reconciler.state.values import IndexEntry

NOW = "2026-11-24T08:00:00+00:00"


def line(
    n: int, *, parent: str | None = "WO-1", status: str | None = None, started: bool = False, archived: bool = False
) -> ResourceState:
    observed = Observed(status=status, started=started, observed_at=NOW, page=1) if status is not None else None
    return ResourceState(
        payload={"quantity": n, "comments": f"σχόλιο {n}"},
        digest=f"{n:032x}",
        parent=parent,
        archived=archived,
        observed=observed,
    )


def state(**resources: ResourceState) -> State:
    return State(resources={k.replace("_", "/", 1): v for k, v in resources.items()})


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "state" / "t.json", cache_dir=tmp_path / "cache")


# ----------------------------------------------------------------------------- the layout


def test_serialise_and_index_agree_on_every_kind_of_entry() -> None:
    s = State(
        lineage="0f0e0d0c-0000-4000-8000-000000000001",
        serial=12,
        resources={
            "WorkOrderLine/1": line(1, status="standby"),
            "WorkOrderLine/2": line(2, status="production"),
            "WorkOrderLine/3": line(3, status="production", started=True),
            "WorkOrderLine/4": line(4, status="", archived=True),
            'WorkOrderLine/"Ω\\5': line(5, parent='WO-"β\\'),
            "Client/C-1": ResourceState(payload={"name": "Πελάτης"}, digest="drift:" + "a" * 32),
        },
    )
    raw = serialise(s)
    assert raw.startswith(
        b'{\n  "format_version": 1,\n  "lineage": "0f0e0d0c-0000-4000-8000-000000000001",\n'
        b'  "serial": 12,\n  "resources": {\n    "Client/C-1": {"digest":"drift:'
    )
    sealed_part, _, checksum = raw.rpartition(b'  "checksum": "sha256:')
    summary = f'  "summary": {{"count": 6, "fingerprint": "{s.snapshot().fingerprint}"}},\n'.encode()
    assert sealed_part.endswith(b"}\n  },\n" + summary) and "Πελάτης".encode() in raw
    assert checksum == hashlib.sha256(sealed_part).hexdigest().encode() + b'"\n}\n'
    assert State.model_validate_json(raw) == s
    assert header(raw) == ("0f0e0d0c-0000-4000-8000-000000000001", 12)
    lineage, serial, rows, sealed, ordered = index_lines(raw)
    assert (lineage, serial, sealed, ordered) == ("0f0e0d0c-0000-4000-8000-000000000001", 12, True, True)
    assert list(rows) == sorted(s.resources)
    # digest, parent, archived, started, launched; then where the entry is
    assert rows["WorkOrderLine/1"][:5] == ["0" * 31 + "1", "WO-1", False, False, False]
    assert rows["WorkOrderLine/2"][3:5] == [False, True]  # released: launched, not started
    assert rows["WorkOrderLine/3"][3:5] == [True, True]
    assert rows["WorkOrderLine/4"][2:5] == [True, False, False]
    assert rows['WorkOrderLine/"Ω\\5'][1] == 'WO-"β\\'
    assert rows["Client/C-1"][:5] == ["drift:" + "a" * 32, None, False, False, False]
    for addr, row in rows.items():
        assert ResourceState.model_validate_json(raw[row[5] : row[6]]) == s.resources[addr]


def test_an_empty_state_and_files_that_are_not_in_the_layout() -> None:
    empty = serialise(State())
    opened = b'{\n  "format_version": 1,\n  "lineage": null,\n  "serial": 0,\n  "resources": {\n'
    sealed = opened + b'  },\n  "summary": {"count": 0, "fingerprint": "' + b"0" * 32 + b'"},\n'
    assert empty == sealed + f'  "checksum": "sha256:{hashlib.sha256(sealed).hexdigest()}"\n}}\n'.encode()
    assert index_lines(empty) == (None, 0, {}, True, True)
    assert index_lines(opened + b"  }\n}\n") == (None, 0, {}, False, True)  # written before checksums
    assert header(b"{}") is None and index_lines(b"{}") is None
    raw = serialise(state(WorkOrderLine_1=line(1), WorkOrderLine_2=line(2)))
    assert index_lines(raw[:-1]) is None  # no end
    assert index_lines(raw + b"\n") is None  # something after the end
    assert index_lines(raw.replace(b'"digest":"', b'"digest": "', 1)) is None  # an entry not as written
    assert index_lines(raw.replace(b',"epoptia_id":null}', b',"epoptia_id":null', 1)) is None  # not closed
    assert index_lines(raw.replace(b'"epoptia_id":null}\n  }', b'"epoptia_id":null\n  }', 1)) is None  # the last
    assert index_lines(raw.replace(b"null},\n", b"null}\n", 1)) is None  # no comma between entries
    assert index_lines(raw.replace(b"null}\n  }", b"null},\n  }", 1)) is None  # a comma after the last
    assert index_lines(raw.replace(b'"checksum": "sha256:', b'"checksum": "md5:', 1)) is None
    twice = raw.replace(b'"WorkOrderLine/2"', b'"WorkOrderLine/1"')
    assert index_lines(twice) is None


def test_the_checksum_seals_the_bytes_written_and_nothing_else() -> None:
    raw = serialise(state(WorkOrderLine_1=line(1), WorkOrderLine_2=line(2)))
    assert index_lines(raw).sealed
    # Any change before the checksum breaks the seal, however small, and so does a change of the checksum;
    # the file is still indexed (a hand edit is allowed; its entries are then validated).
    for edited in (
        raw.replace(b'"quantity":2', b'"quantity":3'),
        raw.replace(b'"serial": 0', b'"serial": 1'),
        raw[:-5] + (b"1" if raw[-5:-4] == b"0" else b"0") + raw[-4:],  # the checksum's last digit
    ):
        assert edited != raw
        indexed = index_lines(edited)
        assert indexed is not None and not indexed.sealed
    assert State.model_validate_json(raw) == state(WorkOrderLine_1=line(1), WorkOrderLine_2=line(2))


def _without_summary(raw: bytes) -> bytes:
    """``raw`` as it was written before summaries: sealed up to the last entry, the closing brace unsealed."""
    entries, _, _ = raw.rpartition(b'  },\n  "summary": ')
    return entries + b'  },\n  "checksum": "sha256:' + hashlib.sha256(entries).hexdigest().encode() + b'"\n}\n'


def _summary_of(raw: bytes, tmp_path: Path) -> Summary | None:
    path = tmp_path / "summary-of.json"
    path.write_bytes(raw)
    fd = os.open(path, os.O_RDONLY)
    try:
        return sealed_summary(fd, len(raw))
    finally:
        os.close(fd)


def test_the_summary_is_sealed_and_tells_what_the_entries_hold(tmp_path: Path) -> None:
    s = state(WorkOrderLine_1=line(1), WorkOrderLine_2=line(2, archived=True), WorkOrderLine_3=line(3))
    raw = serialise(s.model_copy(update={"lineage": "0f0e0d0c-0000-4000-8000-000000000001", "serial": 4}))
    summary = _summary_of(raw, tmp_path)
    assert summary[:4] == ("0f0e0d0c-0000-4000-8000-000000000001", 4, 3, s.snapshot().fingerprint)
    # And where the entries' lines are: after the header, up to the end of "resources".
    assert raw[summary.start :].startswith(b'    "WorkOrderLine/1": {') and raw[: summary.start].endswith(b"{\n")
    assert raw[: summary.end].endswith(b',"epoptia_id":null}\n') and raw[summary.end :].startswith(b"  },\n")
    assert _summary_of(serialise(State()), tmp_path)[2:] == (0, "0" * 32, 76, 76)
    # Whatever is not the bytes written has no summary to trust: only indexing every entry tells.
    stale = raw.replace(b'"archived":true', b'"archived":false')
    assert index_lines(stale) is not None and not index_lines(stale).sealed
    for edited in (
        stale,
        raw.replace(b'"count": 3', b'"count": 2'),
        raw.replace(b'"fingerprint": "', b'"fingerprint": "0', 1)[:-1],
        raw[:-5] + (b"1" if raw[-5:-4] == b"0" else b"0") + raw[-4:],
        raw.replace(b'"serial": 4', b'"serial": 5'),
        raw[:-1],
        raw + b"\n",
        _without_summary(raw),
        raw.replace(b"  },\n", b"  }\n").rpartition(b'  "summary"')[0] + b"}\n",  # before checksums
        b"",
    ):
        assert _summary_of(edited, tmp_path) is None, edited[-200:]
    # Written before summaries: still sealed, indexed, and read whole, as before.
    old = _without_summary(raw)
    assert index_lines(old).sealed and index_lines(old).rows == index_lines(raw).rows
    assert State.model_validate_json(old) == State.model_validate_json(raw)


def test_the_summary_of_a_file_larger_than_one_read_is_checked_to_its_last_byte(tmp_path: Path) -> None:
    big = State(
        resources={
            f"WorkOrderLine/{n:04d}": line(n).model_copy(update={"payload": {"comments": "ω" * 3000}})
            for n in range(700)
        }
    )
    raw = serialise(big)
    assert len(raw) > 4 << 20  # four reads of a megabyte, and a part
    assert _summary_of(raw, tmp_path)[:4] == (None, 0, 700, big.snapshot().fingerprint)
    sealed_end = raw.rindex(b'  "checksum"')
    for at in (100, 1 << 20, (1 << 20) + 1, sealed_end - 3):  # a byte changed in any read voids it
        edited = raw[:at] + (b"0" if raw[at : at + 1] != b"0" else b"1") + raw[at + 1 :]
        assert _summary_of(edited, tmp_path) is None, at


def test_the_summary_is_made_from_the_entries_written_and_left_out_where_they_are_not_indexable(
    tmp_path: Path,
) -> None:
    one, two = line(1), line(2)
    written = {"WorkOrderLine/1": one.model_dump_json().encode(), "WorkOrderLine/2": two.model_dump_json().encode()}
    raw = b"".join(serialise_entries(1, None, 0, sorted(written), written.__getitem__))
    assert (
        _summary_of(raw, tmp_path).fingerprint == state(WorkOrderLine_1=one, WorkOrderLine_2=two).snapshot().fingerprint
    )
    # Out of order, the lines could not be bisected: no summary.
    raw = b"".join(serialise_entries(1, None, 0, sorted(written, reverse=True), written.__getitem__))
    assert b'"summary"' not in raw and _summary_of(raw, tmp_path) is None and not index_lines(raw).ordered
    # A digest that is not hex (only tests write one) cannot be indexed: no summary, and the file is read whole.
    odd = state(WorkOrderLine_1=one, WorkOrderLine_2=two.model_copy(update={"digest": "xx"}))
    raw = serialise(odd)
    assert b'"summary"' not in raw and _summary_of(raw, tmp_path) is None and index_lines(raw) is None
    assert State.model_validate_json(raw) == odd


def test_a_sealed_file_is_indexed_only_when_a_plan_looks_past_its_summary(
    store: StateStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = store.write(state(WorkOrderLine_1=line(1), WorkOrderLine_2=line(2, status="production")))
    indexed: list[object] = []
    real = store_module.index_lines
    monkeypatch.setattr(store_module, "index_lines", lambda fh: indexed.append(fh) or real(fh))
    snapshot = StateStore(store.path, cache_dir=tmp_path / "cache").snapshot()
    assert (snapshot.lineage, snapshot.serial, len(snapshot)) == (written.lineage, written.serial, 2)
    assert snapshot.fingerprint == written.snapshot().fingerprint
    # All a plan that changes nothing asks; and a few resources are found in the sorted file, not indexed.
    assert snapshot.entry("WorkOrderLine/2") == IndexEntry.of(written.resources["WorkOrderLine/2"])
    assert snapshot["WorkOrderLine/1"] == written.resources["WorkOrderLine/1"]
    assert "WorkOrderLine/3" not in snapshot and snapshot.entry("Client/C-1") is None
    assert indexed == []
    assert snapshot.to_state() == written and len(indexed) == 1  # every resource: indexed, once
    assert snapshot.entry("WorkOrderLine/2") == IndexEntry.of(written.resources["WorkOrderLine/2"])
    # The index built on the way is cached: the next snapshot decodes it, and indexes nothing.
    again = StateStore(store.path, cache_dir=tmp_path / "cache").snapshot()
    assert again.to_state() == written and len(indexed) == 1


def test_past_a_few_hundred_lookups_the_sealed_file_is_indexed(
    store: StateStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = store.write(State(resources={f"WorkOrderLine/{n}": line(n) for n in range(1, 6)}))
    monkeypatch.setattr(store_module, "_LOOKUPS", 2)
    found: list[str] = []
    real = store_module.find_row
    monkeypatch.setattr(
        store_module, "find_row", lambda fd, summary, addr: found.append(addr) or real(fd, summary, addr)
    )
    snapshot = StateStore(store.path, cache_dir=tmp_path / "cache").snapshot()
    for n in (1, 1, 2, 1, 3, 4, 5, 2):  # a resource looked up again is not looked for again
        assert snapshot.entry(f"WorkOrderLine/{n}") == IndexEntry.of(written.resources[f"WorkOrderLine/{n}"])
    assert found == ["WorkOrderLine/1", "WorkOrderLine/2"]


@pytest.mark.parametrize("seed", range(6))
def test_a_resource_found_in_the_sorted_file_is_the_one_the_index_holds(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    names = ["Πελάτης", 'a"b', "c\\d", "0", "zz", "x" * 300]
    resources = {}
    for _ in range(rng.choice([0, 1, 2, 3, 40, 300])):
        addr = f"{rng.choice(['Client', 'Product', 'WorkOrder', 'WorkOrderLine'])}/{rng.choice(names)}{rng.randrange(10**6)}"
        long = "ω" * rng.choice([0, 10, 5000])  # lines longer than a read, and shorter
        resources[addr] = line(rng.randrange(100), status=rng.choice([None, "standby", "production"])).model_copy(
            update={"payload": {"comments": long}}
        )
    raw = serialise(State(resources=resources))
    path = tmp_path / "sorted.json"
    path.write_bytes(raw)
    rows = index_lines(raw).rows
    fd = os.open(path, os.O_RDONLY)
    try:
        summary = sealed_summary(fd, len(raw))
        assert summary is not None and summary.size == len(resources)
        for addr in resources:
            assert find_row(fd, summary, addr) == (True, rows[addr])
            for absent in (addr + "0", addr[:-1], addr.replace("/", "/ ")):  # just after, before, elsewhere
                assert find_row(fd, summary, absent) == (True, rows.get(absent))
        for absent in ("", "A", "Client/", "Product/0", "~"):
            assert find_row(fd, summary, absent) == (True, None)
        # Where a line is not in the layout, it says so, and the store indexes the file instead.
        if resources:
            wrong = summary._replace(start=summary.start + 3)
            assert find_row(fd, wrong, min(resources)) in ((False, None), (True, rows[min(resources)]))
    finally:
        os.close(fd)


def test_the_summary_is_cached_and_a_cached_one_that_is_not_one_is_read_again(
    store: StateStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = store.write(state(WorkOrderLine_1=line(1), WorkOrderLine_2=line(2)))
    read: list[int] = []
    real = store_module.sealed_summary
    monkeypatch.setattr(store_module, "sealed_summary", lambda fd, size: read.append(size) or real(fd, size))
    want = (written.lineage, written.serial, 2, written.snapshot().fingerprint)

    def summary() -> tuple[object, ...]:
        snapshot = StateStore(store.path, cache_dir=tmp_path / "cache").snapshot()
        return snapshot.lineage, snapshot.serial, len(snapshot), snapshot.fingerprint

    assert summary() == want and len(read) == 1
    assert summary() == want and len(read) == 1  # from the cache: the file's checksum is not computed again
    fine = json.loads(
        sqlite3.connect(tmp_path / "cache" / "state.sqlite")
        .execute("SELECT value FROM blobs WHERE name LIKE '%:summary'")
        .fetchone()[0]
    )
    for damaged in (
        b"{not json",
        b"[1, 2, 3]",
        b'[null, 1, 2, "short", 1, 2]',
        b'["x", "1", 2, "' + b"0" * 32 + b'", 1, 2]',
        json.dumps([*fine[:4], fine[4] + 1, fine[5]]).encode(),  # entries not where the file has them
        json.dumps([*fine[:5], fine[5] - 1]).encode(),
        json.dumps([*fine[:4], 0, 0]).encode(),
    ):
        _overwrite_cached(tmp_path / "cache", "%:summary", damaged)
        assert summary() == want, damaged
        entry = StateStore(store.path, cache_dir=tmp_path / "cache").snapshot().entry("WorkOrderLine/2")
        assert entry == IndexEntry.of(written.resources["WorkOrderLine/2"])
    assert len(read) == 1 + 7  # each damaged one read again, then cached again


def test_a_summary_made_stale_by_a_hand_edit_is_not_believed(store: StateStore, tmp_path: Path) -> None:
    store.write(state(WorkOrderLine_1=line(1), WorkOrderLine_2=line(2)))
    raw = store.path.read_bytes()
    store.path.write_bytes(raw.replace(b'"digest":"' + b"0" * 31 + b"2", b'"digest":"' + b"0" * 31 + b"9"))
    snapshot = StateStore(store.path, cache_dir=tmp_path / "cache").snapshot()
    edited = state(WorkOrderLine_1=line(1), WorkOrderLine_2=line(2).model_copy(update={"digest": "0" * 31 + "9"}))
    assert (
        snapshot.fingerprint
        == edited.snapshot().fingerprint
        != state(WorkOrderLine_1=line(1), WorkOrderLine_2=line(2)).snapshot().fingerprint
    )


def test_an_address_edited_by_hand_is_named(store: StateStore) -> None:
    store.write(state(WorkOrderLine_1=line(1), WorkOrderLine_2=line(2)))
    raw = store.path.read_bytes()
    store.path.write_bytes(raw.replace(b'"WorkOrderLine/2"', b'"Gadget/2"'))
    with pytest.raises(StateError) as caught:
        StateStore(store.path).snapshot()
    message = f"state file {store.path} is corrupt: address 'Gadget/2' has an unknown kind 'Gadget'"
    assert str(caught.value).splitlines()[0] == message
    assert caught.value.hint == "no backup exists; restore the file from git history (git log -- <state file>)"


def test_an_entry_is_validated_when_the_seal_is_broken_and_only_then(store: StateStore, tmp_path: Path) -> None:
    store.write(state(WorkOrderLine_1=line(1), WorkOrderLine_2=line(2)))
    raw = store.path.read_bytes()
    # A payload that is not an object: within the layout, so only validating the entry finds it.
    bad = raw.replace(b'"payload":{"quantity":2,"comments":"' + "σχόλιο 2".encode() + b'"}', b'"payload":[2]')
    assert bad != raw
    store.path.write_bytes(bad)
    with pytest.raises(StateError) as caught:
        StateStore(store.path).snapshot()
    assert "is corrupt: " in str(caught.value) and "at resources.WorkOrderLine/2.payload" in str(caught.value)
    # The same bytes with the checksum they would have if this module had written them: trusted, not read.
    sealed_part = bad.rpartition(b"  },\n")[0]
    checksum = hashlib.sha256(sealed_part).hexdigest()
    store.path.write_bytes(sealed_part + f'  }},\n  "checksum": "sha256:{checksum}"\n}}\n'.encode())
    snapshot = StateStore(store.path).snapshot()
    assert len(snapshot) == 2
    with pytest.raises(StateError, match=r"at resources\.WorkOrderLine/2\.payload"):
        snapshot["WorkOrderLine/2"]  # named when read all the same


# ----------------------------------------------------------------------------- reading


def test_missing_file_is_empty_and_a_write_starts_the_lineage(store: StateStore) -> None:
    assert store.read() == State() and store.snapshot().serial == 0
    written = store.write(state(WorkOrderLine_1=line(1)))
    assert written.serial == 1 and len(written.lineage) == 36
    assert store.read() == written
    again = store.write(written)
    assert (again.serial, again.lineage) == (2, written.lineage)
    assert not store.backup_path.with_name(f".{store.backup_path.name}.{os.getpid()}.tmp").exists()


def test_a_file_edited_by_hand_is_read_whole(store: StateStore) -> None:
    written = store.write(state(WorkOrderLine_1=line(1, status="production"), Client_C=line(2, parent=None)))
    store.path.write_text(json.dumps(written.model_dump(mode="json"), indent=4, ensure_ascii=False), encoding="utf-8")
    snap = store.snapshot()
    assert snap.to_state() == written and snap.index["WorkOrderLine/1"].launched


def test_the_index_is_cached_and_rebuilt_when_the_file_changes(store: StateStore, tmp_path: Path) -> None:
    written = store.write(state(WorkOrderLine_1=line(1), WorkOrderLine_2=line(2, status="production")))
    first = store.snapshot()
    assert (tmp_path / "cache" / "state.sqlite").exists()
    cached = StateStore(store.path, cache_dir=tmp_path / "cache").snapshot()
    assert cached.index == first.index and cached.to_state() == written
    assert cached.fingerprint == first.fingerprint and len(cached) == 2
    assert set(cached.rows) == {"WorkOrderLine/1", "WorkOrderLine/2"}
    changed = store.write(written.model_copy(update={"resources": {"WorkOrderLine/3": line(3)}}))
    assert StateStore(store.path, cache_dir=tmp_path / "cache").snapshot().to_state() == changed


@pytest.fixture
def sharded(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> tuple[StateStore, State]:
    """A state of seven lines whose cached index is kept in shards of two rows."""
    monkeypatch.setattr(store_module, "_SHARD_ROWS", 2)
    written = store.write(State(resources={f"WorkOrderLine/{n}": line(n, status="standby") for n in range(1, 8)}))
    assert len(store.snapshot().rows) == 7  # indexed (the rows asked for), and cached in four shards
    return store, written


def _cached_loads(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The cached values the store decodes from now on."""
    decoded: list[bytes] = []

    class Counting:
        def __getattr__(self, name: str) -> object:
            return getattr(orjson, name)

        @staticmethod
        def loads(raw: bytes) -> object:
            decoded.append(raw)
            return orjson.loads(raw)

    monkeypatch.setattr(store_module, "orjson", Counting())
    return decoded


def _overwrite_cached(cache: Path, names: str, value: bytes) -> None:
    """Put ``value`` in place of the state cache's values whose names are LIKE ``names``."""
    db = sqlite3.connect(cache / "state.sqlite")
    with db:
        db.execute("UPDATE blobs SET value = ? WHERE name LIKE ?", (value, names))
    db.close()


def test_one_entry_of_a_cached_index_decodes_one_shard(sharded, tmp_path: Path, monkeypatch) -> None:
    store, written = sharded
    decoded = _cached_loads(monkeypatch)
    cached = StateStore(store.path, cache_dir=tmp_path / "cache").snapshot()
    assert len(decoded) == 1 and len(cached) == 7  # the summary alone
    assert cached.entry("WorkOrderLine/5") == IndexEntry.of(written.resources["WorkOrderLine/5"])
    assert cached["WorkOrderLine/5"] == written.resources["WorkOrderLine/5"]
    assert len(decoded) == 2  # and the one shard that holds it
    # Before the first address, between two, after the last: not there, in any shard.
    for absent in ("Client/C-1", "WorkOrderLine/15", "WorkOrderLine/9"):
        assert absent not in cached and cached.entry(absent) is None
    for addr, res in written.resources.items():
        assert addr in cached and cached.entry(addr) == IndexEntry.of(res)
    assert cached.to_state() == written and set(cached.rows) == set(written.resources)


def test_a_damaged_shard_is_indexed_again_from_the_file(sharded, tmp_path: Path) -> None:
    store, written = sharded
    _overwrite_cached(tmp_path / "cache", "%:1", b"{not json")
    cached = StateStore(store.path, cache_dir=tmp_path / "cache").snapshot()
    assert cached.entry("WorkOrderLine/3") == IndexEntry.of(written.resources["WorkOrderLine/3"])
    assert cached.to_state() == written


@pytest.mark.parametrize(
    "meta",
    [
        b"[]",
        b'{"lineage": null, "serial": 1, "count": 7, "fingerprint": "f"}',
        b'{"lineage": null, "serial": 1, "count": 7, "fingerprint": "f", "shards": 4}',
        b'{"lineage": null, "serial": 1, "count": 7, "fingerprint": "f", "shards": [1, 2]}',
        b'{"lineage": null, "serial": 1, "count": 7, "fingerprint": "f", "shards": ["", "WorkOrderLine/5", "WorkOrderLine/3"]}',
    ],
)
def test_a_cached_summary_that_is_not_one_is_indexed_again(sharded, tmp_path: Path, meta: bytes) -> None:
    store, written = sharded
    _overwrite_cached(tmp_path / "cache", "%:meta", meta)
    cached = StateStore(store.path, cache_dir=tmp_path / "cache").snapshot()
    assert cached.fingerprint == written.snapshot().fingerprint
    for addr, res in written.resources.items():
        assert cached.entry(addr) == IndexEntry.of(res)


def test_an_index_built_or_cached_holds_what_the_state_holds(tmp_path: Path) -> None:
    """Fresh from the file and from the cache: the same rows, the same fingerprint as the state's own."""
    for name, resources in (("empty", {}), ("two", {"WorkOrderLine/1": line(1), "Client/C1": line(2)})):
        store = StateStore(tmp_path / f"{name}.json", cache_dir=tmp_path / "cache")
        written = store.write(State(resources=resources))
        expected = written.snapshot()
        for snapshot in (store.snapshot(), StateStore(store.path, cache_dir=tmp_path / "cache").snapshot()):
            assert snapshot.fingerprint == expected.fingerprint and len(snapshot) == len(resources)
            assert {a: tuple(r[:5]) for a, r in snapshot.rows.items()} == dict(expected.index)
            assert "WorkOrderLine/9" not in snapshot and snapshot.entry("Client/C0") is None


def test_a_file_out_of_order_is_indexed_whole(sharded, tmp_path: Path) -> None:
    """Shards are found by their first address, so they need the file's order; a hand-sorted file is one."""
    store, written = sharded
    lines = store.path.read_bytes().split(b"\n")
    entries = lines[5:12]
    assert all(b'"WorkOrderLine/' in entry for entry in entries)
    reordered = [entries[6].rstrip(b",") + b",", *entries[:5], entries[5] + b""]
    reordered[-1] = reordered[-1].rstrip(b",")
    store.path.write_bytes(b"\n".join([*lines[:5], *reordered, *lines[12:]]))
    indexed = index_lines(store.path.read_bytes())
    assert indexed is not None and not indexed.ordered and not indexed.sealed
    assert StateStore(store.path, cache_dir=tmp_path / "cache").snapshot().to_state() == written
    cached = StateStore(store.path, cache_dir=tmp_path / "cache").snapshot()
    for addr, res in written.resources.items():
        assert cached.entry(addr) == IndexEntry.of(res)
    assert cached.entry("WorkOrderLine/0") is None


def test_a_corrupt_entry_is_named_even_when_the_index_was_cached(store: StateStore, tmp_path: Path) -> None:
    store.write(state(WorkOrderLine_1=line(1)))
    store.read()  # the index is cached now
    raw = store.path.read_bytes()
    bad = raw.replace(b'"archived":false', b'"archived":false,"extra":1', 1)
    store.path.write_bytes(bad)
    with pytest.raises(StateError) as caught:
        store.read()
    assert "at resources.WorkOrderLine/1.extra" in str(caught.value)
    assert "no backup exists; restore the file from git history" in caught.value.hint


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format_version": 1, "serial": "x"', "is corrupt: "),
        ('{"format_version": 1, "serial": 1, "serial": 2}', "'serial' appears twice"),
        ('{"format_version": 2}', "is corrupt: Input should be 1 at format_version"),
        ('{"format_version": 1, "resources": {"A/1": {"digest": 5, "payload": {}}}}', "at resources.A/1.digest"),
    ],
)
def test_corrupt_files_name_what_is_wrong_and_the_backup(store: StateStore, text: str, message: str) -> None:
    store.write(store.write(State()))
    store.path.write_text(text)
    with pytest.raises(StateError) as caught:
        store.read()
    assert f"state file {store.path}" in str(caught.value) and message in str(caught.value)
    assert caught.value.hint.startswith(f"the previous version is kept at {store.backup_path}")


def test_a_state_file_that_cannot_be_read(store: StateStore) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.mkdir()  # a folder where the file should be
    with pytest.raises(StateError) as caught:
        store.read()
    assert caught.value.message == f"cannot read state file {store.path}: Is a directory"
    assert caught.value.hint == "check the file's permissions"


def test_a_state_file_that_cannot_be_opened(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("a file where the state's folder should be")
    store = StateStore(tmp_path / "state" / "t.json")
    with pytest.raises(StateError) as caught:
        store.read()
    assert caught.value.message == f"cannot read state file {store.path}: Not a directory"
    assert caught.value.hint == "check the file's permissions"


# ----------------------------------------------------------------------------- the backup's lineage and serial


def test_an_older_state_put_back_is_refused(store: StateStore) -> None:
    first = store.write(State())
    old = store.path.read_bytes()
    store.write(store.write(first))
    store.path.write_bytes(old)  # serial 1, backup serial 2
    with pytest.raises(StateError) as caught:
        store.read()
    assert caught.value.message == (
        f"state file {store.path} has serial 1, older than its backup's 2: an older version of the state was put back"
    )
    assert caught.value.hint == (
        "an older state would make the next plan undo applied changes; restore the newest one from git history, "
        "or remove the backup if you really mean to go back"
    )


def test_another_targets_state_is_refused(store: StateStore, tmp_path: Path) -> None:
    store.write(store.write(State()))
    other = StateStore(tmp_path / "other.json")
    other.write(other.write(State()))
    store.path.write_bytes(other.path.read_bytes())
    with pytest.raises(StateError) as caught:
        store.read()
    ours, theirs = header(store.backup_path.read_bytes())[0], header(other.path.read_bytes())[0]
    assert caught.value.message == (
        f"state file {store.path} (lineage {theirs}) is not the successor of its backup {store.backup_path} "
        f"(lineage {ours})"
    )
    assert caught.value.hint == (
        "the state file was replaced by another target's; restore the right one from git history, "
        "or remove the backup if the replacement was intended"
    )


def test_equal_serials_and_unreadable_backups_are_accepted(store: StateStore) -> None:
    written = store.write(store.write(State()))
    store.backup_path.write_bytes(store.path.read_bytes())  # killed between keeping the backup and the rename
    assert store.read() == written
    store.backup_path.write_text("not a state")
    assert store.read() == written
    store.backup_path.write_bytes(serialise(State(serial=1)))
    assert store.read() == written  # a backup without lineage: only its serial is checked
    store.backup_path.write_bytes(serialise(State(serial=3)))
    with pytest.raises(StateError, match="older than its backup's 3"):
        store.read()


# ----------------------------------------------------------------------------- the write-ahead file


def test_appends_are_laid_over_the_file_then_folded_in(store: StateStore) -> None:
    base = store.write(state(WorkOrderLine_1=line(1), WorkOrderLine_2=line(2)))
    lineage, serial = store.append(base.lineage, base.serial, {"WorkOrderLine/3": line(3)})
    assert (lineage, serial) == (base.lineage, 2)
    lineage, serial = store.append(lineage, serial, {"WorkOrderLine/1": None, "WorkOrderLine/2": line(22)})
    assert serial == 3
    snap = store.snapshot()
    assert snap.serial == 3 and set(snap.index) == {"WorkOrderLine/2", "WorkOrderLine/3"}
    assert snap["WorkOrderLine/2"] == line(22) and snap.lineage == base.lineage
    folded = store.write(snap.to_state())
    assert folded.serial == 4 and not store.wal_path.exists()
    assert store.read() == folded


def test_appends_to_a_new_state_give_it_a_lineage(store: StateStore) -> None:
    lineage, serial = store.append(None, 0, {"Client/C-1": line(1, parent=None)})
    assert serial == 1 and len(lineage) == 36
    snap = store.snapshot()
    assert (snap.lineage, snap.serial, list(snap.index)) == (lineage, 1, ["Client/C-1"])


def test_a_torn_last_append_and_lines_already_folded_are_skipped(store: StateStore) -> None:
    base = store.write(state(WorkOrderLine_1=line(1)))
    store.append(base.lineage, base.serial, {"WorkOrderLine/2": line(2)})
    with open(store.wal_path, "ab") as fh:
        fh.write(orjson.dumps({"lineage": base.lineage, "serial": 3, "changes": {"WorkOrderLine/3": {}}})[:30])
    snap = store.snapshot()
    assert snap.serial == 2 and set(snap.index) == {"WorkOrderLine/1", "WorkOrderLine/2"}
    stale = orjson.dumps({"lineage": base.lineage, "serial": 1, "changes": {"WorkOrderLine/9": None}}) + b"\n"
    store.wal_path.write_bytes(stale)
    assert store.snapshot().to_state() == base  # serial 1 is the file's own: already in it


def test_a_write_ahead_record_with_a_bad_address_or_of_another_state_is_named(store: StateStore) -> None:
    base = store.write(state(WorkOrderLine_1=line(1)))
    record = {"lineage": base.lineage, "serial": 2, "changes": {"Gadget/2": None}}
    store.wal_path.write_bytes(orjson.dumps(record) + b"\n")
    with pytest.raises(StateError) as caught:
        store.snapshot()
    assert caught.value.message == f"{store.wal_path} is corrupt: address 'Gadget/2' has an unknown kind 'Gadget'"
    assert caught.value.hint == f"remove {store.wal_path} if {store.path} is the state you want"
    record = {"lineage": "0f0e0d0c-0000-4000-8000-000000000009", "serial": 2, "changes": {}}
    store.wal_path.write_bytes(orjson.dumps(record) + b"\n")
    with pytest.raises(StateError) as caught:
        store.snapshot()
    assert caught.value.message == (
        f"{store.wal_path} belongs to another state (lineage 0f0e0d0c-0000-4000-8000-000000000009)"
    )
    assert caught.value.hint == f"remove {store.wal_path} if {store.path} is the state you want"


def test_write_ahead_records_already_folded_are_skipped_and_later_ones_laid_over(store: StateStore) -> None:
    base = store.write(state(WorkOrderLine_1=line(1)))  # serial 1
    records = [
        {"lineage": base.lineage, "serial": 1, "changes": {"WorkOrderLine/7": None}},  # the file's own serial
        {"lineage": base.lineage, "serial": 2, "changes": {"WorkOrderLine/2": orjson.loads(line(2).model_dump_json())}},
    ]
    store.wal_path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    snap = store.snapshot()
    assert snap.serial == 2 and set(snap.index) == {"WorkOrderLine/1", "WorkOrderLine/2"}
    assert snap["WorkOrderLine/2"] == line(2)


def test_a_record_written_after_a_torn_one_starts_a_line_of_its_own(store: StateStore) -> None:
    base = store.write(state(WorkOrderLine_1=line(1)))
    store.append(base.lineage, base.serial, {"WorkOrderLine/2": line(2)})
    with open(store.wal_path, "ab") as fh:  # a crash in the middle of the next record
        fh.write(orjson.dumps({"lineage": base.lineage, "serial": 3, "changes": {"WorkOrderLine/3": {}}})[:30])
    store.append(base.lineage, 2, {"WorkOrderLine/4": line(4)})
    assert [orjson.loads(x)["serial"] for x in store.wal_path.read_bytes().splitlines()] == [2, 3]
    assert set(store.snapshot().index) == {"WorkOrderLine/1", "WorkOrderLine/2", "WorkOrderLine/4"}


@pytest.mark.parametrize("chunk", [1 << 20, 7, 1], ids=["one read", "small chunks", "byte by byte"])
def test_a_torn_tail_is_cut_at_the_last_newline_however_long(
    store: StateStore, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    from reconciler.state import store as store_module

    monkeypatch.setattr(store_module, "_TAIL_CHUNK", chunk)
    base = store.write(state(WorkOrderLine_1=line(1)))
    store.append(base.lineage, base.serial, {"WorkOrderLine/2": line(2)})
    store.append(base.lineage, 2, {"WorkOrderLine/3": line(3)})
    whole = store.wal_path.read_bytes()
    with open(store.wal_path, "ab") as fh:  # a torn record longer than a chunk, with no newline in it
        fh.write(
            orjson.dumps({"lineage": base.lineage, "serial": 4, "changes": {"WorkOrderLine/9": line(9).model_dump()}})[
                :-5
            ]
        )
    store.append(base.lineage, 3, {"WorkOrderLine/4": line(4)})
    assert store.wal_path.read_bytes().startswith(whole)
    assert [orjson.loads(x)["serial"] for x in store.wal_path.read_bytes().splitlines()] == [2, 3, 4]
    assert set(store.snapshot().index) == {f"WorkOrderLine/{n}" for n in (1, 2, 3, 4)}


def test_a_write_ahead_file_holding_only_a_torn_record_is_started_again(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.state import store as store_module

    monkeypatch.setattr(store_module, "_TAIL_CHUNK", 1)
    base = store.write(state(WorkOrderLine_1=line(1)))
    store.wal_path.write_bytes(b'{"lineage": "' + base.lineage.encode() + b'", "serial": 2, "chan')
    store.append(base.lineage, base.serial, {"WorkOrderLine/2": line(2)})
    assert store.wal_path.read_bytes().startswith(b'{"lineage":') and store.wal_path.read_bytes().count(b"\n") == 1
    assert set(store.snapshot().index) == {"WorkOrderLine/1", "WorkOrderLine/2"}


def test_the_write_ahead_file_makes_its_folder_and_never_follows_a_link(tmp_path: Path) -> None:
    nested = StateStore(tmp_path / "a" / "b" / "t.json")
    assert nested.append(None, 0, {"Client/C-1": line(1, parent=None)})[1] == 1
    assert nested.snapshot().serial == 1
    outside = tmp_path / "outside.txt"
    outside.write_text("not the reconciler's\n")
    linked = StateStore(tmp_path / "c" / "t.json")
    linked.path.parent.mkdir()
    linked.wal_path.symlink_to(outside)
    with pytest.raises(StateError, match=r"cannot write .*t\.json\.wal"):
        linked.append(None, 0, {"Client/C-1": line(1, parent=None)})
    assert outside.read_text() == "not the reconciler's\n"
    assert oct(os.stat(nested.wal_path).st_mode & 0o777) == oct(0o644 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_write_ahead_write_that_fails_leaves_only_whole_committed_records(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = store.write(state(WorkOrderLine_1=line(1)))
    wal = store.write_ahead()
    wal.begin(base.lineage, base.serial)
    wal.add([("WorkOrderLine/2", line(2).model_dump_json().encode())])
    saved = wal.commit()
    wal.begin(*saved)
    [offset] = wal.add([("WorkOrderLine/3", line(3).model_dump_json().encode())])
    real_write = os.write

    def half_then_full(fd: int, data: bytes) -> int:  # a disk that fills up in the middle of a write
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(StateError, match="No space left on device"):
        wal.add([("WorkOrderLine/4", line(4).model_dump_json().encode())])
    monkeypatch.undo()
    assert ResourceState.model_validate_json(wal.read(offset, len(line(3).model_dump_json().encode()))) == line(3)
    with pytest.raises(StateError, match="No space left on device"):  # nothing more is tried on that disk
        wal.commit()
    wal.close()
    records = [orjson.loads(x) for x in store.wal_path.read_bytes().splitlines()]
    assert [r["serial"] for r in records] == [2] and store.wal_path.read_bytes().endswith(b"\n")
    assert set(store.snapshot().index) == {"WorkOrderLine/1", "WorkOrderLine/2"}


def test_a_write_ahead_file_of_another_state_is_refused(store: StateStore) -> None:
    base = store.write(State())
    record = {"lineage": "another", "serial": 5, "changes": {}}
    store.wal_path.write_bytes(orjson.dumps(record) + b"\n")
    with pytest.raises(StateError, match="belongs to another state") as caught:
        store.read()
    assert f"remove {store.wal_path}" in caught.value.hint
    assert base.serial == 1


def test_append_and_write_failures_say_the_state_is_unchanged(store: StateStore) -> None:
    store.write(State())
    store.wal_path.mkdir()
    with pytest.raises(StateError, match=r"cannot write .*t\.json\.wal") as caught:
        store.append(None, 1, {})
    assert "the journal settles the batch in flight" in caught.value.hint
    with pytest.raises(StateError, match="cannot read"):
        store.read()
    store.wal_path.rmdir()
    store.path.unlink()
    store.path.mkdir()
    (store.path / "x").write_text("a folder where the state file goes")
    with pytest.raises(StateError, match="cannot write state file") as caught:
        store.write(State())
    assert "the previous state file is unchanged" in caught.value.hint


# ----------------------------------------------------------------------------- locks


def test_lock_information_and_force_unlock(store: StateStore) -> None:
    assert store.lock_info() is None
    with pytest.raises(StateError, match="has no recorded lock to remove"):
        store.force_unlock("x")
    with store.lock("plan") as lock_id:
        info = store.lock_info()
        assert info["id"] == lock_id and info["operation"] == "plan" and info["pid"] == os.getpid()
        assert info["owner"] and info["host"] and info["created"]
    assert store.lock_info() is None and not store.lock_info_path.exists()
    store.lock_info_path.write_text("{garbled")
    assert store.lock_info() is None
    assert "no owner information recorded" in store._describe_holder()
    store.lock_info_path.write_text(
        json.dumps({"id": "L-1", "owner": "ο Γιώργος", "host": "h", "pid": 7, "created": NOW, "operation": "apply"})
    )
    assert store._describe_holder() == f"held by ο Γιώργος on h (pid 7) since {NOW} for apply; lock id L-1"
    store.force_unlock("L-1")
    assert not store.lock_info_path.exists()


# ----------------------------------------------------------------------------- what mutation testing asked for


def test_the_files_next_to_the_state(store: StateStore) -> None:
    assert [p.name for p in (store.backup_path, store.wal_path, store.lock_path, store.lock_info_path)] == [
        "t.json.backup",
        "t.json.wal",
        "t.json.lock",
        "t.json.lock.json",
    ]


def test_an_empty_state_file_is_corrupt_not_a_crash(store: StateStore) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(b"")
    with pytest.raises(StateError, match="is corrupt: Expecting value"):
        store.read()


def test_unreadable_state_says_to_check_permissions(store: StateStore) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.mkdir()
    with pytest.raises(StateError) as caught:
        store.snapshot()
    assert caught.value.hint == "check the file's permissions"


def test_a_hand_edited_file_is_checked_against_its_backup_too(store: StateStore) -> None:
    first = store.write(State())
    store.write(store.write(first))
    store.path.write_text(json.dumps(first.model_dump(mode="json"), indent=2))  # serial 1, backup serial 2
    with pytest.raises(StateError, match="has serial 1, older than its backup's 2"):
        store.read()
    store.path.write_text(json.dumps({**first.model_dump(mode="json"), "lineage": "other", "serial": 9}))
    with pytest.raises(StateError, match="is not the successor of its backup"):
        store.read()


def test_the_cached_index_is_what_a_plan_reads(store: StateStore, tmp_path: Path) -> None:
    """The index comes from the cache while the file's size, time and inode are the same (so a plan of an
    unchanged state reads no payload); shown by changing a digest behind the cache's back."""
    store.write(state(WorkOrderLine_1=line(1)))
    assert store.snapshot().index["WorkOrderLine/1"].digest == f"{1:032x}"
    info = os.stat(store.path)
    raw = store.path.read_bytes()
    with open(store.path, "r+b") as fh:  # same size, same inode, the time put back
        fh.write(raw.replace(f"{1:032x}".encode(), f"{2:032x}".encode()))
    os.utime(store.path, ns=(info.st_atime_ns, info.st_mtime_ns))
    cached = StateStore(store.path, cache_dir=tmp_path / "cache").snapshot()
    assert cached.index["WorkOrderLine/1"].digest == f"{1:032x}"  # from the cache
    assert cached.fingerprint is not None and len(cached) == 1 and set(cached.rows) == {"WorkOrderLine/1"}
    uncached = StateStore(store.path).snapshot()
    assert uncached.index["WorkOrderLine/1"].digest == f"{2:032x}"
    # An entry damaged behind the cache's back is named when it is read.
    with open(store.path, "r+b") as fh:
        fh.write(raw.replace(b'"archived":false', b'"archived":fals1'))
    os.utime(store.path, ns=(info.st_atime_ns, info.st_mtime_ns))
    snap = StateStore(store.path, cache_dir=tmp_path / "cache").snapshot()
    with pytest.raises(StateError) as caught:
        snap["WorkOrderLine/1"]
    assert f"state file {store.path} is corrupt: " in str(caught.value)
    assert "at resources.WorkOrderLine/1" in str(caught.value)


def test_greek_addresses_stay_readable_in_the_file(store: StateStore) -> None:
    store.write(State(resources={"WorkOrder/ΠΑΡ-1": line(1, parent=None)}))
    assert '"WorkOrder/ΠΑΡ-1": {' in store.path.read_text(encoding="utf-8")
    assert store.read().resources["WorkOrder/ΠΑΡ-1"] == line(1, parent=None)
