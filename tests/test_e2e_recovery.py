"""Crashes inside the window that matters: Epoptia has the batch, the state does not.

Each test kills `reconciler apply` (SIGKILL, a real process) at a chosen point:
  - after the emulator committed a batch and while it holds the answer back
    (the `hold_ms` fault; `await_commits` says when the commit happened);
  - after the answer arrived and before the state was saved (the apply runs
    under a wrapper whose state append stalls once lines are in it).
The next apply must settle the journal against what Epoptia has: the
"Recovered:" notices, the report's lines, the state it records and the
emulator's own counts (`creates_by_id`, the stored rows) are all asserted.
Replacing `executor.recover` with a function that only clears the journal makes
every test here fail (README, "Mutation score and coverage").
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from reconciler.executor import Journal
from reconciler.state import StateStore

from .e2e import KEY_ENV, Repo
from .emulator_process import EmulatorProcess

HOLD_MS = 60_000  # far longer than any test waits: the kill always lands while the answer is held


def factory(
    root: Path,
    work_orders: int = 3,
    lines: int = 3,
    comments: str = "",
    drop: set[str] = frozenset(),
    archived: set[str] = frozenset(),
    bom: str = "",
    only: set[str] | None = None,
) -> list[str]:
    """Manifests of `work_orders` x `lines` lines; returns the line ids in the order apply sends them.

    `comments` and `bom` go on every line, or on the lines in `only`."""
    ids: list[str] = []
    text = ["kind: Client\nid: C-1\nname: Πελάτης\n---\nkind: Product\nid: P-1\nname: Προφίλ\n"]
    for w in range(work_orders):
        kept = [i for i in range(lines) if str(600000 + w * 100 + i) not in drop]
        if kept:
            text.append(f"---\nkind: WorkOrder\nid: WO-{w}\nclient: C-1\nlines:\n")
        for i in kept:
            line_id = str(600000 + w * 100 + i)
            ids.append(line_id)
            text.append(
                f"  - id: {line_id}\n    product: P-1\n    quantity: {10 + i}\n"
                f"    routing: [{{workstation: LASER, job_task: Κοπή}}, {{workstation: ΜΟΝΤΑΖ 1}}]\n"
            )
            if comments and (only is None or line_id in only):
                text.append(f"    comments: {comments}\n")
            if bom and (only is None or line_id in only):
                text.append(f"    bom: [{{item: {bom}, quantity: 2}}]\n")
            if line_id in archived:
                text.append("    archived: true\n")
    (root / "manifests").mkdir(parents=True, exist_ok=True)
    (root / "manifests" / "factory.yaml").write_text("".join(text), encoding="utf-8")
    return ids


@pytest.fixture
def repo(tmp_path: Path, emulator: EmulatorProcess) -> Repo:
    root = tmp_path / "factory"
    root.mkdir()
    return Repo(root, emulator, batch_size=4, manifests=False)


def env_of(repo: Repo) -> dict[str, str]:
    env = {**os.environ, KEY_ENV: repo.emulator.key, "NO_COLOR": "1"}
    env.pop("RECONCILER_DEBUG", None)
    return env


def kill_after_commits(repo: Repo, commits: int, *args: str) -> None:
    """Start an apply, wait until Epoptia committed `commits` writes (the last answer held back), SIGKILL it."""
    repo.emulator.faults(hold_ms=HOLD_MS)
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", "--auto-approve", *args],
        cwd=repo.root,
        env=env_of(repo),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        reached = repo.emulator.await_commits(proc, commits, timeout=120)
        assert reached, "the apply ended before the write to kill it in: " + "".join(proc.communicate())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    repo.emulator.faults()


def journal(repo: Repo) -> Journal:
    return Journal(repo.root / ".reconciler" / "journal" / "test.json")


def state(repo: Repo):
    return StateStore(repo.root / "state" / "test.json").read()


def recovered_lines(output: str) -> dict[str, str]:
    """'Recovered: WorkOrderLine/1: ...' notices by address (stderr and the report both carry them)."""
    out = {}
    for line in output.splitlines():
        if line.startswith("Recovered: "):
            addr, _, note = line.removeprefix("Recovered: ").partition(": ")
            out[addr] = note
    return out


def test_creates_committed_but_unanswered_are_recorded_not_sent_again(repo: Repo) -> None:
    factory(repo.root, work_orders=0)
    assert repo.run("apply", "--auto-approve").returncode == 0  # the client and the product
    ids = factory(repo.root)
    # Lines go four at a time. Kill while the first batch's answer is held: Epoptia has those four lines, the
    # state has none of them, the journal names them.
    kill_after_commits(repo, 1)
    in_flight = set(repo.emulator.stored("lines"))
    assert in_flight == set(ids[:4])
    record = journal(repo).read()
    assert record is not None and record["operation"] == "upsert_lines"
    assert set(record["entries"]) == {f"WorkOrderLine/{i}" for i in in_flight} | {"WorkOrder/WO-0", "WorkOrder/WO-1"}
    before = state(repo)
    assert not any(addr.startswith("WorkOrderLine/") for addr in before.resources)

    again = repo.run("apply", "--auto-approve")
    assert again.returncode == 0, again.stdout + again.stderr
    notes = recovered_lines(again.stderr)
    assert notes == {
        **{f"WorkOrderLine/{i}": "the interrupted write had gone through; recorded" for i in in_flight},
        **{
            f"WorkOrder/{wo}": "the interrupted write had gone through with its lines; recorded"
            for wo in ("WO-0", "WO-1")
        },
    }  # WO-1's first line was in the batch: it rode on it
    assert recovered_lines(again.stdout) == notes  # the report says it too
    assert "Apply complete" in again.stdout
    # What was recovered is not planned again: the other five lines and WO-2 are created, each line exactly once.
    assert f"Plan: {len(ids) - 4 + 1} to create, 0 to update" in again.stdout, again.stdout
    assert repo.emulator.stats()["creates_by_id"] == {i: 1 for i in ids}
    assert journal(repo).read() is None
    after = state(repo)
    assert {a for a in after.resources if a.startswith("WorkOrderLine/")} == {f"WorkOrderLine/{i}" for i in ids}
    assert repo.run("plan", "--detailed-exitcode").returncode == 0


def test_an_update_committed_but_unanswered_is_recorded_and_not_reported_as_drift(repo: Repo) -> None:
    ids = factory(repo.root)
    assert repo.run("apply", "--auto-approve").returncode == 0
    factory(repo.root, comments="δεύτερη παρτίδα")
    kill_after_commits(repo, 1)  # the first of three batches of updated lines
    stored = repo.emulator.stored("lines")
    changed = {i for i in ids if stored[i].get("comments") == "δεύτερη παρτίδα"}
    assert changed == set(ids[:4])
    assert all(state(repo).resources[f"WorkOrderLine/{i}"].payload.get("comments") is None for i in changed)

    again = repo.run("apply", "--auto-approve")
    assert again.returncode == 0, again.stdout + again.stderr
    assert recovered_lines(again.stderr) == {
        f"WorkOrderLine/{i}": "the interrupted write had gone through; recorded" for i in changed
    }
    # Without recovery the refresh would see the new comments in Epoptia and call it a change made outside.
    assert "was changed in Epoptia" not in again.stdout, again.stdout
    assert f"Plan: 0 to create, {len(ids) - 4} to update" in again.stdout, again.stdout
    assert all(state(repo).resources[f"WorkOrderLine/{i}"].payload["comments"] == "δεύτερη παρτίδα" for i in ids)
    assert repo.emulator.stats()["creates_by_id"] == {i: 1 for i in ids}


def test_a_write_only_update_cannot_be_read_back_so_it_is_sent_again(repo: Repo) -> None:
    ids = factory(repo.root)
    assert repo.run("apply", "--auto-approve").returncode == 0
    factory(repo.root, bom="ΜΠΙΛΙΕΤΑ")  # a line's BOM is not in the list: write-only
    kill_after_commits(repo, 1)
    again = repo.run("apply", "--auto-approve")
    assert again.returncode == 0, again.stdout + again.stderr
    assert recovered_lines(again.stderr) == {
        f"WorkOrderLine/{i}": "whether the interrupted write went through cannot be read back (it changed write-only "
        "fields); it is sent again"
        for i in ids[:4]
    }
    assert f"Plan: 0 to create, {len(ids)} to update" in again.stdout, again.stdout  # all nine, the four again
    assert repo.run("plan", "--detailed-exitcode").returncode == 0


def test_deletes_committed_but_unanswered_are_recorded(repo: Repo) -> None:
    ids = factory(repo.root)
    assert repo.run("apply", "--auto-approve").returncode == 0
    gone = set(ids[:5])
    factory(repo.root, drop=gone)
    kill_after_commits(repo, 1, "--allow-mass-delete")  # the first delete batch: four lines
    deleted = gone - set(repo.emulator.stored("lines"))
    assert len(deleted) == 4
    assert all(f"WorkOrderLine/{i}" in state(repo).resources for i in deleted)

    again = repo.run("apply", "--auto-approve", "--allow-mass-delete")
    assert again.returncode == 0, again.stdout + again.stderr
    assert recovered_lines(again.stderr) == {
        f"WorkOrderLine/{i}": "the interrupted delete had gone through; recorded" for i in deleted
    }
    assert "no longer in Epoptia" not in again.stdout  # not taken for a deletion made outside
    # Left: 600101 and the work order WO-0, all of whose lines are gone.
    assert "Plan: 0 to create, 0 to update, 0 to archive, 2 to delete" in again.stdout, again.stdout
    assert set(repo.emulator.stored("lines")) == set(ids) - gone
    assert not any(f"WorkOrderLine/{i}" in state(repo).resources for i in gone)


def test_archives_committed_but_unanswered_are_recorded(repo: Repo) -> None:
    ids = factory(repo.root)
    assert repo.run("apply", "--auto-approve").returncode == 0
    archived = set(ids[:6])
    factory(repo.root, archived=archived)
    kill_after_commits(repo, 1)
    done = {i for i, line in repo.emulator.stored("lines").items() if line.get("production_status") == "archive"}
    assert len(done) == 4 and done <= archived
    again = repo.run("apply", "--auto-approve")
    assert again.returncode == 0, again.stdout + again.stderr
    assert recovered_lines(again.stderr) == {
        f"WorkOrderLine/{i}": "the interrupted archive had gone through; recorded" for i in done
    }
    assert "Plan: 0 to create, 0 to update, 2 to archive" in again.stdout, again.stdout
    assert all(state(repo).resources[f"WorkOrderLine/{i}"].archived for i in archived)


STALL_SAVE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from reconciler.state import store
    original_add, original_commit = store.WriteAhead.add, store.WriteAhead.commit
    marker = Path(sys.argv.pop(1))
    def add(self, entries):
        if any(addr.startswith("WorkOrderLine/") for addr, _ in entries):
            self.lines_in_record = True
        return original_add(self, entries)
    def commit(self):
        if getattr(self, "lines_in_record", False):
            marker.write_text("answered")  # the answer is in, the save of the lines not yet committed
            time.sleep(600)
        return original_commit(self)
    store.WriteAhead.add, store.WriteAhead.commit = add, commit
    from reconciler.cli import main
    main()
""")


def test_killed_after_the_answer_and_before_the_state_save(repo: Repo) -> None:
    ids = factory(repo.root)
    marker = repo.root / "answered"
    proc = subprocess.Popen(
        [sys.executable, "-c", STALL_SAVE, str(marker), "apply", "--auto-approve"],
        cwd=repo.root,
        env=env_of(repo),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, "".join(proc.communicate())
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    assert set(repo.emulator.stored("lines")) == set(ids[:4])
    assert journal(repo).read() is not None
    again = repo.run("apply", "--auto-approve")
    assert again.returncode == 0, again.stdout + again.stderr
    assert set(recovered_lines(again.stderr)) == {f"WorkOrderLine/{i}" for i in ids[:4]} | {
        "WorkOrder/WO-0",
        "WorkOrder/WO-1",
    }
    assert repo.emulator.stats()["creates_by_id"] == {i: 1 for i in ids}
    assert repo.run("plan", "--detailed-exitcode").returncode == 0
