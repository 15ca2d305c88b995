"""Start-up benchmark: `reconciler --help` and `reconciler validate` of the sample manifests.

Each is run as its own process (the `reconciler` console script, as a user runs it), --repeat
times after one run that is not counted; wall time and CPU time (user + system) are medians.
`validate` runs in the repository's root (its reconciler.yaml and manifests/) with a parse cache
of its own: the run not counted fills it, as any earlier run would have.

Usage: python bench/startup_bench.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runs import compiled, machine, medians, reconciler_command, timed

ROOT = Path(__file__).resolve().parent.parent
HELP_GOAL_S = 0.12


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    compiled()
    command = reconciler_command()
    print(f"start-up benchmark: {machine()}")
    print(
        f"'{' '.join(Path(c).name for c in command)} ...' as its own process; medians of {args.repeat} runs "
        "after one not counted"
    )
    print(f"{'command':<34} {'wall s':>8} {'cpu s':>8} {'peak MB':>8}  goal")
    with tempfile.TemporaryDirectory() as cache:
        env = {"RECONCILER_CACHE_DIR": cache}
        for name, argv, goal in (
            ("reconciler --help", ["--help"], f"<= {HELP_GOAL_S} s"),
            ("reconciler validate (the sample)", ["validate"], ""),
        ):
            timed([*command, *argv], ROOT, env=env)
            run = medians([timed([*command, *argv], ROOT, env=env) for _ in range(args.repeat)])
            print(f"{name:<34} {run.wall:>8.3f} {run.cpu:>8.3f} {run.rss_mb:>8.0f}  {goal}", flush=True)


if __name__ == "__main__":
    main()
