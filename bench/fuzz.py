"""Long fuzz run of the hardening generators (tests/fuzzing.py), with counts.

Tries mutated manifest sets for --seconds and prints: sets tried, refused with a
place, refused without a usable place, accepted, accepted but holding an invalid
value, internal errors (any exception other than the clear ones), and, for
every --apply-every'th accepted set, the apply round trip against an in-process
emulator (converged, refused with a reason, not converged).

Usage: python bench/fuzz.py [--seconds 600] [--seed 0] [--apply-every 10]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.commands.apply import ApplyRequest, ApplyStatus, apply_target  # noqa: E402
from reconciler.commands.hooks import QuietHooks  # noqa: E402
from reconciler.commands.plan import PlanRequest, plan_target  # noqa: E402
from reconciler.emulator.server import EmulatorServer  # noqa: E402
from reconciler.errors import ReconcilerError  # noqa: E402
from reconciler.planning import RefreshScope  # noqa: E402
from tests.fuzzing import invalid_values, load_in, mutated_factory, well_placed  # noqa: E402
from tests.test_fuzz_hardening import KEY, SAMPLE, _repo  # noqa: E402


def round_trip(files: dict[str, bytes], tmp: Path) -> str:
    os.environ["FUZZ_KEY"] = KEY
    with EmulatorServer(api_keys=(KEY,)) as server:
        context = _repo(tmp / "repo", server.url, files)
        try:
            outcome = apply_target(context, ApplyRequest(auto_approve=True, allow_mass_delete=True), QuietHooks())
        except ReconcilerError:
            return "apply refused with a reason"
        if outcome.status is ApplyStatus.APPLIED and outcome.report is not None and not outcome.report.complete:
            return "Epoptia refused a row (reported)"
        again = plan_target(context, PlanRequest(refresh=RefreshScope.FULL), QuietHooks()).plan
        return "converged" if not again.runnable else "NOT CONVERGED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--apply-every", type=int, default=10)
    args = parser.parse_args()
    counts: Counter[str] = Counter()
    examples: dict[str, str] = {}
    deadline = time.monotonic() + args.seconds
    seed = args.seed
    accepted = 0
    while time.monotonic() < deadline:
        rng = random.Random(seed)
        counts["sets tried"] += 1
        try:
            files = mutated_factory(SAMPLE, rng)
            with tempfile.TemporaryDirectory() as tmp:
                desired, error = load_in(Path(tmp), files)
                if error is not None:
                    outcome = (
                        "refused without a usable place"
                        if well_placed(error, files, Path(tmp))
                        else "refused with file:line:col"
                    )
                else:
                    accepted += 1
                    outcome = "accepted but invalid" if invalid_values(desired) else "accepted"
                    if accepted % args.apply_every == 0 and outcome == "accepted":
                        counts["round trip: " + round_trip(files, Path(tmp))] += 1
        except Exception:
            outcome = "INTERNAL ERROR"
            examples.setdefault(outcome, f"seed {seed}: {traceback.format_exc().splitlines()[-1]}")
        counts[outcome] += 1
        if outcome in ("refused without a usable place", "accepted but invalid"):
            examples.setdefault(outcome, f"seed {seed}")
        seed += 1
    width = max(map(len, counts))
    print(f"fuzz: {args.seconds:.0f} s from seed {args.seed}")
    for name in sorted(counts):
        print(f"  {name:<{width}}  {counts[name]:>7}")
    for name, example in examples.items():
        print(f"  first {name}: {example}")


if __name__ == "__main__":
    main()
