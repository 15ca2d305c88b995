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

    c = EpoptiaClient(
        "https://acme.epoptia.io",
        SECRET,
        profile=DEFAULT_PROFILE,
        throttle=Throttle(tmp_path / "throttle", "t", Spacing(read_interval=read, write_interval=write)),
        halt=Halt(tmp_path / "halt.json", "t"),
        key_env="ACME_KEY",
        retry=RetryPolicy(attempts=attempts, backoff=0.0),
        transport=httpx.MockTransport(record),
        sleep=lambda s: None,
    )
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


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (httpx.Response(200, text="<html>login</html>"), "something that is not JSON: <html>login</html>"),
        (httpx.Response(200, json={"lines": []}), "has no 'workorderLines' list"),
        (httpx.Response(200, json={"workorderLines": [], "numberOfPages": "many"}), "says numberOfPages 'many'"),
    ],
)
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


@pytest.mark.parametrize(("status", "retried"), [(499, False), (500, True), (599, True)])
def test_the_5xx_boundary(tmp_path: Path, status: int, retried: bool) -> None:
    """Exactly 500 and 499 (the emulator answers only 503)."""
    c, seen = client(tmp_path, lambda r, n: httpx.Response(status, text="x"), attempts=2)
    with pytest.raises(Exception):  # noqa: B017
        c.lines_page(1)
    assert len(seen) == (2 if retried else 1)


@pytest.mark.parametrize(("status", "redirect"), [(300, True), (399, True), (400, False)])
def test_the_3xx_boundary(tmp_path: Path, status: int, redirect: bool) -> None:
    from reconciler.epoptia.errors import RedirectedError, RequestRefusedError

    c, _ = client(tmp_path, lambda r, n: httpx.Response(status, headers={"Location": "/x"}, text="no"))
    with pytest.raises(RedirectedError if redirect else RequestRefusedError) as caught:
        c.lines_page(1)
    if not redirect:
        assert caught.value.message == "Epoptia refused GET /api/3.03/workorderlines with HTTP 400: no"


def test_an_operator_token_goes_in_its_header_only_when_given(tmp_path: Path) -> None:
    c, seen = client(tmp_path, lambda r, n: httpx.Response(200, json={"ok": True}))
    c.control("start", 3, line_id="7", operator_token="tok-1")
    c.control("complete", 3, quantity=2.5)
    assert seen[0].headers["Operator-Token"] == "tok-1" and "Operator-Token" not in seen[1].headers
    import json as _json

    assert _json.loads(seen[0].content) == {"action": "start", "workstation_id": 3, "workorderline_id": "7"}
    assert _json.loads(seen[1].content) == {"action": "complete", "workstation_id": 3, "quantity": 2.5}
    assert seen[0].headers["Content-Type"] == "application/json"


def test_excerpts_of_answers(tmp_path: Path) -> None:
    from reconciler.epoptia.errors import RequestRefusedError

    long = "ω " * 300
    for body, shown in (
        (httpx.Response(409, json={"error": "no line is running"}), "no line is running"),
        (httpx.Response(409, json={"message": "x"}), '{"message":"x"}'),
        (httpx.Response(409, text=""), "(empty body)"),
        (httpx.Response(409, text=long), " ".join(["ω"] * 300)[:200] + "..."),
    ):
        c, _ = client(tmp_path, lambda r, n, body=body: body)
        with pytest.raises(RequestRefusedError) as caught:
            c.lines_page(1)
        assert caught.value.message == f"Epoptia refused GET /api/3.03/workorderlines with HTTP 409: {shown}"


def test_the_integrations_page_is_named_for_an_https_endpoint(tmp_path: Path) -> None:
    from reconciler.epoptia.errors import KeyRejectedError

    c, _ = client(tmp_path, lambda r, n: httpx.Response(401, text="expired"))
    with pytest.raises(KeyRejectedError) as caught:
        c.write(Operation.UPSERT_CLIENTS, [{"id": "1"}])
    assert caught.value.hint.startswith(
        "make a new key at https://acme.epoptia.io/integrations and put it in $ACME_KEY"
    )


def test_a_command_not_found_on_the_confirmed_list_says_to_check_the_endpoint(tmp_path: Path) -> None:
    from reconciler.epoptia.errors import CommandNotFoundError

    c, _ = client(
        tmp_path, lambda r, n: httpx.Response(400, text="Command `workorderlines` for api version 3.03 not found")
    )
    with pytest.raises(CommandNotFoundError) as caught:
        c.lines_page(1)
    assert "its path is confirmed on live tenants, so check the endpoint and API version" in caught.value.message
    assert caught.value.hint.endswith("or switch it off with `enabled: false` so the plan blocks what needs it")
