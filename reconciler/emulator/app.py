"""The emulator's HTTP face: Epoptia's wire profile over real HTTP, plus /_emulator/.

Routes are not hard-coded: every request under /api/ is matched against the
wire profile the emulator was given, so pointing the profile at other paths
moves the emulator too. Anything under the API prefix that the profile does not
name answers Epoptia's exact 400.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from ..epoptia.profile import DEFAULT_PROFILE, Operation, WireProfile
from .engine import Epoptia, RequestError
from .store import Store


@dataclass
class Faults:
    """Switches tests flip to make the emulator misbehave the way a real tenant can."""

    latency_ms: float = 0
    error_rate: float = 0  # share of API requests answered 503 before doing anything
    drop_rate: float = 0  # share of API requests whose connection drops mid-response (after the work is done)
    rate_limit: int = 0  # more than this many requests in one second ...
    rate_limit_status: int = 429  # ... answers this; 403 also blocks every later request, like an IP ban
    redirect: bool = False  # answer 302 to a login page, as a proxy in front of a tenant might
    seed: int | None = None
    blocked: bool = False
    rng: random.Random = field(default_factory=random.Random, repr=False)
    recent: deque = field(default_factory=deque, repr=False)

    def public(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("latency_ms", "error_rate", "drop_rate", "rate_limit",
                                               "rate_limit_status", "redirect", "seed", "blocked")}


def create_app(store: Store, profile: WireProfile = DEFAULT_PROFILE, api_keys: tuple[str, ...] = ()) -> FastAPI:
    mes = Epoptia(store, profile.auto_workstation_name, profile.auto_job_task_name)
    for key in api_keys:
        mes.add_key(key)
    faults = Faults()
    stats: Counter[str] = Counter()
    prefix = f"/api/{profile.api_version}/"
    routes = {(e.method, e.path): op for op, e in profile.operations.items()}
    app = FastAPI(title="Epoptia emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.mes = mes
    app.state.faults = faults
    app.state.stats = stats

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    def dropped(body: bytes) -> StreamingResponse:
        async def stream() -> AsyncIterator[bytes]:
            yield body[: max(1, len(body) // 2)]
            raise ConnectionResetError("emulator fault: connection dropped mid-response")

        return StreamingResponse(stream(), media_type="application/json",
                                 headers={"Content-Length": str(len(body))})

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    async def api(request: Request, rest: str) -> Response:
        stats["requests"] += 1
        # Faults first: a blocked IP or an overloaded tenant answers before reading anything.
        if faults.blocked:
            return error(403, "Forbidden: this address is blocked")
        now = time.monotonic()
        faults.recent.append(now)
        while faults.recent and now - faults.recent[0] > 1.0:
            faults.recent.popleft()
        if faults.rate_limit and len(faults.recent) > faults.rate_limit:
            if faults.rate_limit_status == 403:
                faults.blocked = True
                return error(403, "Forbidden: too many requests, this address is blocked")
            return error(429, "Too Many Requests")
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.redirect:
            return Response(status_code=302, headers={"Location": "/login"})
        if faults.error_rate and faults.rng.random() < faults.error_rate:
            stats["faults_5xx"] += 1
            return error(503, "Service Unavailable")

        path = request.url.path
        try:
            mes.check_key(request.headers.get(profile.auth_header))
        except RequestError as refused:
            return error(refused.status, refused.message)
        accept = request.headers.get("accept", "*/*")
        if not any(a.strip().split(";")[0] in ("application/json", "*/*", "application/*") for a in accept.split(",")):
            return error(406, "only application/json is served")
        operation = routes.get((request.method, path))
        if operation is None:
            if path.startswith(prefix):
                command = path[len(prefix):]
                return PlainTextResponse(f"Command `{command}` for api version {profile.api_version} not found",
                                         status_code=400)
            return error(404, f"no such API path {path}")

        body: Any = None
        if request.method == "POST":
            raw = await request.body()
            content_type = request.headers.get("content-type", "")
            if raw and content_type.split(";")[0].strip() != "application/json":
                return error(415, "Content-Type must be application/json")
            try:
                body = json.loads(raw) if raw else None
            except ValueError as bad:
                # Invalid JSON is never parsed, and so never reaches Epoptia's API log.
                return error(400, f"invalid JSON: {bad}")
        stats[operation.value] += 1
        store.begin()
        try:
            result = dispatch(operation, request, body)
            store.commit()
        except RequestError as refused:
            store.rollback()
            return error(refused.status, refused.message)
        except Exception:
            store.rollback()
            raise
        payload = json.dumps(result, ensure_ascii=False).encode()
        if faults.drop_rate and faults.rng.random() < faults.drop_rate:
            stats["faults_dropped"] += 1
            return dropped(payload)
        return Response(payload, media_type="application/json")

    def rows(body: Any, operation: Operation) -> list[Any]:
        envelope = profile.endpoint(operation).envelope
        data = body.get(envelope) if isinstance(body, dict) and envelope else body
        if not isinstance(data, list):
            raise RequestError(400, f"body must be {{\"{envelope}\": [...]}}")
        return data

    def dispatch(operation: Operation, request: Request, body: Any) -> Any:
        results_key = profile.results_key
        if operation is Operation.LIST_LINES:
            try:
                page = int(request.query_params.get("page", "1"))
                limit = int(request.query_params.get("limit", str(profile.page_size)))
            except ValueError:
                raise RequestError(400, "page and limit must be numbers") from None
            if page < 1 or not 1 <= limit <= 1000:
                raise RequestError(400, "page starts at 1; limit is between 1 and 1000")
            return mes.list_lines(page, limit)
        if operation is Operation.WORKFLOW_TEMPLATES:
            return mes.workflow_templates()
        if operation is Operation.UPSERT_LINES:
            return {results_key: mes.upsert_lines(rows(body, operation))}
        if operation is Operation.DELETE_LINES:
            return {results_key: mes.delete_lines(rows(body, operation))}
        if operation is Operation.ARCHIVE_LINES:
            return {results_key: mes.archive_lines(rows(body, operation))}
        if operation is Operation.UPSERT_CLIENTS:
            return {results_key: mes.upsert_clients(rows(body, operation))}
        if operation is Operation.UPSERT_PRODUCTS:
            return {results_key: mes.upsert_products(rows(body, operation))}
        if operation is Operation.WORKSTATION_CONTROL:
            return mes.control(body, request.headers.get(profile.operator_header))
        if operation is Operation.OPERATOR_LOGIN:
            return mes.login(body)
        if operation is Operation.OPERATOR_LOGOUT:
            return mes.logout(request.headers.get(profile.operator_header))
        raise RequestError(400, f"operation {operation.value} is not implemented")

    # ---------------------------------------------------------------- emulator only

    @app.get("/_emulator/alarms")
    async def alarms() -> Any:
        return {"alarms": store.alarms()}

    @app.get("/_emulator/workstations")
    async def workstations() -> Any:
        return {"workstations": store.workstations()}

    @app.get("/_emulator/completions")
    async def completions() -> Any:
        done = store.completions()
        totals: Counter[str] = Counter()
        for c in done:
            totals[str(c["workstation_id"])] += c["quantity"]
        return {"completions": done, "totals": dict(totals)}

    @app.get("/_emulator/stats")
    async def get_stats() -> Any:
        return dict(stats)

    @app.post("/_emulator/stats/reset")
    async def reset_stats() -> Any:
        stats.clear()
        return {}

    @app.post("/_emulator/clock")
    async def clock(request: Request) -> Any:
        body = await request.json()
        store.begin()
        now = mes.clock.advance(float(body.get("advance_seconds", 0)) + 86400 * float(body.get("advance_days", 0)))
        store.commit()
        return {"now": now}

    @app.get("/_emulator/faults")
    async def get_faults() -> Any:
        return faults.public()

    @app.post("/_emulator/faults")
    async def set_faults(request: Request) -> Any:
        body = await request.json()
        fresh = Faults()
        for key, value in body.items():
            if key not in fresh.public() or key == "blocked":
                return error(400, f"unknown fault {key!r}")
            setattr(fresh, key, value)
        fresh.rng = random.Random(fresh.seed)
        for key in fresh.public():
            setattr(faults, key, getattr(fresh, key))
        faults.rng, faults.recent = fresh.rng, deque()
        return faults.public()

    @app.post("/_emulator/operators")
    async def add_operator(request: Request) -> Any:
        body = await request.json()
        store.begin()
        store.add_operator(str(body["username"]), str(body["password"]))
        store.commit()
        return {"username": body["username"]}

    @app.post("/_emulator/keys")
    async def add_key(request: Request) -> Any:
        body = await request.json()
        store.begin()
        mes.add_key(str(body["key"]))
        store.commit()
        return {"added": True}

    return app
