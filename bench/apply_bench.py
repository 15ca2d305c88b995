"""Apply benchmark: requests and time to create 10,000 lines and to change 1% of them.

Runs against the emulator (served as its own process on 127.0.0.1), through
the real `reconciler apply`, and next to a naive full sync that posts every line
in its own request. Against a real tenant the spacing (1 s between reads, 2 s
around writes) is what decides the time, so the request counts are reported
with the time they would take at that spacing.

Usage: python bench/apply_bench.py [--lines 10000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from factory_gen import generate  # noqa: E402

from reconciler.context import Context  # noqa: E402
from reconciler.commands.apply import ApplyRequest, apply_target  # noqa: E402
from reconciler.commands.hooks import QuietHooks  # noqa: E402
from reconciler.epoptia.rows import line_row  # noqa: E402
from reconciler.epoptia.workflows import WorkflowIndex  # noqa: E402
from reconciler.epoptia.profile import DEFAULT_PROFILE, Operation  # noqa: E402

KEY = "emu-bench-key"


def serve(db: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", "emulator", "serve", "--port", "0", "--db", str(db),
                             "--api-key", KEY], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = proc.stdout.readline().strip().rsplit(" ", 1)[1]
    return proc, url


def configure(root: Path, url: str) -> None:
    (root / "reconciler.yaml").write_text(
        f"manifests: manifests\ndefault_target: bench\ntargets:\n  bench:\n    endpoint: {url}\n"
        "    api_key_env: BENCH_KEY\n    state: state/bench.json\n    throttle: {read_interval: 0, write_interval: 0}\n",
        encoding="utf-8")


def stats(url: str) -> dict:
    return httpx.get(f"{url}/_emulator/stats").json()


def apply(root: Path, url: str) -> tuple[float, dict]:
    """One `reconciler apply --auto-approve`, in this process, through the apply command itself."""
    httpx.post(f"{url}/_emulator/stats/reset")
    os.environ["BENCH_KEY"] = KEY
    context = Context.open(root / "reconciler.yaml")
    start = time.perf_counter()
    outcome = apply_target(context, ApplyRequest(auto_approve=True), QuietHooks())
    elapsed = time.perf_counter() - start
    assert outcome.report is not None and outcome.report.complete, outcome.report
    return elapsed, stats(url)


def at_real_spacing(counts: dict) -> float:
    reads = counts.get(Operation.LIST_LINES.value, 0) + counts.get(Operation.WORKFLOW_TEMPLATES.value, 0)
    writes = counts.get("requests", 0) - reads
    return reads * 1.0 + writes * 2.0


def naive(root: Path, url: str) -> tuple[float, int]:
    """Every line in its own POST, every time: what a sync without plan or batching does."""
    os.chdir(root)
    context = Context.open()
    desired = context.load_desired()
    with httpx.Client(base_url=url, headers={"X-Auth-Token": KEY, "Content-Type": "application/json"}) as http:
        templates = WorkflowIndex(http.get(DEFAULT_PROFILE.endpoint(Operation.WORKFLOW_TEMPLATES).path).json()["workflows"])
        path = DEFAULT_PROFILE.endpoint(Operation.UPSERT_LINES).path
        sent = 0
        start = time.perf_counter()
        for res in desired.resources.values():
            if res.kind.value != "WorkOrderLine":
                continue
            wo = desired.resources[f"WorkOrder/{res.parent}"].payload
            row = line_row(res.id, res.payload, res.parent, wo, archived=False, workflows=templates)
            http.post(path, json={"data": [row]}).raise_for_status()
            sent += 1
        return time.perf_counter() - start, sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "factory"
        root.mkdir()
        files = generate(root, args.lines)
        proc, url = serve(Path(tmp) / "emulator.sqlite")
        try:
            configure(root, url)
            create_s, create = apply(root, url)
            for path in files[: max(1, len(files) // 100)]:  # 1% of the work orders, so 1% of the lines
                text = path.read_text(encoding="utf-8")
                path.write_text(text.replace("comments: Παρτίδα", "comments: Νέα παρτίδα"), encoding="utf-8")
            change_s, change = apply(root, url)
            naive_s, naive_requests = naive(root, url)
        finally:
            proc.terminate()
            proc.wait()
    print(f"apply benchmark: {args.lines} lines, emulator on 127.0.0.1, batch size {DEFAULT_PROFILE.batch_size}")
    print(f"{'run':<28} {'requests':>9} {'writes':>7} {'reads':>6} {'time s':>8} {'at 1s/2s spacing':>17}")
    for name, seconds, counts in (("reconciler: create all", create_s, create), ("reconciler: change 1%", change_s, change)):
        reads = counts.get("list_lines", 0) + counts.get("workflow_templates", 0)
        print(f"{name:<28} {counts['requests']:>9} {counts['requests'] - reads:>7} {reads:>6} {seconds:>8.1f} "
              f"{at_real_spacing(counts) / 60:>14.1f} min")
    print(f"{'naive: one POST per line':<28} {naive_requests:>9} {naive_requests:>7} {0:>6} {naive_s:>8.1f} "
          f"{naive_requests * 2.0 / 60:>14.1f} min")


if __name__ == "__main__":
    main()
