"""The Epoptia client against the emulator over real HTTP on 127.0.0.1: faults, redirects, halts, retries, throttle.

The emulator runs in this process on a thread (EmulatorServer, a real uvicorn server on a real socket), so the
client's code runs where mutation testing can reach it; the throttle across processes is checked with two client
processes. tests/test_client.py keeps httpx's MockTransport only for what the emulator cannot be made to answer.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.emulator.admin import ADMIN_HEADER
from reconciler.emulator.server import EmulatorServer
from reconciler.epoptia.client import EpoptiaClient
from reconciler.epoptia.errors import (
    BadResponseError,
    CommandNotFoundError,
    HaltedError,
    KeyRejectedError,
    OperatorTokenError,
    RedirectedError,
    ServerError,
    UnreachableError,
)
from reconciler.epoptia.profile import DEFAULT_PROFILE, Operation
from reconciler.epoptia.results import RowOutcome
from reconciler.epoptia.settings import RetryPolicy, Spacing
from reconciler.epoptia.throttle import Halt, Throttle

KEY = "http-client-key-0123456789"


class Tenant:
    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self.admin = httpx.Client(base_url=server.url, headers={ADMIN_HEADER: server.admin_key}, timeout=30)

    def faults(self, **switches: Any) -> None:
        assert self.admin.post("/_emulator/faults", json=switches).status_code == 200

    def stats(self) -> dict[str, Any]:
        return self.admin.get("/_emulator/stats").json()

    def requests(self) -> int:
        return self.stats().get("requests", 0)


@pytest.fixture
def tenant() -> Iterator[Tenant]:
    with EmulatorServer(api_keys=(KEY,)) as server:
        t = Tenant(server)
        yield t
        t.admin.close()


def client(
    tmp_path: Path,
    tenant: Tenant,
    *,
    key: str = KEY,
    attempts: int = 3,
    timeout: float = 30,
    read: float = 0.0,
    write: float = 0.0,
    profile=DEFAULT_PROFILE,
    sleeps: list | None = None,
) -> EpoptiaClient:
    spacing = Spacing(read_interval=read, write_interval=write)
    throttle = Throttle(tmp_path / "throttle", "t", spacing)
    return EpoptiaClient(
        tenant.server.url,
        key,
        profile=profile,
        throttle=throttle,
        halt=Halt(tmp_path / "halt" / "t.json", "t"),
        key_env="ACME_KEY",
        retry=RetryPolicy(attempts=attempts, backoff=0.01),
        timeout=timeout,
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
    )


LINE = {
    "workorderline_id": "131319",
    "quantity": "200",
    "description": "Προφίλ",
    "workorder": {"id": "WO-1"},
    "client": {"name": "Αιγαίου"},
    "product": {"name": "Προφίλ"},
}


def test_a_503_is_retried_with_backoff_then_given_up(tmp_path: Path, tenant: Tenant) -> None:
    tenant.faults(error_rate=1)
    sleeps: list[float] = []
    c = client(tmp_path, tenant, attempts=4, sleeps=sleeps)
    with pytest.raises(ServerError, match=r"Epoptia answered HTTP 503 to GET /api/3.03/workorderlines"):
        c.lines_page(1)
    assert tenant.stats()["faults_5xx"] == 4 and sleeps == [0.01, 0.02, 0.04]  # doubled each time


def test_a_503_then_an_answer_is_a_success(tmp_path: Path, tenant: Tenant) -> None:
    tenant.faults(error_rate=0.5, seed=3)
    c = client(tmp_path, tenant, attempts=10)
    for _ in range(5):
        assert c.lines_page(1) == ([], 1)
    assert tenant.stats()["faults_5xx"] >= 1  # some were refused, and retried


def test_a_dropped_connection_is_retried_for_an_idempotent_write(tmp_path: Path, tenant: Tenant) -> None:
    tenant.faults(drop_rate=1)
    c = client(tmp_path, tenant, attempts=3)
    row = {"id": "C-1", "name": "Αιγαίου ΑΕ"}
    with pytest.raises(UnreachableError, match="cannot reach"):
        c.write(Operation.UPSERT_CLIENTS, [row])
    assert tenant.stats()["faults_dropped"] == 3
    tenant.faults()
    # The connection dropped after the work was done: the write went through the first time, and again harmlessly.
    assert c.write(Operation.UPSERT_CLIENTS, [row])[0].outcome is RowOutcome.UNCHANGED


def test_a_non_idempotent_call_is_never_retried(tmp_path: Path, tenant: Tenant) -> None:
    c = client(tmp_path, tenant, attempts=5)
    laser = next(
        w["id"] for w in tenant.admin.get("/_emulator/workstations").json()["workstations"] if w["name"] == "LASER"
    )
    tenant.faults(drop_rate=1)
    before = tenant.requests()
    with pytest.raises(UnreachableError):
        c.login("demo", "demo")  # a session opened twice is not the same as once
    tenant.faults(error_rate=1)
    with pytest.raises(ServerError):
        c.control("complete", laser, quantity=1200)
    with pytest.raises(ServerError):
        c.login("demo", "demo")
    assert tenant.requests() - before == 3  # one each: a retried 'complete' could count 1,200 pieces twice


def test_a_timeout_is_retried_then_reported(tmp_path: Path, tenant: Tenant) -> None:
    tenant.faults(latency_ms=400)
    c = client(tmp_path, tenant, attempts=2, timeout=0.1)
    with pytest.raises(UnreachableError, match="timed out") as caught:
        c.lines_page(1)
    assert "raise the target's timeout" in caught.value.hint
    time.sleep(0.5)
    assert tenant.requests() == 2


def test_a_redirect_is_an_error_never_followed(tmp_path: Path, tenant: Tenant) -> None:
    tenant.faults(redirect=True)
    c = client(tmp_path, tenant, attempts=3)
    with pytest.raises(RedirectedError, match=r"HTTP 302 to GET /api/3\.03/workorderlines, redirecting to '/login'"):
        c.lines_page(1)
    assert tenant.requests() == 1


@pytest.mark.parametrize("status", [429, 403])
def test_a_rate_limit_halts_this_and_every_other_client_until_cleared(
    tmp_path: Path, tenant: Tenant, status: int
) -> None:
    tenant.faults(rate_limit=1, rate_limit_status=status)
    c = client(tmp_path, tenant, attempts=3)
    c.lines_page(1)
    with pytest.raises(HaltedError, match=f"Epoptia answered HTTP {status} to GET /api/3.03/workorderlines"):
        c.lines_page(1)
    sent = tenant.requests()
    other = client(tmp_path, tenant)  # another client (another process) of the same target
    with pytest.raises(HaltedError) as caught:
        other.write(Operation.UPSERT_LINES, [LINE])
    assert "reconciler halt clear --target t" in caught.value.hint
    assert tenant.requests() == sent  # halted before sending anything
    tenant.faults()
    time.sleep(1.0)  # out of the rate window
    assert Halt(tmp_path / "halt" / "t.json", "t").clear()
    assert other.lines_page(1) == ([], 1)


def test_a_wrong_and_an_expired_key(tmp_path: Path, tenant: Tenant) -> None:
    with pytest.raises(KeyRejectedError) as caught:
        client(tmp_path, tenant, key="not-the-key").lines_page(1)
    text = str(caught.value)
    assert "$ACME_KEY" in text and "API key not recognised" in text and "not-the-key" not in text
    assert tenant.requests() == 1  # a 401 is never retried
    c = client(tmp_path, tenant)
    c.lines_page(1)
    assert tenant.admin.post("/_emulator/clock", json={"advance_days": 61}).status_code == 200
    with pytest.raises(KeyRejectedError, match="API key expired: it was not used for 60 days"):
        c.lines_page(1)


def test_a_line_action_without_an_operator_says_it_may_need_one_not_only_the_key(
    tmp_path: Path, tenant: Tenant
) -> None:
    c = client(tmp_path, tenant)
    with pytest.raises(KeyRejectedError) as caught:
        c.control("start", 1, line_id="131319")  # an action on a named line is an operator's
    assert "needs the Operator-Token of a logged-in operator" in str(caught.value)
    assert "either this action needs a logged-in operator, or the API key in $ACME_KEY" in str(caught.value)
    assert "reconciler operator login" in caught.value.hint and "--token" in caught.value.hint
    with pytest.raises(KeyRejectedError) as caught:
        client(tmp_path, tenant, key="not-the-key").lines_page(1)
    assert "operator" not in str(caught.value) + (caught.value.hint or "")  # a read never needs one


def test_an_operation_the_tenant_lacks_says_nothing_was_written(tmp_path: Path) -> None:
    with EmulatorServer(api_keys=(KEY,), disabled_operations=frozenset({Operation.ARCHIVE_LINES})) as server:
        tenant = Tenant(server)
        c = client(tmp_path, tenant, attempts=3)
        with pytest.raises(CommandNotFoundError) as caught:
            c.write(Operation.ARCHIVE_LINES, [{"workorderline_id": "1"}])
        assert caught.value.operation == "archive_lines" and caught.value.path == "/api/3.03/workorderlines/archive"
        assert "Command `workorderlines/archive` for api version 3.03 not found" in str(caught.value)
        assert "nothing was written" in str(caught.value) and "assumed default" in str(caught.value)
        assert tenant.requests() == 1
        tenant.admin.close()


def test_a_write_answer_without_results(tmp_path: Path) -> None:
    with EmulatorServer(api_keys=(KEY,), results="none") as server:
        tenant = Tenant(server)
        with pytest.raises(BadResponseError, match="has no per-row 'results' list; the write may have happened"):
            client(tmp_path, tenant).write(Operation.UPSERT_LINES, [LINE])
        quiet = DEFAULT_PROFILE.model_copy(update={"results_key": None})
        assert [r.outcome for r in client(tmp_path, tenant, profile=quiet).write(Operation.UPSERT_LINES, [LINE])] == [
            RowOutcome.SENT
        ]
        tenant.admin.close()


TIMED = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from reconciler.epoptia.client import EpoptiaClient
    from reconciler.epoptia.profile import DEFAULT_PROFILE, Operation
    from reconciler.epoptia.settings import RetryPolicy, Spacing
    from reconciler.epoptia.throttle import Halt, Throttle
    url, key, folder, rounds = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    c = EpoptiaClient(url, key, profile=DEFAULT_PROFILE, halt=Halt(folder / "halt.json", "t"),
                      throttle=Throttle(folder, "t", Spacing(read_interval=0.15, write_interval=0.3)),
                      retry=RetryPolicy(attempts=1))
    original = c._http.request
    def timed(*args, **kwargs):
        start = time.time()
        try:
            return original(*args, **kwargs)
        finally:
            print(json.dumps([start, time.time(), args[0]]), flush=True)
    c._http.request = timed
    for n in range(rounds):
        if n == 2:
            c.write(Operation.UPSERT_LINES, [{"workorderline_id": "1", "quantity": 1, "workorder": {"id": "W"},
                                              "client": {"name": "C"}, "product": {"name": "P"}}])
        else:
            c.lines_page(1)
""")


def test_one_request_in_flight_across_processes_spaced(tmp_path: Path, tenant: Tenant) -> None:
    """Two client processes share the target's throttle: their requests never overlap, and are spaced."""
    tenant.faults(latency_ms=50)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", TIMED, tenant.server.url, KEY, str(tmp_path / "throttle"), "5"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    calls = sorted(tuple(json.loads(line)) for p in procs for line in p.communicate(timeout=60)[0].splitlines())
    assert all(p.returncode == 0 for p in procs)
    assert len(calls) == 10
    for (_, end, method), (start, _, next_method) in itertools.pairwise(calls):
        assert start >= end, calls  # never two in flight
        gap = 0.3 if "POST" in (method, next_method) else 0.15
        assert start - end >= gap - 0.02, (gap, start - end)


def test_the_throttle_spaces_reads_and_writes(tmp_path: Path, tenant: Tenant) -> None:
    c = client(tmp_path, tenant, read=0.1, write=0.3)
    stamps = []
    for call in (
        lambda: c.lines_page(1),
        lambda: c.lines_page(1),
        lambda: c.write(Operation.UPSERT_CLIENTS, [{"id": "C-1", "name": "Αιγαίου"}]),
        lambda: c.lines_page(1),
        lambda: c.lines_page(1),
    ):
        call()
        stamps.append(time.monotonic())
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert 0.09 <= gaps[0] < 0.25  # read after read: 1 s on a real tenant
    assert gaps[1] >= 0.29 and gaps[2] >= 0.29  # around a write: 2 s on a real tenant
    assert 0.09 <= gaps[3] < 0.25
    stamp = (tmp_path / "throttle" / "t.last").read_text().split()
    assert stamp[1] == "read" and abs(float(stamp[0]) - time.time()) < 5


def test_no_spacing_writes_no_stamp(tmp_path: Path, tenant: Tenant) -> None:
    client(tmp_path, tenant).lines_page(1)
    assert not (tmp_path / "throttle" / "t.last").exists()


def test_an_unreadable_halt_file_still_halts(tmp_path: Path, tenant: Tenant) -> None:
    (tmp_path / "halt").mkdir()
    (tmp_path / "halt" / "t.json").write_text("{not json")
    with pytest.raises(HaltedError, match=r"halted since unknown: Epoptia answered HTTP \? to \? \(unreadable halt"):
        client(tmp_path, tenant).lines_page(1)
    assert tenant.requests() == 0


def test_operator_sessions_and_workstation_control(tmp_path: Path, tenant: Tenant) -> None:
    c = client(tmp_path, tenant)
    c.write(Operation.UPSERT_CLIENTS, [{"id": "C", "name": "Αιγαίου"}])
    c.write(Operation.UPSERT_PRODUCTS, [{"id": "P", "name": "Προφίλ"}])
    row = {
        **LINE,
        "client": {"name": "Αιγαίου"},
        "product": {"name": "Προφίλ"},
        "erp_routing": [{"workstationName": "LASER"}],
    }
    assert c.write(Operation.UPSERT_LINES, [row])[0].outcome is RowOutcome.CREATED
    laser = next(
        w["id"] for w in tenant.admin.get("/_emulator/workstations").json()["workstations"] if w["name"] == "LASER"
    )
    with pytest.raises(OperatorTokenError) as caught:
        c.login("demo", "wrong")
    assert caught.value.message.startswith("Epoptia refused the operator's login for POST /api/3.03/operators/login: ")
    assert caught.value.hint == "check the operator's username and password"
    token = c.login("demo", "demo")
    assert len(token) > 8
    started = c.control("start", laser, line_id="131319", operator_token=token)
    assert started["workorderline_id"] == 131319 and started["status"] == "started"
    done = c.control("complete", laser, quantity=12)
    assert done["workorderline_id"] == 131319
    assert tenant.admin.get("/_emulator/lines").json()["lines"][0]["steps"][0]["qty_done"] == 12
    c.logout(token)
    with pytest.raises(OperatorTokenError) as caught:
        c.control("pause", laser, line_id="131319", operator_token=token)
    assert caught.value.message.startswith(
        "Epoptia refused the operator's token for POST /api/3.03/workstations/control: "
    )
    assert caught.value.hint == "log in again with `reconciler operator login`; the API key is not the problem"
    with pytest.raises(OperatorTokenError, match=r"refused the operator.s token for POST /api/3\.03/operators/logout"):
        c.logout(token)


def test_messages_and_hints_of_each_failure(tmp_path: Path, tenant: Tenant) -> None:
    c = client(tmp_path, tenant, attempts=1)
    tenant.faults(error_rate=1)
    with pytest.raises(ServerError) as caught:
        c.workflow_templates()
    assert caught.value.message == (
        "Epoptia answered HTTP 503 to GET /api/3.03/workflows/templates: Service Unavailable"
    )
    assert caught.value.hint == ("Epoptia had a problem; run again later (nothing is lost: the next apply resumes)")
    tenant.faults(redirect=True)
    with pytest.raises(RedirectedError) as caught:
        c.lines_page(1)
    assert caught.value.hint == (
        "a redirect usually means a login page or a wrong endpoint; check the target's "
        "endpoint (it must be https://<subdomain>.epoptia.io)"
    )
    tenant.faults()
    with pytest.raises(KeyRejectedError) as caught:
        client(tmp_path, tenant, key="wrong").lines_page(1)
    assert caught.value.message == (
        "Epoptia refused the API key in $ACME_KEY (API key not recognised): it is wrong, "
        "or it expired (keys unused for 60 days expire)"
    )
    assert caught.value.hint == (
        "make a new key at https://<subdomain>.epoptia.io/integrations and put it in "
        "$ACME_KEY (in CI: the repository secret)"
    )
    dead = EpoptiaClient(
        "http://127.0.0.1:9/",
        KEY,
        profile=DEFAULT_PROFILE,
        retry=RetryPolicy(attempts=1),
        throttle=Throttle(tmp_path / "t2", "t", Spacing(read_interval=0, write_interval=0)),
        halt=Halt(tmp_path / "h2.json", "t"),
    )
    assert dead.endpoint == "http://127.0.0.1:9"
    with pytest.raises(UnreachableError) as caught:
        dead.lines_page(1)
    assert caught.value.message.startswith(
        "cannot reach http://127.0.0.1:9 (GET /api/3.03/workorderlines): ConnectError: "
    )
    assert caught.value.hint == "check the target's endpoint in reconciler.yaml and the network"
    assert c.workflow_templates()[0]["name"]  # the templates answer is {"workflows": [...]}
