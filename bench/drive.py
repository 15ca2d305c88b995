"""Drive `apply` or `plan` in-process, through the context object (no CLI), as the benches measure them.

    python bench/drive.py apply [--refresh full]
    python bench/drive.py plan [--refresh targeted|full|none]

Run in the factory's root (its reconciler.yaml). Each run is still a process of its own, so
``runs.timed`` sees its own wall time, CPU time and peak memory; what runs inside it is the
library path a test or another tool would take: ``Context.open`` and ``apply_target`` /
``plan_target`` with quiet hooks. The CLI's own cost (click, start-up) is measured apart, by
``startup_bench.py``. Exit codes follow the CLI: 0 done (or no changes), 2 a plan with changes,
1 anything else.
"""

from __future__ import annotations

import argparse
import gc
import sys

from reconciler.commands.apply import ApplyRequest, ApplyStatus, apply_target
from reconciler.commands.hooks import QuietHooks
from reconciler.commands.plan import PlanRequest, plan_target
from reconciler.context import Context
from reconciler.planning.plan import RefreshScope


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("apply", "plan"))
    parser.add_argument("--refresh", choices=[s.value for s in RefreshScope], default=RefreshScope.TARGETED.value)
    args = parser.parse_args()
    gc.freeze()  # as the CLI's main() does: large trees load faster
    gc.set_threshold(100_000, 50, 100)
    context = Context.open()
    scope = RefreshScope(args.refresh)
    if args.command == "plan":
        plan = plan_target(context, PlanRequest(refresh=scope), QuietHooks()).plan
        return 2 if plan.actions else 0
    outcome = apply_target(context, ApplyRequest(auto_approve=True, refresh=scope), QuietHooks())
    if outcome.status is not ApplyStatus.APPLIED:
        return 0
    return 0 if outcome.report is not None and outcome.report.complete else 1


if __name__ == "__main__":
    sys.exit(main())
