"""Plan benchmark: how planning scales with the number of work order lines.

For each size it generates a factory (one file per work order, ten lines each),
records it as applied in the state file, then times, as separate processes:

  floor     the plain C-based YAML parse of the same files: PyYAML's libyaml CSafeLoader
  cold      `reconciler plan --no-refresh` with no local cache at all (a fresh CI checkout);
            planning only: a refresh against a real tenant is bound by its request spacing
  warm      `reconciler plan` again, no file changed
  one-file  `reconciler plan` after one work order file changed
  changed   a cold plan again once files changed: the state's summary no longer matches, so its
            entries are indexed too (cold is a plan with nothing to do; this one has some)
  start-up  `reconciler plan --help`: the interpreter and the imports of the plan command, which
            every plan pays and the floor's script does not (reported apart, not taken off)
and reports peak memory (max RSS) of the plan processes. Each is shown as wall time
and as CPU time (user + system of the process, from its rusage), side by side.

Usage: python bench/plan_bench.py [--sizes 1000,10000,100000] [--repeat 3]
Prints medians of --repeat runs, all measured in this one run. The floor needs
PyYAML: pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from factory_gen import generate
from runs import Run, compiled, machine, reconciler_command, timed

FLOOR = """
import os, sys
import yaml
for folder, _, files in os.walk(sys.argv[1]):
    for name in files:
        with open(os.path.join(folder, name), encoding="utf-8") as fh:
            list(yaml.load_all(fh.read(), Loader=yaml.CSafeLoader))
"""


def record_applied(root: Path, env: dict[str, str]) -> None:
    """Write the state as if the generated factory had been applied."""
    code = (
        "from reconciler.context import Context\n"
        "from reconciler.state import ResourceState, State\n"
        "c = Context.open()\n"
        "d = c.load_desired()\n"
        "c.state_store.write(State(resources={a: ResourceState.applied(r) for a, r in d.resources.items()}))\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True, env={**os.environ, **env})


def touch_one(files: list[Path], i: int) -> None:
    path = files[(i * 7919) % len(files)]
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("comments: Παρτίδα", f"comments: Αλλαγή {i} Παρτίδα", 1), encoding="utf-8")


def _medians(runs: list[Run]) -> tuple[float, float]:
    return statistics.median(r.wall for r in runs), statistics.median(r.cpu for r in runs)


def bench(lines: int, repeat: int) -> dict[str, Any]:
    plan = [*reconciler_command(), "plan", "--detailed-exitcode", "--no-refresh"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "factory"
        root.mkdir()
        # The local cache (parse cache, state index) lives outside the repository: its own folder here,
        # removed before each cold plan, as a fresh CI checkout has none.
        cache = Path(tmp) / "cache"
        env = {"RECONCILER_CACHE_DIR": str(cache)}
        files = generate(root, lines)
        record_applied(root, env)
        floor: list[Run] = []
        cold: list[Run] = []
        warm: list[Run] = []
        one: list[Run] = []
        start: list[Run] = []
        for _ in range(repeat):
            start.append(timed([*reconciler_command(), "plan", "--help"], root, {0}))
            floor.append(timed([sys.executable, "-c", FLOOR, "manifests"], root, {0}))
            shutil.rmtree(cache, ignore_errors=True)
            cold.append(timed(plan, root, {0}, env))
            warm.append(timed(plan, root, {0}, env))
        for i in range(repeat):
            # Each run changes one more file, so each is a one-file change against the cache.
            touch_one(files, i)
            one.append(timed(plan, root, {2}, env))
        changed: list[Run] = []
        for _ in range(repeat):
            shutil.rmtree(cache, ignore_errors=True)
            changed.append(timed(plan, root, {2}, env))
        state_mb = (root / "state" / "local.json").stat().st_size / 1e6
        manifests_mb = sum(p.stat().st_size for p in (root / "manifests").rglob("*.yaml")) / 1e6
    return {
        "lines": lines,
        "floor": _medians(floor),
        "cold": _medians(cold),
        "warm": _medians(warm),
        "one": _medians(one),
        "changed": _medians(changed),
        "start": _medians(start),
        "rss_mb": max(r.rss_kib for r in cold + warm + one + changed) / 1024,
        "state_mb": state_mb,
        "manifests_mb": manifests_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    compiled()
    print(f"plan benchmark: medians of {args.repeat} runs; {machine()}")
    print(
        "each time is 'wall/cpu' in seconds; cpu is user + system of the process, its threads and its worker processes"
    )
    header = (
        f"{'lines':>8} {'manifests':>10} {'state':>8} {'floor s':>11} {'cold s':>11} {'cold/floor':>11} "
        f"{'warm s':>11} {'one-file s':>11} {'changed s':>11} {'start-up s':>11} {'peak MB':>8}"
    )
    print(header)
    goals = []
    for size in sizes:
        r = bench(size, args.repeat)
        (floor_wall, floor_cpu), (cold_wall, cold_cpu) = r["floor"], r["cold"]
        ratio = f"{cold_wall / floor_wall:.2f}/{cold_cpu / floor_cpu:.2f}"
        print(
            f"{r['lines']:>8} {r['manifests_mb']:>8.1f}MB {r['state_mb']:>6.1f}MB {_pair(r['floor']):>11} "
            f"{_pair(r['cold']):>11} {ratio:>11} {_pair(r['warm']):>11} {_pair(r['one']):>11} {_pair(r['changed']):>11} "
            f"{_pair(r['start']):>11} {r['rss_mb']:>8.0f}",
            flush=True,
        )
        goals.append(_goal(f"cold plan at {size:,} / floor, cpu", cold_cpu / floor_cpu, 1.5, "x"))
        goals.append(
            f"cold plan with changes at {size:,} / floor, cpu: {r['changed'][1] / floor_cpu:.2f}x (for comparison)"
        )
        if size >= 100_000:
            goals.append(_goal(f"warm plan at {size:,}, wall", r["warm"][0], 0.7, " s"))
            goals.append(_goal(f"one file changed at {size:,}, wall", r["one"][0], 0.8, " s"))
    print("goals (issue 9):")
    for line in goals:
        print(f"  {line}")


def _goal(name: str, value: float, goal: float, unit: str) -> str:
    return f"{name}: {value:.2f}{unit} (goal <= {goal}{unit}: {'met' if value <= goal else 'NOT MET'})"


def _pair(times: tuple[float, float]) -> str:
    return f"{times[0]:.2f}/{times[1]:.2f}"


if __name__ == "__main__":
    main()
