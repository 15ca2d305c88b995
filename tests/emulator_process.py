"""The emulator as a real server process on 127.0.0.1, for tests that talk HTTP to it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from reconciler.epoptia.profile import DEFAULT_PROFILE, Operation

KEY = "emu-test-key-0123456789"


class EmulatorProcess:
    def __init__(self, db: Path, key: str = KEY) -> None:
        self.db, self.key = db, key
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.http: httpx.Client | None = None

    def start(self) -> "EmulatorProcess":
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "emulator", "serve", "--port", "0", "--db", str(self.db),
             "--api-key", self.key],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )
        first = self.proc.stdout.readline().strip()
        assert first.startswith("Epoptia emulator listening on http://127.0.0.1:"), first
        self.url = first.rsplit(" ", 1)[1]
        self.http = httpx.Client(base_url=self.url, timeout=30,
                                 headers={"X-Auth-Token": self.key, "Accept": "application/json"})
        return self

    def stop(self) -> None:
        if self.http is not None:
            self.http.close()
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def restart(self) -> "EmulatorProcess":
        self.stop()
        return self.start()

    # -- helpers in the wire profile's terms
    def call(self, operation: Operation, body: Any = None, *, params: dict | None = None,
             headers: dict | None = None) -> httpx.Response:
        endpoint = DEFAULT_PROFILE.endpoint(operation)
        if endpoint.method == "GET":
            return self.http.get(endpoint.path, params=params, headers=headers)
        if endpoint.envelope and isinstance(body, list):
            body = {endpoint.envelope: body}
        return self.http.post(endpoint.path, json=body, headers=headers)

    def write(self, operation: Operation, rows: list[dict]) -> list[dict]:
        response = self.call(operation, rows)
        assert response.status_code == 200, response.text
        return response.json()["results"]

    def lines(self) -> dict[str, dict]:
        out, page = {}, 1
        while True:
            body = self.call(Operation.LIST_LINES, params={"page": page, "limit": 100}).json()
            for line in body["workorderLines"]:
                out[str(line["workorderline_id"])] = line
            if page >= body["numberOfPages"]:
                return out
            page += 1

    def inspect(self, what: str) -> Any:
        return self.http.get(f"/_emulator/{what}").json()

    def emulator_post(self, what: str, body: dict) -> Any:
        response = self.http.post(f"/_emulator/{what}", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def await_requests(self, proc: subprocess.Popen, count: int, timeout: float = 120) -> bool:
        """Wait until `count` more API calls have arrived while `proc` runs; False if it ended first.

        Tests that interrupt an apply wait on its progress, not on the clock, so they interrupt at a real
        point of the apply however fast or slow the machine is. The emulator counts a call on arrival,
        before its latency and its commit, so the signal usually lands while a write is in flight.
        """
        start = self.inspect("stats").get("requests", 0)
        deadline = time.monotonic() + timeout
        while proc.poll() is None:
            if self.inspect("stats").get("requests", 0) - start >= count:
                return True
            assert time.monotonic() < deadline, f"the process made fewer than {count} calls in {timeout:.0f} s"
            time.sleep(0.01)
        return False

    def workstation(self, name: str) -> int:
        return next(w["id"] for w in self.inspect("workstations")["workstations"] if w["name"] == name)
