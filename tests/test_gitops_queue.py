"""The state branch and the tenant's queue, against a local bare repository, in-process."""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from reconciler.gitops.branch import StateBranch, TargetFiles, merge_states
from reconciler.gitops.errors import GitOpsError, QueueBusyError, StateConflictError
from reconciler.gitops.git import Git, auth_env
from reconciler.gitops.queue import Lease, TenantQueue
from reconciler.gitops.workspace import run_in_queue
from reconciler.state.layout import serialise
from reconciler.state.values import ResourceState, State

FILES = TargetFiles("state/production.json")


def clone(tmp: Path, name: str) -> Git:
    origin = tmp / "origin.git"
    if not origin.exists():
        subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    subprocess.run(["git", "clone", "-q", str(origin), str(tmp / name)], check=True, capture_output=True)
    return Git(tmp / name)


def queue(git: Git, **options: object) -> TenantQueue:
    notices: list[str] = []
    q = TenantQueue(StateBranch(git), FILES, "production", poll_seconds=0.02, notice=notices.append, **options)
    q.notices = notices  # type: ignore[attr-defined]
    return q


def test_one_job_at_a_time_across_clones(tmp_path: Path) -> None:
    held: list[tuple[str, float, float]] = []

    queues = {f"job{i}": queue(clone(tmp_path, f"job{i}")) for i in range(3)}

    def job(name: str) -> None:
        q = queues[name]
        lease = q.acquire(name)
        start = time.monotonic()
        time.sleep(0.15)
        end = time.monotonic()
        q.record(lease, {"halt": None}, f"{name} done\n", release=True)
        held.append((name, start, end))

    threads = [threading.Thread(target=job, args=(name,)) for name in queues]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spans = sorted((start, end) for _, start, end in held)
    assert len(spans) == 3 and all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))
    assert queue(clone(tmp_path, "check")).current() is None


def test_a_busy_queue_waits_then_gives_up_and_an_expired_or_broken_lease_frees_it(tmp_path: Path) -> None:
    first = queue(clone(tmp_path, "a"))
    lease = first.acquire("apply")
    busy = queue(clone(tmp_path, "b"), wait_minutes=0.001)
    with pytest.raises(QueueBusyError, match=f"ci lease break {lease.lease.id}"):
        busy.acquire("plan")
    # The holder died, and its lease's time ran out.
    old = Lease(**{**lease.lease.__dict__, "expires": "2026-01-01T00:00:00+00:00"})
    first.branch.update(lambda tip: {FILES.lease: old.to_bytes()}, "time passes\n")
    taker = queue(clone(tmp_path, "c"))
    taken = taker.acquire("drift")
    assert any("expired" in n for n in taker.notices)  # type: ignore[attr-defined]
    first.record(lease, {"halt": None}, "late\n", release=True)  # the old holder leaves the new lease alone
    assert taker.current() is not None and taker.current().id == taken.lease.id  # type: ignore[union-attr]
    with pytest.raises(GitOpsError, match="is not the one holding"):
        taker.break_lease("nope")
    assert taker.break_lease(taken.lease.id).job == "drift" and taker.current() is None


def _state(**resources: str) -> bytes:
    return serialise(
        State(
            lineage="L",
            serial=3,
            resources={addr: ResourceState(digest=digest, payload={}) for addr, digest in resources.items()},
        )
    )


def test_states_merge_resource_by_resource_and_a_conflict_overwrites_nothing() -> None:
    base = _state(**{"Client/C-1": "aa", "Client/C-2": "bb"})
    ours = _state(**{"Client/C-1": "a2", "Client/C-2": "bb"})
    theirs = _state(**{"Client/C-1": "aa", "Client/C-3": "cc"})
    merged = State.model_validate_json(merge_states(base, ours, theirs, where="x"))
    assert {k: v.digest for k, v in merged.resources.items()} == {"Client/C-1": "a2", "Client/C-3": "cc"}
    assert merged.serial == 4
    with pytest.raises(StateConflictError, match="Client/C-1"):
        merge_states(base, ours, _state(**{"Client/C-1": "a3", "Client/C-2": "bb"}), where="x")


def test_a_state_written_under_a_broken_lease_is_merged_or_rescued(tmp_path: Path) -> None:
    q = queue(clone(tmp_path, "a"))
    held = q.acquire("apply")
    held.base["state"] = held.branch["state"] = None
    other = queue(clone(tmp_path, "b"))  # someone wrote the state meanwhile (the lease was broken)
    intruder = other.acquire.__self__  # type: ignore[attr-defined]
    intruder.branch.update(lambda tip: {FILES.state: _state(**{"Client/C-9": "99"})}, "intruder\n")
    q.record(held, {"state": _state(**{"Client/C-1": "11"})}, "ours\n")
    merged = State.model_validate_json(q.branch.read(q.branch.fetch(), FILES.state) or b"")
    assert set(merged.resources) == {"Client/C-1", "Client/C-9"}  # both kept
    intruder.branch.update(lambda tip: {FILES.state: _state(**{"Client/C-1": "xx", "Client/C-9": "99"})}, "again\n")
    with pytest.raises(StateConflictError, match="rescue"):
        q.record(held, {"state": _state(**{"Client/C-1": "22", "Client/C-9": "99"})}, "ours again\n", release=True)
    rescued = (
        q.branch.git.run("show", f"origin/reconciler-state-rescue-{held.lease.id}:{FILES.state}", check=False)
        or subprocess.run(
            ["git", "show", f"reconciler-state-rescue-{held.lease.id}:{FILES.state}"],
            cwd=tmp_path / "origin.git",
            capture_output=True,
            text=True,
        ).stdout
    )
    assert '"Client/C-1": {"digest":"22"' in rescued


def test_a_write_is_made_again_on_the_tip_when_someone_pushed_first(tmp_path: Path) -> None:
    ours, theirs = StateBranch(clone(tmp_path, "a")), StateBranch(clone(tmp_path, "b"))
    theirs.update(lambda tip: {"state/production.halt.json": b"{}"}, "first\n")
    attempts: list[str | None] = []

    def build(tip: str | None) -> dict[str, bytes | None]:
        attempts.append(tip)
        if len(attempts) == 1:  # another job pushes between our fetch and our push
            theirs.update(lambda t: {"state/production.lease.json": b"{}"}, "racing\n")
        return {"state/production.json": b"ours\n"}

    tip = ours.update(build, "ours\n")
    assert len(attempts) == 2 and attempts[0] != attempts[1]
    assert ours.read(tip, "state/production.lease.json") == b"{}"
    assert ours.read(tip, "state/production.json") == b"ours\n"


def test_the_queue_is_given_back_and_the_halt_recorded_when_the_command_fails(tmp_path: Path) -> None:
    q = queue(clone(tmp_path, "a"))
    paths = {name: tmp_path / "work" / f"{name}.json" for name in ("state", "halt", "journal")}

    def halted() -> int:
        paths["halt"].parent.mkdir(parents=True, exist_ok=True)
        paths["halt"].write_text(json.dumps({"status": 429, "request": "GET /api/3.03/workorderlines"}))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_in_queue(q, paths, "drift", halted)
    tip = q.branch.fetch()
    assert q.current() is None and b'"status": 429' in (q.branch.read(tip, FILES.halt) or b"")
    assert "halted: Epoptia answered HTTP 429" in q.branch.git.run("log", "-1", "--format=%s", tip)
    paths["halt"].unlink()
    assert run_in_queue(q, paths, "plan", lambda: 0) == 0 and paths["halt"].exists()  # the next job sees it


def test_the_token_reaches_git_in_the_environment_only_for_https_remotes() -> None:
    env = auth_env("https://github.com/acme/factory.git", "t0ken")
    assert env["GIT_CONFIG_KEY_0"] == env["GIT_CONFIG_KEY_1"] == "http.https://github.com/.extraheader"
    assert env["GIT_CONFIG_VALUE_0"] == ""  # replaces a header actions/checkout may have persisted
    assert env["GIT_CONFIG_VALUE_1"] == "AUTHORIZATION: basic " + base64.b64encode(b"x-access-token:t0ken").decode()
    assert auth_env("/tmp/origin.git", "t0ken") == {} and auth_env("https://github.com/a/b", None) == {}


def test_an_unreadable_lease_is_respected_for_a_minute() -> None:
    lease = Lease.parse(b"not json")
    assert lease is not None and "unreadable" in lease.holder
