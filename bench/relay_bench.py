"""How many count events per second `reconciler station relay` absorbs, and its peak memory, with 100 workstations.

    python bench/relay_bench.py [--events 200000] [--workstations 100]

The relay runs as the CLI does (a process reading standard input, acknowledging with --ack), against
the emulator as a process on 127.0.0.1, one line running at each workstation. A gateway thread writes
one count per line (`WS-017,3,<id>`: every event carries an id, so every one is checked against the
repeats) and the rate is events / (first write -> last acknowledgement), that is, until the last event
is committed to the spool. Sends go on meanwhile (threshold 1,000 pieces per workstation), through the
target's throttle (none for the emulator). Peak memory is the relay process's VmHWM. Then the input
ends and the relay flushes every workstation; the emulator's totals are checked against what was written.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.epoptia.profile import Operation as Op  # noqa: E402 (the checkout first on the path)
from tests.emulator_process import KEY, EmulatorProcess  # noqa: E402


def setup(emulator: EmulatorProcess, count: int) -> dict[str, int]:
    emulator.write(Op.UPSERT_CLIENTS, [{"id": "C-1", "name": "Πελάτης", "kind": "client"}])
    emulator.write(Op.UPSERT_PRODUCTS, [{"id": "P-1", "name": "Προφίλ"}])
    names = [f"WS-{i:03d}" for i in range(1, count + 1)]
    emulator.write(
        Op.UPSERT_LINES,
        [
            {
                "workorderline_id": str(900000 + i),
                "quantity": "100000000",
                "production_status": "standby",
                "description": "bench",
                "workorder": {"id": f"WO-{i}"},
                "client": {"id": "C-1"},
                "product": {"id": "P-1"},
                "erp_routing": [{"workstationName": name, "job_tasks": [{"name": "run"}]}],
            }
            for i, name in enumerate(names)
        ],
    )
    token = emulator.call(Op.OPERATOR_LOGIN, {"username": "demo", "password": "demo"}).json()["token"]
    ids = {}
    for i, name in enumerate(names):
        ws = emulator.workstation(name)
        ids[name] = ws
        response = emulator.call(
            Op.WORKSTATION_CONTROL,
            {"action": "start", "workstation_id": ws, "workorderline_id": str(900000 + i)},
            headers={"Operator-Token": token},
        )
        assert response.status_code == 200, response.text
    return ids


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run(events: int, stations: int, synchronous: str, folder: Path) -> dict:
    emulator = EmulatorProcess(folder / "emulator.sqlite").start()
    try:
        ids = setup(emulator, stations)
        root = folder / "factory"
        (root / "manifests").mkdir(parents=True, exist_ok=True)
        mapping = ", ".join(f"{name}: {ws}" for name, ws in ids.items())
        (root / "reconciler.yaml").write_text(
            "manifests: manifests\ndefault_target: bench\ntargets:\n  bench:\n"
            f"    endpoint: {emulator.url}\n    api_key_env: BENCH_KEY\n    state: state/bench.json\n"
            "    throttle: {read_interval: 0, write_interval: 0}\n"
            f"    relay:\n      threshold: 1000\n      synchronous: {synchronous}\n      workstations: {{{mapping}}}\n",
            encoding="utf-8",
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "station-relay", "--ack"],
            cwd=root,
            env={**os.environ, "BENCH_KEY": KEY},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        rng = random.Random(1)
        names = list(ids)
        lines, totals = [], dict.fromkeys(ids.values(), 0)
        for n in range(events):
            name, quantity = names[rng.randrange(len(names))], rng.randint(1, 5)
            totals[ids[name]] += quantity
            lines.append(f"{name},{quantity},e{n}\n")
        payload = "".join(lines).encode()
        acked = [0]
        done = threading.Event()
        peak = [0.0]

        def read_acks() -> None:
            for line in proc.stdout:
                acked[0] = int(line.split()[1])
                if acked[0] >= events:
                    done.set()

        def watch() -> None:
            while proc.poll() is None:
                peak[0] = max(peak[0], peak_rss_mb(proc.pid))
                time.sleep(0.05)

        threading.Thread(target=read_acks, daemon=True).start()
        threading.Thread(target=watch, daemon=True).start()
        time.sleep(1.0)  # the relay has started (imports, spool) before the clock runs
        started = time.perf_counter()
        proc.stdin.write(payload)
        proc.stdin.flush()
        assert done.wait(600), f"only {acked[0]} of {events} acknowledged"
        absorbed = time.perf_counter() - started
        peak[0] = max(peak[0], peak_rss_mb(proc.pid))
        proc.stdin.close()
        proc.wait(timeout=300)
        flushed = time.perf_counter() - started
        got = emulator.inspect("completions")
        sent = {int(k): v for k, v in got["totals"].items()}
        assert sent == {k: v for k, v in totals.items() if v}, "the emulator's totals differ from what was written"
        spool = root / ".reconciler" / "relay" / "bench.sqlite"
        return {
            "events": events,
            "workstations": stations,
            "synchronous": synchronous,
            "absorbed_s": absorbed,
            "events_per_s": events / absorbed,
            "sends": len(got["completions"]),
            "until_flushed_s": flushed,
            "peak_mb": peak[0],
            "spool_mb": sum(p.stat().st_size for p in spool.parent.glob("bench.sqlite*")) / 2**20,
        }
    finally:
        emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--workstations", type=int, default=100)
    args = parser.parse_args()
    print(
        f"{'synchronous':<12} {'events':>8} {'stations':>8} {'absorbed':>9} {'events/s':>9} {'sends':>6} "
        f"{'flushed':>8} {'peak RSS':>9} {'spool':>7}"
    )
    for synchronous in ("full", "normal"):
        with tempfile.TemporaryDirectory() as tmp:
            r = run(args.events, args.workstations, synchronous, Path(tmp))
        print(
            f"{r['synchronous']:<12} {r['events']:>8,} {r['workstations']:>8} {r['absorbed_s']:>8.2f}s "
            f"{r['events_per_s']:>9,.0f} {r['sends']:>6} {r['until_flushed_s']:>7.2f}s {r['peak_mb']:>7.1f}MB "
            f"{r['spool_mb']:>5.1f}MB",
            flush=True,
        )


if __name__ == "__main__":
    main()
