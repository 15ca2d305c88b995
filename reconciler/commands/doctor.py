"""`reconciler doctor`: check a target the way a careful integrator would, within the throttle.

Reachability, the key, the list of lines (pages, the fields its rows carry, odd
rows), and every other operation of the wire profile, each probed with a
harmless request (an empty ``data`` list, an empty body) that tells Epoptia's
"command not found" from "the command exists". The outcome ends with the
``profile:`` overrides to paste into reconciler.yaml.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..context import Context
from ..epoptia.errors import (
    BadResponseError,
    CommandNotFoundError,
    EpoptiaError,
    HaltedError,
    KeyRejectedError,
    OperatorTokenError,
    RedirectedError,
    RequestRefusedError,
    UnreachableError,
)
from ..epoptia.profile import ALL_FIELDS, CONFIRMED_FIELDS, Operation, WireProfile
from ..epoptia.reading import read_rows
from .hooks import Hooks

if TYPE_CHECKING:  # the HTTP client is imported only by commands that talk to Epoptia
    from ..epoptia.client import EpoptiaClient

# Wire keys of a row and of a step -> the observable field they carry (EPOPTIA_API.md's table).
_ROW_FIELDS = {
    "description": "description",
    "quantity": "quantity",
    "target_day": "target_day",
    "comments": "comments",
    "customFields": "custom_fields",
    "product": "product",
    "workorderline_code": "code",
    "wol_tag": "tags",
    "files": "files",
    "bom": "bom",
    "overUnderPercentage": "over_under_percentage",
    "workflow": "workflow",
    "client": "work_order.client",
}
_STEP_FIELDS = {
    "workstationName": "routing.workstation",
    "job_tag": "routing.job_task",
    "bom": "routing.bom",
    "customFields": "routing.custom_fields",
}
_WORK_ORDER_FIELDS = {
    "id": "workorder",
    "code": "work_order.code",
    "comments": "work_order.comments",
    "files": "work_order.files",
}

# Harmless bodies: nothing for Epoptia to do, but enough for it to say whether the command exists.
_PROBES: dict[Operation, Any] = {
    Operation.UPSERT_LINES: [],
    Operation.DELETE_LINES: [],
    Operation.ARCHIVE_LINES: [],
    Operation.UPSERT_CLIENTS: [],
    Operation.UPSERT_PRODUCTS: [],
    Operation.WORKFLOW_TEMPLATES: None,
    Operation.WORKSTATION_CONTROL: {},
    Operation.OPERATOR_LOGIN: {},
    Operation.OPERATOR_LOGOUT: None,
}


class Finding(str, enum.Enum):
    OK = "ok"
    NOTE = "note"  # works, with something worth knowing
    MISSING = "missing"  # the tenant does not know this operation
    FAILED = "failed"  # cannot go on (unreachable, key refused, halted)


@dataclass(frozen=True)
class Check:
    what: str
    finding: Finding
    detail: str


@dataclass(frozen=True)
class DoctorOutcome:
    checks: tuple[Check, ...]
    overrides: dict[str, Any]  # the profile overrides this target needs, as reconciler.yaml takes them

    @property
    def failed(self) -> bool:
        return any(c.finding is Finding.FAILED for c in self.checks)


def _seen_fields(rows: list[Any]) -> set[str]:
    seen: set[str] = set()
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        seen |= {ours for wire, ours in _ROW_FIELDS.items() if wire in row}
        if isinstance(row.get("workorder"), Mapping):
            seen |= {ours for wire, ours in _WORK_ORDER_FIELDS.items() if wire in row["workorder"]}
        for step in row.get("erp_routing") or []:
            if isinstance(step, Mapping):
                seen |= {ours for wire, ours in _STEP_FIELDS.items() if wire in step}
    return seen & ALL_FIELDS


def _check_list(client: EpoptiaClient, profile: WireProfile, checks: list[Check], overrides: dict[str, Any]) -> None:
    rows, pages = client.lines_page(1)
    lines, problems = read_rows(rows, 1)
    checks.append(
        Check(
            "list of lines", Finding.OK, f"{pages} page(s) of {profile.page_size}; {len(lines)} usable row(s) on page 1"
        )
    )
    if problems:
        checks.append(
            Check(
                "odd rows on page 1",
                Finding.NOTE,
                "; ".join(p.message for p in problems[:5]) + (" ..." if len(problems) > 5 else ""),
            )
        )
    if not lines:
        checks.append(Check("fields the list returns", Finding.NOTE, "no rows to look at yet"))
        return
    seen = _seen_fields(rows)
    extra, missing = sorted(seen - CONFIRMED_FIELDS), sorted(CONFIRMED_FIELDS - seen)
    detail = f"confirmed fields seen: {len(CONFIRMED_FIELDS & seen)} of {len(CONFIRMED_FIELDS)}"
    if missing:
        detail += f"; not seen on page 1: {', '.join(missing)}"
    if extra:
        detail += f"; more than confirmed: {', '.join(extra)}"
    checks.append(Check("fields the list returns", Finding.NOTE if (extra or missing) else Finding.OK, detail))
    if set(extra) - profile.observable:
        overrides["observable"] = sorted(profile.observable | set(extra))


def _probe(
    client: EpoptiaClient, operation: Operation, profile: WireProfile, checks: list[Check], overrides: dict[str, Any]
) -> None:
    endpoint = profile.endpoint(operation)
    what = f"{operation.value} ({endpoint.method} {endpoint.path}, {endpoint.grade.value})"
    body = _PROBES[operation]
    if isinstance(body, list) and endpoint.envelope:
        body = {endpoint.envelope: body}
    try:
        answer = client.request(operation, body)
    except CommandNotFoundError:
        checks.append(
            Check(
                what,
                Finding.MISSING,
                "Epoptia does not know this command; the plan will block what needs it until its path is set",
            )
        )
        overrides.setdefault("operations", {})[operation.value] = {"enabled": False}
        return
    except (OperatorTokenError, RequestRefusedError, BadResponseError) as error:
        # Refusing an empty request is the answer of a command that exists.
        checks.append(Check(what, Finding.OK, f"exists (it refused the empty probe: {error.message[:120]})"))
        return
    checks.append(Check(what, Finding.OK, "exists"))
    results_key = profile.results_key
    if (
        isinstance(body, dict)
        and endpoint.envelope
        and results_key is not None
        and not (isinstance(answer, Mapping) and results_key in answer)
    ):
        checks.append(
            Check(
                f"{operation.value} answer",
                Finding.NOTE,
                f"the answer has no '{results_key}' list; writes will be checked by reading back",
            )
        )
        overrides["results_key"] = None


def doctor(context: Context, hooks: Hooks) -> DoctorOutcome:
    checks: list[Check] = []
    overrides: dict[str, Any] = {}
    profile = context.profile
    try:
        with context.connect() as client:
            try:
                _check_list(client, profile, checks, overrides)
            except CommandNotFoundError as error:
                checks.append(Check("list of lines", Finding.FAILED, error.message))
                return DoctorOutcome(tuple(checks), overrides)
            checks.insert(
                0, Check("endpoint and API key", Finding.OK, f"{context.target.endpoint}: the key is accepted")
            )
            for operation in _PROBES:
                if not profile.endpoint(operation).enabled:
                    checks.append(Check(operation.value, Finding.NOTE, "switched off (enabled: false); not probed"))
                    continue
                _probe(client, operation, profile, checks, overrides)
    except (UnreachableError, KeyRejectedError, RedirectedError, HaltedError) as error:
        checks.append(Check("endpoint and API key", Finding.FAILED, str(error)))
    except EpoptiaError as error:
        checks.append(Check("list of lines", Finding.FAILED, str(error)))
    return DoctorOutcome(tuple(checks), overrides)
