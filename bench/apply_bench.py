"""Apply benchmark: requests, time and memory of `reconciler apply` and `reconciler plan` against the emulator.

The emulator runs as its own process on 127.0.0.1 (`reconciler emulator serve`, with an admin key
for its /_emulator/ request counters); every apply and plan is driven in-process through the
context object (`bench/drive.py`: `Context.open`, `apply_target`, `plan_target`), in a process of
its own, so its wall time, CPU time (user + system, from rusage) and peak memory (max RSS) are its
own, not the emulator's (the CLI's start-up is measured by `startup_bench.py`). Requests come first: against a real tenant the spacing (1 s between reads, 2 s
around writes) decides the time, so each run is also shown at that spacing.

Per size (a factory from bench/factory_gen.py: one file per work order, ten lines each):

  create all             apply to an empty tenant, from a fresh checkout (no parse cache);
                         --repeat times, each against a fresh emulator
  plan, nothing changed  `reconciler plan` after it (0 reads expected); first, then --repeat more
  change one line        one line's comment edited, then apply; --repeat times, a new line each time
  change 1%              1% of the work orders edited (ten lines each), then apply
  plan --refresh full    every page read; its peak memory is a figure
  naive                  every line in its own POST, as a sync without plan or batching does
                         (sizes in --naive-sizes)

Then the create-all ratio of the largest size to the smallest (linear: <= 12x for 10x the lines).
Each figure stands next to its goal from issue 9. Times are medians of the runs made.

Usage: python bench/apply_bench.py [--sizes 10000,100000] [--repeat 3] [--naive-sizes 10000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from factory_gen import generate
from runs import Run, compiled, machine, medians, timed

from reconciler.emulator.admin import ADMIN_HEADER
from reconciler.epoptia.profile import DEFAULT_PROFILE, Operation

KEY = "emu-bench-key-0123456789"
ADMIN_KEY = "emu-bench-admin-0123456789"
READS = (Operation.LIST_LINES.value, Operation.WORKFLOW_TEMPLATES.value)
MEMORY_GOAL_MB = 500
DRIVE = Path(__file__).resolve().parent / "drive.py"


class Emulator:
    """The emulator as its own process, and its request counters."""

    def __init__(self, db: Path, log: Path) -> None:
        self.log = log.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reconciler",
                "emulator",
                "serve",
                "--port",
                "0",
                "--db",
                str(db),
                "--api-key",
                KEY,
                "--admin-key",
                ADMIN_KEY,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + 60
        while True:
            first = log.read_text().split("\n", 1)[0]
            if first.startswith("Epoptia emulator listening on "):
                self.url = first.rsplit(" ", 1)[1]
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the emulator did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        self.admin = httpx.Client(base_url=self.url, headers={ADMIN_HEADER: ADMIN_KEY}, timeout=60)

    def reset(self) -> None:
        self.admin.post("/_emulator/stats/reset").raise_for_status()

    def counts(self) -> dict[str, int]:
        stats = self.admin.get("/_emulator/stats")
        stats.raise_for_status()
        return {k: v for k, v in stats.json().items() if isinstance(v, int)}

    def stop(self) -> None:
        self.admin.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


class Measured(NamedTuple):
    run: Run  # medians
    requests: int
    reads: int
    writes: int
    runs: int

    @property
    def at_spacing(self) -> float:
        return self.reads * 1.0 + self.writes * 2.0


def configure(root: Path, url: str) -> None:
    (root / "reconciler.yaml").write_text(
        f"manifests: manifests\ndefault_target: bench\ntargets:\n  bench:\n    endpoint: {url}\n"
        "    api_key_env: BENCH_KEY\n    state: state/bench.json\n"
        "    throttle: {read_interval: 0, write_interval: 0}\n",
        encoding="utf-8",
    )


def measured(
    emulator: Emulator,
    root: Path,
    args: list[str],
    env: dict[str, str],
    times: int = 1,
    before: Any = None,
    expect: tuple[int, ...] = (0,),
) -> tuple[Measured, list[Run]]:
    """Run ``bench/drive.py ARGS`` (apply or plan in-process, through the context object, in a process
    of its own) ``times`` times (``before(i)`` first each time); the same request counts are required
    of every run, and the times are their medians."""
    runs, counted = [], []
    for i in range(times):
        if before is not None:
            before(i)
        emulator.reset()
        runs.append(timed([sys.executable, str(DRIVE), *args], root, expect, env))
        counted.append(emulator.counts())
    requests = [c.get("requests", 0) for c in counted]
    reads = [sum(c.get(op, 0) for op in READS) for c in counted]
    if len(set(requests)) > 1 or len(set(reads)) > 1:
        print(f"  note: request counts differ between runs of {' '.join(args)}: {requests} ({reads} reads)")
    return Measured(medians(runs), requests[-1], reads[-1], requests[-1] - reads[-1], times), runs


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    """Replace the first ``count`` occurrences (-1: all) of ``old`` in a manifest."""
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def naive(root: Path, url: str) -> tuple[float, int]:
    """Every line in its own POST, every time: what a sync without plan or batching does (in this process)."""
    from reconciler.context import Context
    from reconciler.epoptia.rows import line_row
    from reconciler.epoptia.workflows import WorkflowIndex

    desired = Context.open(root / "reconciler.yaml").load_desired()
    with httpx.Client(
        base_url=url, headers={"X-Auth-Token": KEY, "Content-Type": "application/json"}, timeout=60
    ) as http:
        templates = WorkflowIndex(
            http.get(DEFAULT_PROFILE.endpoint(Operation.WORKFLOW_TEMPLATES).path).json()["workflows"]
        )
        path = DEFAULT_PROFILE.endpoint(Operation.UPSERT_LINES).path
        sent = 0
        start = time.perf_counter()
        for addr in desired.resources:
            if not addr.startswith("WorkOrderLine/"):
                continue
            res = desired.resources[addr]
            wo = desired.resources[f"WorkOrder/{res.parent}"].payload
            row = line_row(res.id, res.payload, res.parent or "", wo, archived=False, workflows=templates)
            http.post(path, json={"data": [row]}).raise_for_status()
            sent += 1
        return time.perf_counter() - start, sent


def bench(lines: int, repeat: int, with_naive: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"lines": lines}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "factory"
        root.mkdir()
        files = generate(root, lines)
        env = {"BENCH_KEY": KEY, "RECONCILER_CACHE_DIR": str(Path(tmp) / "cache")}

        # Create all: each run a fresh emulator, state and parse cache (a first apply from a fresh checkout).
        create_runs, emulator = [], None
        for i in range(repeat):
            if emulator is not None:
                emulator.stop()
            shutil.rmtree(Path(tmp) / "cache", ignore_errors=True)
            shutil.rmtree(root / "state", ignore_errors=True)
            shutil.rmtree(root / ".reconciler", ignore_errors=True)
            emulator = Emulator(Path(tmp) / f"emulator-{i}.sqlite", Path(tmp) / f"emulator-{i}.log")
            configure(root, emulator.url)
            one, _ = measured(emulator, root, ["apply"], env)
            create_runs.append(one)
        assert emulator is not None
        out["create"] = Measured(
            medians([m.run for m in create_runs]),
            create_runs[-1].requests,
            create_runs[-1].reads,
            create_runs[-1].writes,
            repeat,
        )
        out["create_rss_max"] = max(m.run.rss_mb for m in create_runs)
        try:
            plan = ["plan"]
            out["plan_first"], _ = measured(emulator, root, plan, env)  # indexes the state the apply wrote
            out["plan_again"], _ = measured(emulator, root, plan, env, times=repeat)

            def one_line(i: int) -> None:
                edit(files[(i * 7919 + 13) % len(files)], "comments: Παρτίδα", f"comments: Ένα {i} Παρτίδα")

            out["one_line"], _ = measured(emulator, root, ["apply"], env, times=repeat, before=one_line)

            def one_percent(i: int) -> None:
                step = max(1, len(files) // 100)
                for path in files[i * step : (i + 1) * step]:  # 1% of the work orders, so 1% of the lines
                    edit(path, "comments: Παρτίδα", f"comments: Νέα {i} Παρτίδα", count=-1)

            out["one_percent"], _ = measured(emulator, root, ["apply"], env, times=repeat, before=one_percent)
            out["plan_full"], _ = measured(emulator, root, ["plan", "--refresh", "full"], env)
            if with_naive:
                out["naive"] = naive(root, emulator.url)
        finally:
            emulator.stop()
    return out


def _row(name: str, lines: int, m: Measured, goal: str, rss: float | None = None) -> str:
    wall_cpu = f"{m.run.wall:.2f}/{m.run.cpu:.2f}"
    spacing = _duration(m.at_spacing)
    rss_text = f"{rss if rss is not None else m.run.rss_mb:.0f}"
    return (
        f"{name:<26} {lines:>8,} {m.requests:>9,} {m.reads:>6,} {m.writes:>6,} {wall_cpu:>15} {spacing:>12} "
        f"{rss_text:>8} {m.runs:>4}  {goal}"
    )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--naive-sizes", default="10000", help="sizes to run the naive sync at ('' for none)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    naive_sizes = {int(s) for s in args.naive_sizes.split(",") if s}
    compiled()
    print(f"apply benchmark: {machine()}")
    print(
        f"emulator on 127.0.0.1 as its own process; batch size {DEFAULT_PROFILE.batch_size}, "
        f"page size {DEFAULT_PROFILE.page_size}; apply and plan driven in-process (bench/drive.py), each run a process of its own"
    )
    print(
        "time 'wall/cpu' in seconds (cpu: user + system of the reconciler process and its workers), "
        "medians of the runs; at spacing: reads x 1 s + writes x 2 s; peak: max RSS in MB",
        flush=True,
    )
    results = [bench(size, args.repeat, size in naive_sizes) for size in sizes]
    print(
        f"{'run':<26} {'lines':>8} {'requests':>9} {'reads':>6} {'writes':>6} {'loopback s':>15} "
        f"{'at spacing':>12} {'peak MB':>8} {'runs':>4}  goal"
    )
    largest = max(sizes)
    for r in results:
        n = r["lines"]
        memory_goal = f"peak <= {MEMORY_GOAL_MB} MB" if n == largest else ""
        print(_row("create all", n, r["create"], memory_goal, rss=r["create_rss_max"]))
        print(_row("plan, nothing changed", n, r["plan_first"], "0 reads (first plan after the apply)"))
        print(_row("plan, nothing changed", n, r["plan_again"], "0 reads"))
        print(_row("change one line", n, r["one_line"], "a handful of page reads"))
        print(_row("change 1%", n, r["one_percent"], ""))
        print(_row("plan --refresh full", n, r["plan_full"], memory_goal))
        if "naive" in r:
            seconds, sent = r["naive"]
            print(
                f"{'naive: one POST per line':<26} {n:>8,} {sent:>9,} {0:>6,} {sent:>6,} {seconds:>15.2f} "
                f"{_duration(sent * 2.0):>12} {'':>8} {1:>4}  (the comparison)"
            )
    if len(results) > 1:
        small, big = results[0], results[-1]
        factor = big["lines"] / small["lines"]
        wall = big["create"].run.wall / small["create"].run.wall
        cpu = big["create"].run.cpu / small["create"].run.cpu
        print(
            f"create all, {big['lines']:,} vs {small['lines']:,} lines ({factor:.0f}x the lines): "
            f"{wall:.1f}x wall, {cpu:.1f}x cpu (goal <= {1.2 * factor:.0f}x: linear)"
        )
    for r in results:
        if r["lines"] == largest:
            rss = {
                "apply (create all)": r["create_rss_max"],
                "apply (change one line)": r["one_line"].run.rss_mb,
                "apply (change 1%)": r["one_percent"].run.rss_mb,
                "plan --refresh full": r["plan_full"].run.rss_mb,
            }
            worst = ", ".join(f"{k} {v:.0f} MB" for k, v in rss.items())
            print(f"peak memory at {largest:,} lines: {worst} (goal <= {MEMORY_GOAL_MB} MB)")
    print(f"load at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())} (1/5/15 min)")


if __name__ == "__main__":
    main()
