"""The emulator's HTTP face: Epoptia's wire profile over real HTTP, plus /_emulator/.

Routes are not hard-coded: every request under /api/ is matched against the
wire profile the emulator was given, so pointing the profile at other paths
moves the emulator too. Anything under the API prefix that the profile does not
name, or that the options switch off, answers Epoptia's exact 400.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, NamedTuple

from fastapi import FastAPI, Request
from fastapi.responses import (
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)

from ..epoptia.profile import DEFAULT_PROFILE, Operation, WireProfile
from .admin import admin_router
from .bodies import parse_json
from .engine import Epoptia
from .errors import RequestError
from .faults import Faults
from .options import EmulatorOptions, resolve
from .stats import Stats
from .store import Store
from .wire import LineView

JSON_TYPES = ("application/json", "*/*", "application/*")
MAX_PAGE = 10**9  # beyond any tenant; keeps the page's offset inside SQLite's integers
HOLD_STEP = 0.02  # how often a held answer looks whether its client is still there


class CommandNotFound(Exception):
    """A path under the API prefix that this tenant has no command for."""

    def __init__(self, command: str) -> None:
        super().__init__(command)
        self.command = command


class Outcome(NamedTuple):
    """What one API request did: its answer, and the lines it really created (for stats)."""

    answer: Any
    created: tuple[str, ...] = ()


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _dropped(body: bytes) -> StreamingResponse:
    async def stream() -> AsyncIterator[bytes]:
        yield body[: max(1, len(body) // 2)]
        raise ConnectionResetError("emulator fault: connection dropped mid-response")

    return StreamingResponse(stream(), media_type="application/json", headers={"Content-Length": str(len(body))})


def _without_epoptia_ids(answer: Any) -> Any:
    """An answer as a tenant that lists ERP ids gives it: Epoptia's own ids are not shown."""
    hidden = ("epoptia_id", "workorder_epoptia_id")
    if isinstance(answer, list):
        return [_without_epoptia_ids(a) for a in answer]
    if isinstance(answer, dict):
        return {k: v for k, v in answer.items() if k not in hidden}
    return answer


def _page_query(request: Request, page_size: int) -> tuple[int, int]:
    try:
        page = int(request.query_params.get("page", "1"))
        limit = int(request.query_params.get("limit", str(page_size)))
    except ValueError:
        raise RequestError(400, "page and limit must be numbers") from None
    if not 1 <= page <= MAX_PAGE or not 1 <= limit <= 1000:
        raise RequestError(400, "page starts at 1; limit is between 1 and 1000")
    return page, limit


def create_app(
    store: Store,
    profile: WireProfile = DEFAULT_PROFILE,
    api_keys: tuple[str, ...] = (),
    options: EmulatorOptions | None = None,
    **settings: Any,
) -> FastAPI:
    """The emulator as an ASGI app over ``store``.

    ``options`` (or keyword ``settings``, which are EmulatorOptions fields: read_shape, list_ids,
    results, disabled_operations, admin_key) say what kind of tenant it plays.
    """
    options = resolve(options, settings)
    mes = Epoptia(store, profile.auto_workstation_name, profile.auto_job_task_name)
    with store.transaction():
        for key in api_keys:
            mes.add_key(key)
    faults, stats, view = Faults(), Stats(), LineView(store, options)
    prefix = f"/api/{profile.api_version}/"
    routes: dict[tuple[str, str], Operation] = {
        (e.method, e.path): op for op, e in profile.operations.items() if op not in options.disabled_operations
    }
    per_row: dict[Operation, Callable[[Any], dict[str, Any]]] = {
        Operation.UPSERT_LINES: mes.upsert_line,
        Operation.DELETE_LINES: mes.delete,
        Operation.ARCHIVE_LINES: mes.archive,
        Operation.UPSERT_CLIENTS: mes.upsert_client,
        Operation.UPSERT_PRODUCTS: mes.upsert_product,
    }
    app = FastAPI(title="Epoptia emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.mes, app.state.faults, app.state.stats, app.state.options = mes, faults, stats, options

    @app.exception_handler(RequestError)
    async def refused(request: Request, refusal: RequestError) -> Response:
        return error(refusal.status, refusal.message)

    @app.exception_handler(CommandNotFound)
    async def unknown_command(request: Request, unknown: CommandNotFound) -> Response:
        return PlainTextResponse(
            f"Command `{unknown.command}` for api version {profile.api_version} not found", status_code=400
        )

    async def fault_answer() -> Response | None:
        """Faults that answer before anything is read: a blocked IP, a rate limit, latency, a proxy, an overload."""
        refusal = faults.refusal()
        if refusal is not None:
            return error(*refusal)
        if faults.settings.latency_ms:
            await asyncio.sleep(faults.settings.latency_ms / 1000)
        if faults.settings.redirect:
            return Response(status_code=302, headers={"Location": "/login"})
        if faults.fails():
            stats.count("faults_5xx")
            return error(503, "Service Unavailable")
        return None

    def operation_of(request: Request) -> Operation:
        mes.check_key(request.headers.get(profile.auth_header))
        accept = request.headers.get("accept", "*/*")
        if not any(a.strip().split(";")[0] in JSON_TYPES for a in accept.split(",")):
            raise RequestError(406, "only application/json is served")
        path = request.url.path
        operation = routes.get((request.method, path))
        if operation is not None:
            return operation
        if path.startswith(prefix):
            raise CommandNotFound(path[len(prefix) :])
        raise RequestError(404, f"no such API path {path}")

    async def body_of(request: Request) -> Any:
        if request.method != "POST":
            return None
        raw = await request.body()
        content_type = request.headers.get("content-type", "")
        if raw and content_type.split(";")[0].strip() != "application/json":
            raise RequestError(415, "Content-Type must be application/json")
        # Invalid JSON is never parsed, and so never reaches Epoptia's API log.
        return parse_json(raw)

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    async def api(request: Request, rest: str) -> Response:
        stats.count("requests")
        early = await fault_answer()
        if early is not None:
            return early
        operation = operation_of(request)
        body = await body_of(request)
        stats.count(operation.value)
        try:
            with store.transaction():
                outcome = dispatch(operation, request, body)
        except RequestError as refusal:
            if operation is Operation.WORKSTATION_CONTROL:
                with store.transaction():
                    mes.refused_complete(body, refusal)
            raise
        if request.method == "POST":
            await committed(request, outcome)
        payload = json.dumps(outcome.answer, ensure_ascii=False).encode()
        if faults.drops():
            stats.count("faults_dropped")
            return _dropped(payload)
        return Response(payload, media_type="application/json")

    async def committed(request: Request, outcome: Outcome) -> None:
        stats.count("writes_committed")
        stats.created(outcome.created)
        await hold(request, faults.settings.hold_ms / 1000)

    async def hold(request: Request, seconds: float) -> None:
        """Hold a committed write's answer back; a client that is gone (killed) ends the wait."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if await request.is_disconnected():
                return
            await asyncio.sleep(min(HOLD_STEP, left))

    def dispatch(operation: Operation, request: Request, body: Any) -> Outcome:
        if operation in per_row:
            return write_rows(operation, rows_of(body, operation))
        if operation is Operation.LIST_LINES:
            page, limit = _page_query(request, profile.page_size)
            lines, pages = mes.line_page(page, limit, newest_first=faults.settings.reverse_pages)
            return Outcome({"workorderLines": [view.row(line) for line in lines], "numberOfPages": pages})
        if operation is Operation.WORKFLOW_TEMPLATES:
            return Outcome(mes.workflow_templates())
        if operation is Operation.WORKSTATION_CONTROL:
            return Outcome(shown(mes.control(body, request.headers.get(profile.operator_header))))
        if operation is Operation.OPERATOR_LOGIN:
            return Outcome(mes.login(body))
        if operation is Operation.OPERATOR_LOGOUT:
            return Outcome(mes.logout(request.headers.get(profile.operator_header)))
        raise RequestError(400, f"operation {operation.value} is not implemented")

    def rows_of(body: Any, operation: Operation) -> list[Any]:
        envelope = profile.endpoint(operation).envelope
        data = body.get(envelope) if isinstance(body, dict) and envelope else body
        if not isinstance(data, list):
            raise RequestError(400, f'body must be {{"{envelope}": [...]}}')
        return data

    def write_rows(operation: Operation, rows: list[Any]) -> Outcome:
        handle = per_row[operation]
        answers, created = [], []
        for row in rows:
            if operation is Operation.UPSERT_LINES:
                row = faults.mangled(row)
            if faults.loses(row):
                with store.undone():  # answered as if stored, then taken back
                    answers.append(handle(row))
                continue
            answer = handle(row)
            answers.append(answer)
            if operation is Operation.UPSERT_LINES and answer["result"] == "created":
                created.append(answer["id"])
        if options.results == "none":
            return Outcome({"ok": True}, tuple(created))
        return Outcome({profile.results_key: shown(answers)}, tuple(created))

    def shown(answer: Any) -> Any:
        return answer if options.list_ids == "epoptia" else _without_epoptia_ids(answer)

    app.include_router(admin_router(store, mes, faults, stats, options))
    return app
