"""An apply killed with SIGKILL at random points always converges on the next apply."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

from reconciler.epoptia.profile import Operation as Op
from reconciler.state import StateStore

from .e2e import KEY_ENV, Repo
from .emulator_process import EmulatorProcess


def big_factory(root: Path, bump: int = -1, work_orders: int = 12, lines: int = 5) -> set[str]:
    """Write the factory; the lines of work order number `bump` get a quantity that differs per call."""
    ids = set()
    text = ["kind: Client\nid: C-1\nname: Πελάτης\n---\nkind: Product\nid: P-1\nname: Προφίλ\n"]
    for w in range(work_orders):
        text.append(f"---\nkind: WorkOrder\nid: WO-{w}\nclient: C-1\nlines:\n")
        for i in range(lines):
            line_id = str(500000 + w * 100 + i)
            ids.add(line_id)
            quantity = 10 + i + (100 + bump if w == bump % work_orders else 0)
            text.append(
                f"  - id: {line_id}\n    product: P-1\n    quantity: {quantity}\n"
                f"    routing: [{{workstation: LASER, job_task: Κοπή}}, {{workstation: ΜΟΝΤΑΖ 1}}]\n"
            )
    (root / "manifests").mkdir(parents=True, exist_ok=True)
    (root / "manifests" / "factory.yaml").write_text("".join(text), encoding="utf-8")
    return ids


def test_sigkill_at_random_points_then_a_fresh_apply_converges(tmp_path: Path, emulator: EmulatorProcess) -> None:
    root = tmp_path / "factory"
    root.mkdir()
    ids = big_factory(root)
    repo = Repo(root, emulator, batch_size=4, manifests=False)
    emulator.emulator_post("faults", {"latency_ms": 150})
    rng = random.Random(20261124)
    kills = 0
    env = {**os.environ, KEY_ENV: emulator.key, "NO_COLOR": "1"}
    rounds = 0
    while kills < 8:
        assert rounds < 24, f"only {kills} of {rounds} applies were killed before they ended"
        if rounds:
            # Change the manifests between crashes, so every round has writes and recovery meets updates too.
            big_factory(root, bump=rounds)
        rounds += 1
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "apply", "--auto-approve"],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Anywhere from the first read to the read-back of an update round; some rounds end before.
        if emulator.await_requests(proc, rng.randint(1, 10)):
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        StateStore(root / "state" / "test.json").read()  # the state always parses
        lines = emulator.lines()
        assert set(lines) <= ids  # never a line that was not asked for
    emulator.emulator_post("faults", {})
    final = repo.run("apply", "--auto-approve")
    assert final.returncode == 0, final.stdout + final.stderr
    assert repo.run("plan", "--detailed-exitcode").returncode == 0
    raw = [
        str(line["workorderline_id"])
        for page in range(1, 3)
        for line in emulator.call(Op.LIST_LINES, params={"page": page, "limit": 50}).json()["workorderLines"]
    ]
    assert sorted(raw) == sorted(ids)  # each line exactly once, none missing
    print(f"\nkills survived: {kills} in {rounds} applies")
