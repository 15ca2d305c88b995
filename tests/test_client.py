"""The Epoptia client with httpx's MockTransport: only what the emulator cannot be made to answer.

Faults, retries, timeouts, redirects, 401, the halt, command-not-found, answers without results and the
throttle across processes run against the emulator over HTTP in tests/test_client_http.py. Kept here,
because no switch of the emulator produces them: the exact request sent (headers, query), a 2xx whose body
is not JSON, a list without `workorderLines` or with a `numberOfPages` that is not a number, a results list
of the wrong length, a login answer without a token, and a 5xx then a drop then an answer in one call.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from reconciler.epoptia.client import EpoptiaClient
from reconciler.epoptia.errors import BadResponseError
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
                      throttle=Throttle(tmp_path / "throttle", "t", Spacing(read_interval=read, write_interval=write)),
                      halt=Halt(tmp_path / "halt.json", "t"),
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


@pytest.mark.parametrize(("answer", "message"), [
    (httpx.Response(200, text="<html>login</html>"), "something that is not JSON: <html>login</html>"),
    (httpx.Response(200, json={"lines": []}), "has no 'workorderLines' list"),
    (httpx.Response(200, json={"workorderLines": [], "numberOfPages": "many"}), "says numberOfPages 'many'"),
])
def test_list_answers_that_are_not_the_profile(tmp_path: Path, answer: httpx.Response, message: str) -> None:
    c, seen = client(tmp_path, lambda r, n: answer)
    with pytest.raises(BadResponseError, match=message):
        c.lines_page(1)
    assert len(seen) == 1  # a bad answer is not retried


def test_pages_default_to_one(tmp_path: Path) -> None:
    c, _ = client(tmp_path, lambda r, n: httpx.Response(200, json={"workorderLines": [{"x": 1}]}))
    assert c.lines_page(3) == ([{"x": 1}], 1)
    c, _ = client(tmp_path, lambda r, n: httpx.Response(200, json={"workorderLines": [], "numberOfPages": 0}))
    assert c.lines_page(1) == ([], 1)


def test_a_results_list_of_the_wrong_length(tmp_path: Path) -> None:
    c, _ = client(tmp_path, lambda r, n: httpx.Response(200, json={"results": [{"id": "1", "result": "created"}]}))
    with pytest.raises(BadResponseError, match="upsert_lines has no per-row 'results' list"):
        c.write(Operation.UPSERT_LINES, [{"workorderline_id": "1"}, {"workorderline_id": "2"}])


def test_a_login_answer_without_a_token(tmp_path: Path) -> None:
    c, seen = client(tmp_path, lambda r, n: httpx.Response(200, json={"ok": True}))
    with pytest.raises(BadResponseError, match="no token"):
        c.login("demo", "secret")
    assert seen[0].headers["Content-Type"] == "application/json"


def test_workflow_templates_as_a_bare_list_or_not_a_list(tmp_path: Path) -> None:
    c, _ = client(tmp_path, lambda r, n: httpx.Response(200, json=[{"id": 1, "name": "Βαφή"}]))
    assert c.workflow_templates() == [{"id": 1, "name": "Βαφή"}]
    c, _ = client(tmp_path, lambda r, n: httpx.Response(200, json={"workflows": "none"}))
    with pytest.raises(BadResponseError, match="no list of workflows"):
        c.workflow_templates()
