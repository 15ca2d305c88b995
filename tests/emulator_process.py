"""The emulator as a real server process on 127.0.0.1, for tests that talk HTTP to it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from reconciler.emulator.admin import ADMIN_HEADER
from reconciler.emulator.options import EmulatorOptions, resolve
from reconciler.epoptia.profile import DEFAULT_PROFILE, Operation

KEY = "emu-test-key-0123456789"


class EmulatorProcess:
    """One emulator process; ``options`` (or keyword settings such as read_shape="rich") pick the tenant.

    The admin key is fixed for the life of this object, so a restart keeps it.
    """

    def __init__(self, db: Path, key: str = KEY, *, options: EmulatorOptions | None = None, **settings: Any) -> None:
        self.db, self.key = db, key
        self.options = resolve(options, settings)
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.http: httpx.Client | None = None
        self.port = 0  # 0: a free port; subclasses that must come back on the same port keep it

    def start(self) -> EmulatorProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reconciler.emulator",
                "--port",
                str(self.port),
                "--db",
                str(self.db),
                "--api-key",
                self.key,
                *self.options.argv(),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        first = self.proc.stdout.readline().strip()
        assert first.startswith("Epoptia emulator listening on http://127.0.0.1:"), first
        second = self.proc.stdout.readline().strip()
        assert second == f"Admin key: {self.options.admin_key}", second
        self.url = first.rsplit(" ", 1)[1]
        self.http = httpx.Client(
            base_url=self.url,
            timeout=30,
            headers={"X-Auth-Token": self.key, "Accept": "application/json", ADMIN_HEADER: self.options.admin_key},
        )
        return self

    def stop(self) -> None:
        if self.http is not None:
            self.http.close()
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def restart(self) -> EmulatorProcess:
        self.stop()
        return self.start()

    # -- helpers in the wire profile's terms
    def call(
        self, operation: Operation, body: Any = None, *, params: dict | None = None, headers: dict | None = None
    ) -> httpx.Response:
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
        """Every listed line by its listed id (as text), read page by page as a client would."""
        out, page = {}, 1
        while True:
            body = self.call(Operation.LIST_LINES, params={"page": page, "limit": 100}).json()
            for line in body["workorderLines"]:
                out[str(line["workorderline_id"])] = line
            if page >= body["numberOfPages"]:
                return out
            page += 1

    # -- /_emulator/: the database as stored, counters and switches
    def inspect(self, what: str) -> Any:
        response = self.http.get(f"/_emulator/{what}")
        assert response.status_code == 200, response.text
        return response.json()

    def stored(self, kind: str) -> dict[str, dict]:
        """The stored documents of one kind (clients, products, workorders, lines) by ERP id."""
        return {doc["id"]: doc for doc in self.inspect(kind)[kind]}

    def stats(self) -> dict[str, Any]:
        return self.inspect("stats")

    def faults(self, **switches: Any) -> dict[str, Any]:
        """Set every fault switch at once: the ones not named are off."""
        return self.emulator_post("faults", switches)

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
        return self._await_stat(proc, "requests", count, timeout)

    def await_commits(self, proc: subprocess.Popen, count: int, timeout: float = 120) -> bool:
        """Wait until `count` more writes are committed while `proc` runs; False if it ended first.

        With the hold_ms fault on, the answer to the last of them is still held back: killing `proc`
        now is a crash between Epoptia's commit and the client learning of it.
        """
        return self._await_stat(proc, "writes_committed", count, timeout)

    def _await_stat(self, proc: subprocess.Popen, name: str, count: int, timeout: float) -> bool:
        start = self.stats().get(name, 0)
        deadline = time.monotonic() + timeout
        while proc.poll() is None:
            if self.stats().get(name, 0) - start >= count:
                return True
            assert time.monotonic() < deadline, f"the process made fewer than {count} {name} in {timeout:.0f} s"
            time.sleep(0.01)
        return False

    def workstation(self, name: str) -> int:
        return next(w["id"] for w in self.inspect("workstations")["workstations"] if w["name"] == name)
