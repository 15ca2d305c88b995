"""Plan benchmark: how planning scales with the number of work order lines.

For each size it generates a factory (one file per work order, ten lines each),
records it as applied in the state file, then times, as separate processes:

  floor     the plain C-based YAML parse of the same files (ruamel safe loader)
  cold      `reconciler plan --no-refresh` with no parse cache (a fresh CI checkout);
            planning only: a refresh against a real tenant is bound by its request spacing
  warm      `reconciler plan` again, no file changed
  one-file  `reconciler plan` after one work order file changed
and reports peak memory (max RSS) of the plan processes.

Usage: python bench/plan_bench.py [--sizes 1000,10000,100000] [--repeat 3]
Prints medians of --repeat runs, all measured in this one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from factory_gen import generate  # noqa: E402

FLOOR = """
import os, sys
from ruamel.yaml import YAML
yaml = YAML(typ="safe", pure=False)
for folder, _, files in os.walk(sys.argv[1]):
    for name in files:
        with open(os.path.join(folder, name), encoding="utf-8") as fh:
            list(yaml.load_all(fh.read()))
"""


def timed(cmd: list[str], cwd: Path, expect: set[int]) -> tuple[float, int]:
    """Wall time and peak RSS (KiB) of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if code not in expect:
        raise SystemExit(f"{' '.join(cmd)} exited {code}: {stderr}")
    return elapsed, usage.ru_maxrss


def record_applied(root: Path) -> None:
    """Write the state as if the generated factory had been applied."""
    code = (
        "from reconciler.context import Context\n"
        "from reconciler.state import ResourceState, State\n"
        "c = Context.open()\n"
        "d = c.load_desired()\n"
        "c.state_store.write(State(resources={a: ResourceState.applied(r) for a, r in d.resources.items()}))\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)
    shutil.rmtree(root / ".reconciler", ignore_errors=True)


def touch_one(files: list[Path], i: int) -> None:
    path = files[(i * 7919) % len(files)]
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("comments: Παρτίδα", f"comments: Αλλαγή {i} Παρτίδα", 1), encoding="utf-8")


def bench(lines: int, repeat: int) -> dict[str, float]:
    plan = [sys.executable, "-m", "reconciler", "plan", "--detailed-exitcode", "--no-refresh"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = generate(root, lines)
        record_applied(root)
        floor, cold, warm, one, rss = [], [], [], [], []
        for i in range(repeat):
            floor.append(timed([sys.executable, "-c", FLOOR, "manifests"], root, {0})[0])
            shutil.rmtree(root / ".reconciler", ignore_errors=True)
            t, m = timed(plan, root, {0})
            cold.append(t)
            rss.append(m)
            t, m = timed(plan, root, {0})
            warm.append(t)
            rss.append(m)
        for i in range(repeat):
            # Each run changes one more file, so each is a one-file change against the cache.
            touch_one(files, i)
            t, m = timed(plan, root, {2})
            one.append(t)
            rss.append(m)
        state_mb = (root / "state" / "local.json").stat().st_size / 1e6
        manifests_mb = sum(p.stat().st_size for p in (root / "manifests").rglob("*.yaml")) / 1e6
    return {
        "lines": lines,
        "floor": statistics.median(floor),
        "cold": statistics.median(cold),
        "warm": statistics.median(warm),
        "one": statistics.median(one),
        "rss_mb": max(rss) / 1024,
        "state_mb": state_mb,
        "manifests_mb": manifests_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"plan benchmark: medians of {args.repeat} runs; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}")
    header = (f"{'lines':>8} {'manifests':>10} {'state':>8} {'floor s':>8} {'cold s':>8} {'cold/floor':>10} "
              f"{'warm s':>8} {'one-file s':>10} {'peak MB':>8}")
    print(header)
    for size in sizes:
        r = bench(size, args.repeat)
        print(
            f"{r['lines']:>8} {r['manifests_mb']:>8.1f}MB {r['state_mb']:>6.1f}MB {r['floor']:>8.2f} {r['cold']:>8.2f} "
            f"{r['cold'] / r['floor']:>10.2f} {r['warm']:>8.2f} {r['one']:>10.2f} {r['rss_mb']:>8.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
