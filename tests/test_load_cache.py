"""The parse cache and the parallel cold parse give exactly what a plain parse gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler import load
from reconciler.errors import ManifestError
from reconciler.load import load_manifests
from reconciler.manifests import cache as parse_cache
from reconciler.manifests import parse

from .conftest import ROOT


def _snapshot(desired) -> dict[str, tuple]:
    return {a: (r.digest, r.archived, r.parent, r.payload) for a, r in desired.resources.items()}


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    parsed: list[str] = []
    real = parse.parse_text

    def counting(file: str, text: str):
        parsed.append(file)
        return real(file, text)

    monkeypatch.setattr(parse, "parse_text", counting)
    return parsed


def test_unchanged_files_are_never_parsed_twice(sample_repo: Path, counted: list[str], monkeypatch) -> None:
    monkeypatch.chdir(sample_repo)
    cache = Path(".reconciler/cache")
    first = load_manifests(Path("manifests"), cache_dir=cache)
    assert len(counted) == 8
    counted.clear()
    second = load_manifests(Path("manifests"), cache_dir=cache)
    assert counted == [] and _snapshot(second) == _snapshot(first)

    path = Path("manifests/work-orders/2026-12/WO-26-0415.yaml")
    path.write_text(path.read_text(encoding="utf-8").replace("quantity: 1000", "quantity: 1100"), encoding="utf-8")
    third = load_manifests(Path("manifests"), cache_dir=cache)
    assert counted == [str(path)]
    assert third.resources["WorkOrderLine/131350"].payload["quantity"] == 1100


def test_an_index_updated_from_changed_work_orders_is_the_one_a_fresh_load_builds(
    sample_repo: Path, counted: list[str], monkeypatch
) -> None:
    monkeypatch.chdir(sample_repo)
    cache = Path(".reconciler/cache")
    load_manifests(Path("manifests"), cache_dir=cache)
    edited = Path("manifests/work-orders/2026-12/WO-26-0415.yaml")
    text = edited.read_text(encoding="utf-8").replace("quantity: 1000", "quantity: 1100")  # a line changed
    edited.write_text(text.replace("  - id: 131351\n", "  - id: 131359\n"), encoding="utf-8")  # one went, one came
    Path("manifests/work-orders/2026-12/WO-26-0414.yaml").unlink()  # a work order went
    added = Path("manifests/work-orders/2026-12/WO-26-0499.yaml")  # and one came
    added.write_text(
        "kind: WorkOrder\nid: WO-26-0499\nclient: C-1001\nlines:\n"
        "  - {id: 139999, product: P-2001, quantity: 5, routing: ΚΟΠΗ-ΒΑΦΗ, archived: true}\n",
        encoding="utf-8",
    )
    counted.clear()
    updated = load_manifests(Path("manifests"), cache_dir=cache)
    assert sorted(counted) == [str(edited), str(added)]  # only they were parsed: the index was updated
    fresh = load_manifests(Path("manifests"), cache_dir=Path("fresh-cache"))
    assert updated.fingerprint == fresh.fingerprint and updated.fingerprint is not None
    assert dict(updated.rows()) == dict(fresh.rows()) and _snapshot(updated) == _snapshot(fresh)
    assert "WorkOrderLine/139999" in updated.resources and "WorkOrderLine/131351" not in updated.resources


def test_editing_a_shared_routing_changes_digests_of_cached_lines(sample_repo: Path, counted, monkeypatch) -> None:
    monkeypatch.chdir(sample_repo)
    cache = Path(".reconciler/cache")
    before = load_manifests(Path("manifests"), cache_dir=cache)
    path = Path("manifests/routings/profiles.yaml")
    path.write_text(path.read_text(encoding="utf-8").replace("RAL 9016", "RAL 7016"), encoding="utf-8")
    counted.clear()
    after = load_manifests(Path("manifests"), cache_dir=cache)
    assert counted == [str(path)]  # the work orders come from the cache...
    changed = {a for a in before.resources if before.resources[a].digest != after.resources[a].digest}
    assert changed == {"WorkOrderLine/131319", "WorkOrderLine/131350"}  # ...yet their lines change
    steps = after.resources["WorkOrderLine/131350"].payload["routing"]["steps"]
    assert steps[2]["custom_fields"] == {"ΧΡΩΜΑ": "RAL 7016"}


def test_a_torn_cache_is_only_a_miss(sample_repo: Path, monkeypatch) -> None:
    monkeypatch.chdir(sample_repo)
    cache = Path(".reconciler/cache")
    first = load_manifests(Path("manifests"), cache_dir=cache)
    (cache / "manifests.pickle").write_bytes(b"\x80\x05garbage")
    assert _snapshot(load_manifests(Path("manifests"), cache_dir=cache)) == _snapshot(first)


def test_parallel_parse_matches_sequential(sample_repo: Path, monkeypatch) -> None:
    monkeypatch.chdir(sample_repo)
    sequential = load_manifests(Path("manifests"))
    monkeypatch.setattr(load, "PARALLEL_PARSE_BYTES", 0)
    parallel = load_manifests(Path("manifests"), cache_dir=Path(".reconciler/cache"))
    assert _snapshot(parallel) == _snapshot(sequential)
    cached = load_manifests(Path("manifests"), cache_dir=Path(".reconciler/cache"))
    assert _snapshot(cached) == _snapshot(sequential)


def test_letting_decoded_files_go_changes_nothing(sample_repo: Path, monkeypatch) -> None:
    """At 100,000 lines only the last files used stay decoded; one at a time must give the same everything."""
    monkeypatch.chdir(sample_repo)
    whole = load_manifests(Path("manifests"))
    monkeypatch.setattr(parse_cache, "RECENT_FILES", 1)
    for threshold in (10**12, 0):  # a sequential and a parallel cold parse, then the cache
        monkeypatch.setattr(load, "PARALLEL_PARSE_BYTES", threshold)
        cache = Path(f".reconciler/cache-{threshold}")
        assert _snapshot(load_manifests(Path("manifests"), cache_dir=cache)) == _snapshot(whole)
        assert _snapshot(load_manifests(Path("manifests"), cache_dir=cache)) == _snapshot(whole)
    (Path("manifests") / "again.yaml").write_text("kind: Client\nid: C-1001\nname: Twice\n", encoding="utf-8")
    messages = []
    for recent in (1, 256):
        monkeypatch.setattr(parse_cache, "RECENT_FILES", recent)
        with pytest.raises(ManifestError) as caught:
            load_manifests(Path("manifests"), cache_dir=Path(".reconciler/cache-dup"))
        messages.append([str(p) for p in caught.value.problems])
    assert messages[0] == messages[1] and "duplicate client id 'C-1001'" in messages[0][0]


def test_parallel_parse_reports_the_same_errors(sample_repo: Path, monkeypatch) -> None:
    monkeypatch.chdir(sample_repo)
    (Path("manifests") / "broken.yaml").write_text("kind: Client\nid: C-9\nnmae: x\n", encoding="utf-8")
    (Path("manifests") / "latin.yaml").write_bytes(b"kind: Client\nid: C-8\nname: \xc1\n")
    messages = []
    for threshold in (10**12, 0):
        monkeypatch.setattr(load, "PARALLEL_PARSE_BYTES", threshold)
        with pytest.raises(ManifestError) as caught:
            load_manifests(Path("manifests"))
        messages.append([str(p) for p in caught.value.problems])
    assert (
        messages[0]
        == messages[1]
        == [
            "manifests/broken.yaml:1:1: missing required field 'name' in client",
            "manifests/broken.yaml:3:1: unknown field 'nmae' in client; did you mean 'name'?",
            "manifests/latin.yaml:3:7: file is not valid UTF-8; save it as UTF-8",
        ]
    )


def test_the_sample_is_what_the_readme_says(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    desired = load_manifests(Path("manifests"))
    kinds = sorted(r.kind.value for r in desired.resources.values())
    assert kinds.count("WorkOrderLine") == 11 and kinds.count("Client") == 3 and kinds.count("Product") == 5
    assert len(desired.routings) == 2


def test_a_file_given_an_old_time_by_a_tool_is_read_again(sample_repo: Path, monkeypatch) -> None:
    """`git archive | tar x`, `cp -p` and rsync give a file its commit's time: two versions of one size
    then share a modification time, and only the change time (set by the system) tells them apart."""
    import os
    import time

    from reconciler.manifests import cache as parse_cache

    monkeypatch.chdir(sample_repo)
    monkeypatch.setattr(parse_cache, "_RACY_NS", 0)  # trust stamps at once, as two seconds later
    path = Path("manifests/work-orders/2026-12/WO-26-0414.yaml")
    commit_time = 1_700_000_000

    def checkout(text: str) -> None:
        path.write_text(text, encoding="utf-8")
        os.utime(path, (commit_time, commit_time))
        time.sleep(0.05)  # past the file system's clock tick

    before = path.read_text(encoding="utf-8")
    assert "quantity: 60" in before
    checkout(before)
    cache = Path(".reconciler/cache")
    first = load_manifests(Path("manifests"), cache_dir=cache)
    assert first.resources["WorkOrderLine/131340"].payload["quantity"] == 60
    checkout(before.replace("quantity: 60", "quantity: 64"))  # same size, same modification time
    second = load_manifests(Path("manifests"), cache_dir=cache)
    assert second.resources["WorkOrderLine/131340"].payload["quantity"] == 64
