"""Read-back and saved-plan failure paths, end to end: the CLI against the emulator with its faults on.

- `mangle` stores a field differently from what was sent: the report's "Read back differs" line;
- `lose_rows` answers a write and stores nothing: "not found in Epoptia after the write";
- `reverse_pages` lists newest first, so lines are not on the page the run expects: the read-back's and the
  targeted refresh's fallback to a read of every page;
- a saved plan made stale by a move of what it touches: the reasons of planning/staleness.py, as a person sees them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.state import StateStore

from .e2e import Repo
from .emulator_process import EmulatorProcess
from .test_e2e_recovery import factory


@pytest.fixture
def repo(tmp_path: Path, emulator: EmulatorProcess) -> Repo:
    root = tmp_path / "factory"
    root.mkdir()
    repo = Repo(root, emulator, batch_size=4, manifests=False)
    (root / "reconciler.yaml").write_text(
        "manifests: manifests\ndefault_target: test\ntargets:\n"
        + "".join(
            f"  {name}:\n    endpoint: {emulator.url}\n    api_key_env: EPOPTIA_TEST_KEY\n"
            f"    state: state/{name}.json\n    throttle: {{read_interval: 0, write_interval: 0}}\n"
            "    retries: {attempts: 2, backoff: 0.05}\n    profile: {batch_size: 4, page_size: 5}\n"
            for name in ("test", "other")
        ),
        encoding="utf-8",
    )
    return repo


def lists(repo: Repo) -> int:
    return repo.emulator.stats().get("list_lines", 0)


def test_a_field_stored_differently_is_reported_then_put_back(repo: Repo) -> None:
    ids = factory(repo.root, work_orders=1, lines=2, comments="πρώτη")
    repo.emulator.faults(mangle={"field": "comments", "append": " (x)"})
    applied = repo.run("apply", "--auto-approve")
    assert applied.returncode == 1, applied.stdout + applied.stderr
    assert "Read back differs from what was sent: 2." in applied.stdout
    for i in ids:
        assert f"  WorkOrderLine/{i}: comments: sent 'πρώτη', Epoptia has 'πρώτη (x)'" in applied.stdout
    assert "To continue, fix what is listed above if needed, then run: reconciler apply" in applied.stdout
    repo.emulator.faults()
    plan = repo.run("plan", "--detailed-exitcode")
    assert plan.returncode == 2, plan.stdout
    # The read-back recorded what Epoptia has, so the plan puts the manifests' value back.
    assert '~ comments: "πρώτη (x)" -> "πρώτη"' in plan.stdout and "Plan: 0 to create, 2 to update" in plan.stdout
    fixed = repo.run("apply", "--auto-approve")
    assert fixed.returncode == 0 and "Apply complete" in fixed.stdout, fixed.stdout
    assert {line["comments"] for line in repo.emulator.stored("lines").values()} == {"πρώτη"}


def test_a_row_answered_but_not_stored_is_not_found_after_the_write(repo: Repo) -> None:
    ids = factory(repo.root, work_orders=2, lines=3)
    repo.emulator.faults(lose_rows=[ids[1]])
    applied = repo.run("apply", "--auto-approve")
    assert applied.returncode == 1, applied.stdout + applied.stderr
    assert "Read back differs from what was sent: 1." in applied.stdout
    assert f"  WorkOrderLine/{ids[1]}: not found in Epoptia after the write" in applied.stdout
    repo.emulator.faults()
    plan = repo.run("plan", "--refresh", "full", "--detailed-exitcode")
    assert plan.returncode == 2, plan.stdout
    assert f"+ WorkOrderLine/{ids[1]} will be created: 11 × Προφίλ for Πελάτης, WO-0" in plan.stdout, plan.stdout
    assert repo.run("apply", "--auto-approve", "--refresh", "full").returncode == 0
    assert set(repo.emulator.stored("lines")) == set(ids)


def test_a_line_not_found_after_the_write_is_planned_again_by_the_next_plan(repo: Repo) -> None:
    """Found by this file: the state recorded such a line as applied, so the next plan said "No changes."."""
    ids = factory(repo.root, work_orders=2, lines=3)
    repo.emulator.faults(lose_rows=[ids[1]])
    assert repo.run("apply", "--auto-approve").returncode == 1
    assert f"WorkOrderLine/{ids[1]}" not in StateStore(repo.root / "state" / "test.json").read().resources
    repo.emulator.faults()
    plan = repo.run("plan", "--detailed-exitcode")
    assert plan.returncode == 2 and "Plan: 1 to create, 0 to update" in plan.stdout, plan.stdout
    assert repo.run("apply", "--auto-approve").returncode == 0
    assert set(repo.emulator.stored("lines")) == set(ids)
    assert repo.emulator.stats()["creates_by_id"] == {i: 1 for i in ids}


def test_new_lines_listed_elsewhere_are_found_by_reading_every_page(repo: Repo) -> None:
    ids = factory(repo.root, work_orders=3, lines=4)  # twelve lines: pages 1-3 of five
    assert repo.run("apply", "--auto-approve").returncode == 0
    state = StateStore(repo.root / "state" / "test.json").read()
    assert {state.resources[f"WorkOrderLine/{i}"].observed.page for i in ids} == {1, 2, 3}
    repo.emulator.faults(reverse_pages=True)  # newest first: the new lines are on page 1, not at the end
    more = factory(repo.root, work_orders=4, lines=4)
    before = lists(repo)
    applied = repo.run("apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Apply complete" in applied.stdout and "not found" not in applied.stdout
    # The plan read nothing (only creates); the read-back asked how many pages there are (page 1), looked where
    # new lines are listed, at the end (page 4), found nothing there, and read all four pages.
    assert lists(repo) - before == 1 + 1 + 4, lists(repo) - before
    state = StateStore(repo.root / "state" / "test.json").read()
    assert {state.resources[f"WorkOrderLine/{i}"].observed.page for i in set(more) - set(ids)} == {1}


def test_a_touched_line_that_moved_to_another_page_is_found_by_the_refresh(repo: Repo) -> None:
    ids = factory(repo.root, work_orders=3, lines=4)
    assert repo.run("apply", "--auto-approve").returncode == 0
    repo.emulator.faults(reverse_pages=True)  # page 1 now holds the newest five lines
    factory(repo.root, work_orders=3, lines=4, comments="νέα", only=set(ids[:4]))  # WO-0's lines: last on page 1
    before = lists(repo)
    applied = repo.run("apply", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "A line this plan touches is not where it was last seen; reading every page." in applied.stderr
    assert "Apply complete" in applied.stdout and "Plan: 0 to create, 4 to update" in applied.stdout
    # Page 1 (where they were), then all three; the read-back reads where the refresh saw them: pages 2 and 3.
    assert lists(repo) - before == 1 + 3 + 2
    stored = repo.emulator.stored("lines")
    assert {i for i in ids if stored[i].get("comments") == "νέα"} == set(ids[:4])


def test_saved_plans_made_stale_by_what_they_touch(repo: Repo) -> None:
    ids = factory(repo.root, work_orders=1, lines=3)
    assert repo.run("apply", "--auto-approve").returncode == 0
    factory(repo.root, work_orders=1, lines=3, comments="πρώτη")
    assert repo.run("plan", "--out", "first.json").returncode == 0

    wrong_target = repo.run("apply", "first.json", "--auto-approve", "--target", "other")
    assert wrong_target.returncode == 1
    assert "the saved plan is stale:\n  - the plan was made for target 'test', not 'other'" in wrong_target.stderr

    # Another apply changes what the plan touches.
    factory(repo.root, work_orders=1, lines=3, comments="δεύτερη")
    assert repo.run("apply", "--auto-approve", "--only", f"WorkOrderLine/{ids[0]}").returncode == 0
    moved = repo.run("apply", "first.json", "--auto-approve")
    assert moved.returncode == 1
    assert (
        f"  - WorkOrderLine/{ids[0]} changed since this plan was made (another apply, or a change in Epoptia)"
        in moved.stderr
    ), moved.stderr
    assert ids[1] not in moved.stderr  # what did not move is not named

    # A state file replaced by a new one (another lineage).
    state = repo.root / "state" / "test.json"
    for path in state.parent.glob("test.json*"):
        path.unlink()
    assert repo.run("apply", "--auto-approve", "--adopt").returncode == 0
    lineage = repo.run("apply", "first.json", "--auto-approve")
    assert lineage.returncode == 1 and "the plan was made from another state file (lineage" in lineage.stderr
