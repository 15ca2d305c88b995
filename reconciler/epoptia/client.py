"""The Epoptia client: HTTP and the wire profile, nothing about plans.

Every request goes through one path: the halt file is checked, a throttle slot
is taken (one request in flight across processes, spaced), the request is sent,
and the status is mapped onto the exception hierarchy in ``errors``. Retries
happen only for idempotent operations, and only on timeouts, connection errors
and 5xx. The transport can be swapped (httpx's MockTransport) for faults a real
server cannot produce on demand.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx

from ..secrets import redact, register
from .errors import (
    BadResponseError,
    CommandNotFoundError,
    EpoptiaError,
    KeyRejectedError,
    OperatorTokenError,
    RedirectedError,
    RequestRefusedError,
    ServerError,
    UnreachableError,
)
from .profile import Operation, WireProfile
from .results import RowOutcome, RowResult, parse_row
from .rows import control_body
from .settings import RetryPolicy
from .throttle import Halt, Throttle

# Upserts keyed by ERP id, archives and deletes can be sent twice without harm;
# a workstation 'complete' adds quantity, and a login opens a session, so never.
IDEMPOTENT = frozenset(
    {
        Operation.LIST_LINES,
        Operation.WORKFLOW_TEMPLATES,
        Operation.UPSERT_LINES,
        Operation.UPSERT_CLIENTS,
        Operation.UPSERT_PRODUCTS,
        Operation.ARCHIVE_LINES,
        Operation.DELETE_LINES,
    }
)


class EpoptiaClient:
    def __init__(
        self,
        endpoint: str,
        api_key: str,
        *,
        profile: WireProfile,
        throttle: Throttle,
        halt: Halt,
        key_env: str = "EPOPTIA_API_KEY",
        retry: RetryPolicy = RetryPolicy(),
        timeout: float = 120.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        register(api_key)  # whoever made the client, answers that echo the key are redacted (_excerpt)
        self.endpoint = endpoint.rstrip("/")
        self.profile = profile
        self.throttle = throttle
        self.halt = halt
        self.key_env = key_env
        self.retry = retry
        self.sleep = sleep
        self._http = httpx.Client(
            base_url=self.endpoint,
            headers={profile.auth_header: api_key, "Accept": "application/json", "Content-Type": "application/json"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
            follow_redirects=False,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EpoptiaClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ the one request path

    def request(
        self,
        operation: Operation,
        body: Any = None,
        *,
        params: dict[str, Any] | None = None,
        operator_token: str | None = None,
    ) -> Any:
        endpoint = self.profile.endpoint(operation)
        what = f"{endpoint.method} {endpoint.path}"
        headers = {self.profile.operator_header: operator_token} if operator_token else None
        delays = self.retry.delays() if operation in IDEMPOTENT else iter(())
        while True:
            self.halt.check()
            failure: EpoptiaError
            try:
                with self.throttle.slot(write=endpoint.method != "GET"):
                    response = self._http.request(
                        endpoint.method,
                        endpoint.path,
                        params=params,
                        json=body if endpoint.method != "GET" else None,
                        headers=headers,
                    )
                _untie(response)
            except httpx.TimeoutException:
                failure = UnreachableError(
                    f"{what} to {self.endpoint} timed out",
                    hint="Epoptia can take over a minute on heavy calls; run again later, or raise the target's timeout",
                )
            except httpx.TransportError as error:
                failure = UnreachableError(
                    f"cannot reach {self.endpoint} ({what}): {type(error).__name__}: {error}",
                    hint="check the target's endpoint in reconciler.yaml and the network",
                )
            else:
                if response.status_code < 500:
                    return self._result(response, operation, what, bool(operator_token))
                failure = ServerError(
                    f"Epoptia answered HTTP {response.status_code} to {what}: {_excerpt(response)}",
                    hint="Epoptia had a problem; run again later (nothing is lost: the next apply resumes)",
                )
            delay = next(delays, None)
            if delay is None:
                raise failure
            self.sleep(delay)

    def _result(self, response: httpx.Response, operation: Operation, what: str, with_operator: bool) -> Any:
        status = response.status_code
        if 300 <= status < 400:
            raise RedirectedError(
                f"Epoptia answered HTTP {status} to {what}, redirecting to {response.headers.get('location')!r}",
                hint="a redirect usually means a login page or a wrong endpoint; check the target's endpoint "
                "(it must be https://<subdomain>.epoptia.io)",
            )
        if status in (403, 429):
            self.halt.set(status, what, _excerpt(response))
            self.halt.check()  # raises HaltedError with the full explanation
        if status == 401:
            if with_operator or operation in (Operation.OPERATOR_LOGIN, Operation.OPERATOR_LOGOUT):
                raise OperatorTokenError(
                    f"Epoptia refused the operator's {'login' if operation is Operation.OPERATOR_LOGIN else 'token'} "
                    f"for {what}: {_excerpt(response)}",
                    hint="check the operator's username and password"
                    if operation is Operation.OPERATOR_LOGIN
                    else "log in again with `reconciler operator login`; the API key is not the problem",
                )
            if operation is Operation.WORKSTATION_CONTROL:
                # Sent without an operator's token: Epoptia may want one for this action (an action on a
                # line by id is an operator's), so the key is not surely the problem.
                raise KeyRejectedError(
                    f"Epoptia refused {what} ({_excerpt(response)}): either this action needs a logged-in "
                    f"operator, or the API key in ${self.key_env} is wrong or expired",
                    hint="log an operator in with `reconciler operator login` and pass its token with --token "
                    f"(or $EPOPTIA_OPERATOR_TOKEN); if `reconciler doctor` also fails, make a new key at "
                    f"{self._integrations_page()} and put it in ${self.key_env}",
                )
            raise KeyRejectedError(
                f"Epoptia refused the API key in ${self.key_env} ({_excerpt(response)}): it is wrong, or it expired "
                "(keys unused for 60 days expire)",
                hint=f"make a new key at {self._integrations_page()} and put it in ${self.key_env} "
                "(in CI: the repository secret)",
            )
        if status == 400 and _COMMAND_NOT_FOUND.search(response.text):
            raise self._command_not_found(operation, what, response)
        if status >= 400:
            raise RequestRefusedError(f"Epoptia refused {what} with HTTP {status}: {_excerpt(response)}")
        try:
            return response.json()
        except ValueError:
            raise BadResponseError(
                f"Epoptia answered {what} with something that is not JSON: {_excerpt(response)}"
            ) from None

    def _command_not_found(self, operation: Operation, what: str, response: httpx.Response) -> CommandNotFoundError:
        endpoint = self.profile.endpoint(operation)
        assumed = endpoint.grade.value != "confirmed"
        origin = (
            "its path is our assumed default, not confirmed on a live tenant"
            if assumed
            else "its path is confirmed on live tenants, so check the endpoint and API version"
        )
        return CommandNotFoundError(
            f"Epoptia does not know {what} ({operation.value}): {_excerpt(response)}; nothing was written, and "
            f"{origin}",
            operation=operation.value,
            path=endpoint.path,
            hint=f"run `reconciler doctor` to see which operations this tenant answers; set the right path under "
            f"`profile: operations: {operation.value}: {{path: ...}}` in reconciler.yaml, or switch it off with "
            "`enabled: false` so the plan blocks what needs it",
        )

    def _integrations_page(self) -> str:
        return (
            f"{self.endpoint}/integrations"
            if self.endpoint.startswith("https://")
            else "https://<subdomain>.epoptia.io/integrations"
        )

    # ------------------------------------------------------------------ operations

    def lines_page(self, page: int) -> tuple[list[Any], int]:
        """One page of work order lines (1-based), as raw rows, and the number of pages."""
        body = self.request(Operation.LIST_LINES, params={"page": page, "limit": self.profile.page_size})
        if not isinstance(body, dict) or not isinstance(body.get("workorderLines"), list):
            raise BadResponseError(
                "the list of work order lines has no 'workorderLines' list",
                hint="check the target's endpoint; this is the one call confirmed on live tenants",
            )
        try:
            pages = max(1, int(body.get("numberOfPages") or 1))
        except (TypeError, ValueError):
            raise BadResponseError(
                f"the list of work order lines says numberOfPages "
                f"{str(body.get('numberOfPages'))[:40]!r}, which is not a number"
            ) from None
        return body["workorderLines"], pages

    def write(self, operation: Operation, rows: list[dict[str, Any]]) -> list[RowResult]:
        """One write request of at most batch_size rows; its per-row results, in order.

        A profile without a results key takes any 2xx as "sent": the read-back decides.
        """
        envelope = self.profile.endpoint(operation).envelope
        body = self.request(operation, {envelope: rows} if envelope else rows)
        if self.profile.results_key is None:
            return [RowResult(RowOutcome.SENT)] * len(rows)
        results = body.get(self.profile.results_key) if isinstance(body, dict) else None
        if not isinstance(results, list) or len(results) != len(rows):
            raise BadResponseError(
                f"Epoptia's answer to {operation.value} has no per-row '{self.profile.results_key}' list; "
                "the write may have happened: the next apply reads the lines back before doing anything"
            )
        return [parse_row(r) for r in results]

    def workflow_templates(self) -> list[dict[str, Any]]:
        body = self.request(Operation.WORKFLOW_TEMPLATES)
        workflows = body.get("workflows") if isinstance(body, dict) else body
        if not isinstance(workflows, list):
            raise BadResponseError("the workflow templates answer has no list of workflows")
        return workflows

    def control(
        self,
        action: str,
        workstation_id: int,
        *,
        quantity: float | None = None,
        line_id: str | None = None,
        operator_token: str | None = None,
    ) -> dict[str, Any]:
        body = control_body(action, workstation_id, quantity, line_id)
        return self.request(Operation.WORKSTATION_CONTROL, body, operator_token=operator_token)

    def login(self, username: str, password: str) -> str:
        body = self.request(Operation.OPERATOR_LOGIN, {"username": username, "password": password})
        if not isinstance(body, dict) or not body.get("token"):
            raise BadResponseError("the operator login answer has no token")
        return str(body["token"])

    def logout(self, token: str) -> None:
        self.request(Operation.OPERATOR_LOGOUT, operator_token=token)


def _untie(response: httpx.Response) -> None:
    """Let a read response go as soon as it is dropped.

    httpx 0.28 ties each response and its stream in a reference cycle
    (encode/httpx#3733), so a response waits for Python's cyclic collector,
    which a run holding a large plan in memory seldom runs in full: a read-back
    of 100,000 lines kept some 800 pages of 100 KB. The body is read and the
    stream closed by now, so the stream is replaced by an empty one.
    """
    if response.is_closed:
        response.stream = _READ


_READ = httpx.ByteStream(b"")
_COMMAND_NOT_FOUND = re.compile(r"Command `[^`]*` for api version \S+ not found")


def _excerpt(response: httpx.Response, limit: int = 200) -> str:
    try:
        body = response.json()
        text = body.get("error") if isinstance(body, dict) and "error" in body else response.text
    except ValueError:
        text = response.text
    # Hidden before it is cut short or kept: a server (or a proxy in front of it) that echoes the key in
    # its error page would otherwise put a piece of it, which no later redaction recognises, in the
    # message, the halt file and the relay's spool.
    text = " ".join(redact(str(text)).split())
    return text[:limit] + ("..." if len(text) > limit else "") if text else "(empty body)"
