"""The Epoptia client's handling of faults, with httpx's MockTransport where a real server cannot be made to fail on demand."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from reconciler.epoptia.client import EpoptiaClient
from reconciler.epoptia.errors import (
    HaltedError,
    KeyRejectedError,
    RedirectedError,
    RequestRefusedError,
    ServerError,
    UnreachableError,
)
from reconciler.epoptia.profile import DEFAULT_PROFILE, Operation
from reconciler.epoptia.results import RowOutcome, RowResult
from reconciler.epoptia.settings import RetryPolicy, Spacing
from reconciler.epoptia.throttle import Halt, Throttle

SECRET = "very-secret-key-123"


def client(tmp_path: Path, handler, *, read=0.0, write=0.0, attempts=3) -> tuple[EpoptiaClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request, len(seen))

    c = EpoptiaClient("https://acme.epoptia.io", SECRET, profile=DEFAULT_PROFILE,
                      throttle=Throttle(tmp_path / "throttle", "t", Spacing(read_interval=read, write_interval=write)), halt=Halt(tmp_path / "halt.json", "t"),
                      key_env="ACME_KEY", retry=RetryPolicy(attempts=attempts, backoff=0.0),
                      transport=httpx.MockTransport(record), sleep=lambda s: None)
    return c, seen


PAGE = {"workorderLines": [], "numberOfPages": 1}


def test_headers_and_key_are_sent_and_json_is_asked(tmp_path: Path) -> None:
    c, seen = client(tmp_path, lambda r, n: httpx.Response(200, json=PAGE))
    c.lines_page(1)
    request = seen[0]
    assert request.headers["X-Auth-Token"] == SECRET and request.headers["Accept"] == "application/json"
    assert request.url.path == "/api/3.03/workorderlines" and dict(request.url.params) == {"page": "1", "limit": "100"}


def test_5xx_and_dropped_connections_are_retried_for_idempotent_calls(tmp_path: Path) -> None:
    def flaky(request, n):
        if n == 1:
            return httpx.Response(503)
        if n == 2:
            raise httpx.RemoteProtocolError("peer closed connection", request=request)
        return httpx.Response(200, json={"results": [{"id": "1", "result": "created"}]})

    c, seen = client(tmp_path, flaky)
    assert c.write(Operation.UPSERT_LINES, [{"workorderline_id": "1"}]) == [RowResult(RowOutcome.CREATED)]
    assert len(seen) == 3


def test_non_idempotent_calls_are_never_retried(tmp_path: Path) -> None:
    c, seen = client(tmp_path, lambda r, n: httpx.Response(503))
    with pytest.raises(ServerError):
        c.control("complete", 3, quantity=1200)
    assert len(seen) == 1  # a retried 'complete' could count 1,200 pieces twice


def test_timeouts_give_up_after_the_attempts_allowed(tmp_path: Path) -> None:
    def slow(request, n):
        raise httpx.ReadTimeout("timed out", request=request)

    c, seen = client(tmp_path, slow, attempts=3)
    with pytest.raises(UnreachableError, match="timed out"):
        c.lines_page(1)
    assert len(seen) == 3


def test_other_4xx_are_not_retried(tmp_path: Path) -> None:
    c, seen = client(tmp_path, lambda r, n: httpx.Response(400, text="Command `x` for api version 3.03 not found"))
    with pytest.raises(RequestRefusedError, match="does not know GET /api/3.03/workorderlines.*Command `x`"):
        c.lines_page(1)
    assert len(seen) == 1


def test_any_3xx_is_an_error(tmp_path: Path) -> None:
    c, _ = client(tmp_path, lambda r, n: httpx.Response(302, headers={"Location": "/login"}))
    with pytest.raises(RedirectedError, match="redirecting to '/login'"):
        c.lines_page(1)


def test_401_names_the_variable_not_the_key(tmp_path: Path) -> None:
    c, _ = client(tmp_path, lambda r, n: httpx.Response(401, json={"error": "API key expired"}))
    with pytest.raises(KeyRejectedError) as caught:
        c.lines_page(1)
    text = str(caught.value)
    assert "$ACME_KEY" in text and "60 days" in text and "https://acme.epoptia.io/integrations" in text
    assert SECRET not in text


@pytest.mark.parametrize("status", [403, 429])
def test_403_and_429_halt_every_later_request(tmp_path: Path, status: int) -> None:
    c, seen = client(tmp_path, lambda r, n: httpx.Response(status))
    with pytest.raises(HaltedError, match=f"HTTP {status}"):
        c.lines_page(1)
    with pytest.raises(HaltedError):  # a second client (another process) is halted too, before sending
        other, other_seen = client(tmp_path, lambda r, n: httpx.Response(200, json=PAGE))
        other.lines_page(1)
    assert len(seen) == 1 and other_seen == []
    assert Halt(tmp_path / "halt.json", "t").clear()
    other.lines_page(1)


def test_write_without_per_row_results_is_reported(tmp_path: Path) -> None:
    c, _ = client(tmp_path, lambda r, n: httpx.Response(200, json={"ok": True}))
    with pytest.raises(Exception, match="no per-row 'results' list"):
        c.write(Operation.UPSERT_CLIENTS, [{"id": "C-1"}])


def test_throttle_spaces_reads_and_writes(tmp_path: Path) -> None:
    c, seen = client(tmp_path, lambda r, n: httpx.Response(200, json={"results": [{"id": "1", "result": "created"}]}
                                                            if r.method == "POST" else PAGE), read=0.1, write=0.3)
    stamps = []
    for call in (lambda: c.lines_page(1), lambda: c.lines_page(1),
                 lambda: c.write(Operation.UPSERT_CLIENTS, [{"id": "1"}]), lambda: c.lines_page(1)):
        call()
        stamps.append(time.monotonic())
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert gaps[0] >= 0.09  # read after read: 1 s on a real tenant
    assert gaps[1] >= 0.29 and gaps[2] >= 0.29  # around a write: 2 s on a real tenant
