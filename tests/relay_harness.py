"""The relay as a real process against the emulator as a real process (and an MQTT broker), with a file clock."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from reconciler.epoptia.profile import Operation as Op

from .emulator_process import KEY, EmulatorProcess

KEY_ENV = "EPOPTIA_TEST_KEY"
START = 1_800_000_000.0  # the file clock's first reading


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SamePortEmulator(EmulatorProcess):
    """An emulator that comes back on the same port after a stop, so the relay's target stays valid."""

    def start(self) -> SamePortEmulator:
        super().start()
        self.port = int(self.url.rsplit(":", 1)[1])
        return self

    def completions(self) -> dict[str, Any]:
        return self.inspect("completions")

    def total(self, ws: int) -> float:
        return sum(t["quantity"] for t in self.completions()["totals"] if t["workstation_id"] == ws)


def running_line(emulator: EmulatorProcess, station: str = "LASER", line: str = "900001") -> int:
    """A line of 10 million pieces, started by an operator at `station`: the machine scenario can report there."""
    emulator.write(Op.UPSERT_CLIENTS, [{"id": "C-1", "name": "Πελάτης", "kind": "client"}])
    emulator.write(Op.UPSERT_PRODUCTS, [{"id": "P-1", "name": "Προφίλ"}])
    emulator.write(
        Op.UPSERT_LINES,
        [
            {
                "workorderline_id": line,
                "quantity": "10000000",
                "production_status": "standby",
                "description": "Προφίλ",
                "workorder": {"id": f"WO-{line}"},
                "client": {"id": "C-1"},
                "product": {"id": "P-1"},
                "erp_routing": [{"workstationName": station, "job_tasks": [{"name": "Κοπή"}]}],
            }
        ],
    )
    token = emulator.call(Op.OPERATOR_LOGIN, {"username": "demo", "password": "demo"}).json()["token"]
    ws = emulator.workstation(station)
    started = emulator.call(
        Op.WORKSTATION_CONTROL,
        {"action": "start", "workstation_id": ws, "workorderline_id": line},
        headers={"Operator-Token": token},
    )
    assert started.status_code == 200, started.text
    return ws


def write_config(root: Path, emulator: EmulatorProcess, relay: str, timeout: float = 1) -> None:
    (root / "manifests").mkdir(parents=True, exist_ok=True)
    (root / "reconciler.yaml").write_text(
        "manifests: manifests\ndefault_target: test\ntargets:\n  test:\n"
        f"    endpoint: {emulator.url}\n    api_key_env: {KEY_ENV}\n    state: state/test.json\n"
        "    throttle: {read_interval: 0, write_interval: 0}\n"
        "    retries: {attempts: 2, backoff: 0.05}\n"
        f"    timeout: {timeout}\n"
        "    relay:\n" + "".join(f"      {line}\n" for line in relay.strip().splitlines()),
        encoding="utf-8",
    )


class RelayProcess:
    """`reconciler station-relay` with its stdin, its acks (stdout) and its JSON log (stderr) in hand."""

    started: ClassVar[list[RelayProcess]] = []  # every one, so that a failing test leaves none behind

    def __init__(self, root: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.clock_file = root / "clock.txt"
        if not self.clock_file.exists():
            self.set_clock(START)
        full_env = {**os.environ, KEY_ENV: KEY, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "station", "relay", "--clock-file", str(self.clock_file), *args],
            cwd=root,
            env=full_env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        RelayProcess.started.append(self)
        self.acked = 0
        self.log: list[dict[str, Any]] = []
        self.other: list[str] = []
        self.changed = threading.Condition()
        threading.Thread(target=self._read_acks, daemon=True).start()
        threading.Thread(target=self._read_log, daemon=True).start()
        self.wait_log(lambda e: e["event"] == "started")

    # -- time
    def now(self) -> float:
        return float(self.clock_file.read_text())

    def set_clock(self, t: float) -> None:
        tmp = self.clock_file.with_suffix(".tmp")
        tmp.write_text(repr(float(t)))
        os.replace(tmp, self.clock_file)

    def advance(self, seconds: float) -> float:
        t = self.now() + seconds
        self.set_clock(t)
        return t

    # -- streams
    def _read_acks(self) -> None:
        for line in self.proc.stdout:
            text = line.decode().strip()
            if text.startswith("ok "):
                with self.changed:
                    self.acked = int(text[3:])
                    self.changed.notify_all()

    def _read_log(self) -> None:
        for line in self.proc.stderr:
            text = line.decode().strip()
            with self.changed:
                try:
                    self.log.append(json.loads(text))
                except ValueError:
                    self.other.append(text)
                self.changed.notify_all()

    def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not ready():
                left = deadline - time.monotonic()
                assert (left > 0 and self.proc.poll() is None) or ready(), (
                    f"timed out waiting for {what}; exit {self.proc.poll()}; log tail {self.log[-5:]}; {self.other[-20:]}"
                )
                self.changed.wait(min(left, 0.05) if left > 0 else 0.05)

    def wait_ack(self, number: int, timeout: float = 15) -> None:
        self._wait(lambda: self.acked >= number, timeout, f"ack {number}")

    def wait_log(self, match: Callable[[dict], bool], timeout: float = 15, count: int = 1) -> list[dict]:
        self._wait(lambda: sum(1 for e in self.log if match(e)) >= count, timeout, "a log line")
        return [e for e in self.log if match(e)]

    def events(self, name: str) -> list[dict]:
        with self.changed:
            return [e for e in self.log if e["event"] == name]

    def write(self, *lines: str) -> None:
        self.proc.stdin.write("".join(f"{line}\n" for line in lines).encode())
        self.proc.stdin.flush()

    # -- ending
    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 30) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def close_stdin(self, timeout: float = 30) -> int:
        self.proc.stdin.close()
        return self.proc.wait(timeout=timeout)


def kill_leftovers() -> None:
    while RelayProcess.started:
        relay = RelayProcess.started.pop()
        if relay.proc.poll() is None:
            relay.proc.kill()
            relay.proc.wait(timeout=10)


def run_cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        check=False,
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, KEY_ENV: KEY, "NO_COLOR": "1"},
        timeout=60,
    )


class Broker:
    """amqtt on 127.0.0.1; it keeps QoS 1 messages for offline persistent sessions of named clients."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        config = folder / "broker.yaml"
        config.write_text(
            f"listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:{self.port}\n"
            "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: false\n"
        )
        amqtt = Path(sys.executable).parent / "amqtt"
        self.proc = subprocess.Popen(
            [str(amqtt), "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline and self.proc.poll() is None, "the MQTT broker did not start"
                time.sleep(0.05)
        import paho.mqtt.client as mqtt

        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="plc-gateway")
        self.client.username_pw_set("plc-gateway")
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()

    def publish(self, topic: str, payload: str) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
        self.proc.terminate()
        self.proc.wait(timeout=10)
