"""/_emulator/: what only a test double has. Inspect the database, move the clock, flip faults.

Every route needs the admin key in the X-Emulator-Admin header, so that nothing a client of
the API does (the reconciler included) can reach them by accident. Bodies are validated
models: a bad one answers 400 or 422 with what is wrong, and writes run in a transaction
that a failure rolls back, so one bad request never spoils the next.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from .bodies import parse_json, validated
from .engine import Epoptia
from .errors import RequestError
from .faults import Body, Faults, FaultSettings
from .options import EmulatorOptions
from .stats import Stats
from .store import Store

ADMIN_HEADER = "X-Emulator-Admin"
TEN_YEARS = 3650


class ClockBody(Body):
    """Moves the emulator's clock forward (key expiry, machine report times); it never goes back."""

    advance_seconds: float = Field(0, ge=0, le=TEN_YEARS * 86400)
    advance_days: float = Field(0, ge=0, le=TEN_YEARS)


class OperatorBody(Body):
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(max_length=200)


class KeyBody(Body):
    key: str = Field(min_length=1, max_length=200)


async def _body(request: Request, model: type[Body]) -> Any:
    return validated(model, parse_json(await request.body()))


def admin_router(store: Store, mes: Epoptia, faults: Faults, stats: Stats, options: EmulatorOptions) -> APIRouter:
    expected = options.admin_key.encode()

    def admin_only(request: Request) -> None:
        # compare_digest on bytes: header text is Latin-1 and may hold anything a client sends.
        given = request.headers.get(ADMIN_HEADER, "").encode("utf-8", "replace")
        if not secrets.compare_digest(given, expected):
            raise RequestError(
                401,
                f"emulator admin routes need the {ADMIN_HEADER} header with the admin key "
                "the emulator printed when it started",
            )

    router = APIRouter(prefix="/_emulator", dependencies=[Depends(admin_only)])

    # ---------------------------------------------------------------- the database, as stored

    @router.get("/alarms")
    async def alarms() -> Any:
        return {"alarms": store.alarms()}

    @router.get("/workstations")
    async def workstations() -> Any:
        return {"workstations": store.workstations()}

    @router.get("/clients")
    async def clients() -> Any:
        return {"clients": list(store.all("client"))}

    @router.get("/products")
    async def products() -> Any:
        return {"products": list(store.all("product"))}

    @router.get("/workorders")
    async def workorders() -> Any:
        return {"workorders": list(store.all("workorder"))}

    @router.get("/lines")
    async def lines() -> Any:
        return {"lines": list(store.all("line"))}

    @router.get("/completions")
    async def completions() -> Any:
        return {"completions": store.completions(), "totals": store.completion_totals()}

    # ---------------------------------------------------------------- counters and switches

    @router.get("/stats")
    async def get_stats() -> Any:
        return stats.public()

    @router.post("/stats/reset")
    async def reset_stats() -> Any:
        stats.reset()
        return {}

    @router.get("/faults")
    async def get_faults() -> Any:
        return faults.public()

    @router.post("/faults")
    async def set_faults(request: Request) -> Any:
        faults.replace(await _body(request, FaultSettings))
        return faults.public()

    # ---------------------------------------------------------------- the tenant's world

    @router.post("/clock")
    async def clock(request: Request) -> Any:
        body = await _body(request, ClockBody)
        with store.transaction():
            now = mes.clock.advance(body.advance_seconds + 86400 * body.advance_days)
        return {"now": now}

    @router.post("/operators")
    async def add_operator(request: Request) -> Any:
        body = await _body(request, OperatorBody)
        with store.transaction():
            store.add_operator(body.username, body.password)
        return {"username": body.username}

    @router.post("/keys")
    async def add_key(request: Request) -> Any:
        body = await _body(request, KeyBody)
        with store.transaction():
            mes.add_key(body.key)
        return {"added": True}

    return router
