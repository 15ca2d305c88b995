"""Epoptia's row fields, parsed the way a cautious MES would: every parser takes (value, field) and
gives the value to store, or raises RowError with a message that names the field.

None and "" give a field's cleared value. The field tables say which optional fields each kind of
row has, under which name they are stored, and how they are read.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from .errors import RequestError, RowError

LINE_STATUSES = ("standby", "production", "archive")
CLIENT_KINDS = ("client", "supplier", "both")
# Quantities and ids beyond this are garbage, not factory data; refusing them keeps SQLite's
# 64-bit integers and JSON's doubles exact.
MAX_NUMBER = 10**15
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# What ERPs send for a flag: Epoptia's own example sends every value as a string.
TRUE = (True, 1, "true", "1")
FALSE = (False, 0, "false", "0")


def ident(value: Any, field: str) -> str:
    # Epoptia's own example sends every value as a string; ERPs send numbers too.
    if isinstance(value, bool) or value is None or value == "":
        raise RowError(f"{field} is required")
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        raise RowError(f"{field} must be a string or a number")
    if not value.strip():
        raise RowError(f"{field} is required")
    return value.strip()


def _bounded(value: float, field: str) -> None:
    if not math.isfinite(value) or abs(value) > MAX_NUMBER:
        raise RowError(f"{field} is out of range")


def whole_number(value: Any, field: str, *, positive: bool = True) -> int:
    if isinstance(value, bool):
        raise RowError(f"{field} must be a number")
    if isinstance(value, str):
        value = value.strip()
        try:
            value = float(value) if "." in value else int(value)
        except ValueError:
            raise RowError(f"{field} must be a number, not {value[:40]!r}") from None
    if isinstance(value, float):
        if not value.is_integer():
            raise RowError(f"{field} must be a whole number")
        value = int(value)
    if not isinstance(value, int):
        raise RowError(f"{field} must be a number")
    _bounded(value, field)
    if positive and value <= 0:
        raise RowError(f"{field} must be greater than 0")
    return value


def number(value: Any, field: str) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise RowError(f"{field} must be a number")
    try:
        parsed = float(value)
    except (ValueError, OverflowError):
        raise RowError(f"{field} must be a number, not {str(value)[:40]!r}") from None
    _bounded(parsed, field)
    return int(parsed) if parsed.is_integer() else parsed


def text(value: Any, field: str = "value") -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        raise RowError(f"{field} must be text")
    return str(value)


def day(value: Any, field: str) -> str | None:
    # The docs give target_day as YYYY-MM-DD; anything else would be stored, and listed later, as nonsense.
    given_day = text(value, field).strip()
    if not given_day:
        return None
    try:
        # fromisoformat alone would also take "20261204" and week dates, and store them rewritten.
        if not DAY.fullmatch(given_day):
            raise ValueError
        return dt.date.fromisoformat(given_day).isoformat()
    except ValueError:
        raise RowError(f"{field} must be a date YYYY-MM-DD, not {given_day[:40]!r}") from None


def as_list(value: Any, field: str) -> list[Any]:
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        raise RowError(f"{field} must be a list")
    return value


def as_object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RowError(f"{field} must be an object")
    return value


def custom_fields(value: Any, field: str = "customFields") -> list[dict[str, Any]]:
    out = []
    for item in as_list(value, field):
        item = as_object(item, f"{field}[]")
        name = text(item.get("name"), f"{field}[].name")
        if not name:
            raise RowError("every custom field needs a name")
        out.append({"name": name, "value": text(item.get("value"), f"{field}[].value")})
    return out


def bom(value: Any, field: str = "bom") -> list[dict[str, Any]]:
    out = []
    for item in as_list(value, field):
        item = as_object(item, f"{field}[]")
        name = text(item.get("item"), f"{field}[].item")
        if not name:
            raise RowError("every BOM item needs an item name")
        entry: dict[str, Any] = {"item": name, "quantity": number(item.get("quantity"), "bom quantity")}
        if item.get("unit"):
            entry["unit"] = text(item.get("unit"), f"{field}[].unit")
        out.append(entry)
    return out


def tags(value: Any, field: str) -> list[dict[str, Any]]:
    return [
        {"id": text(t.get("id"), field), "name": text(t.get("name"), field)}
        for t in (as_object(t, f"{field}[]") for t in as_list(value, field))
    ]


def files(value: Any, field: str) -> list[dict[str, Any]]:
    return [
        {key: text(f.get(key), f"{field}[].{key}") for key in ("id", "name", "type", "path")}
        for f in (as_object(f, f"{field}[]") for f in as_list(value, field))
    ]


def line_status(value: Any, field: str) -> str:
    status = text(value, field) or "standby"
    if status not in LINE_STATUSES:
        raise RowError(f"{field} must be one of {', '.join(LINE_STATUSES)}")
    return status


def client_kind(value: Any, field: str) -> str:
    kind = text(value, field) or "client"
    if kind not in CLIENT_KINDS:
        raise RowError(f"{field} must be client, supplier or both")
    return kind


def active(value: Any, field: str) -> bool:
    if value in (None, "") or value in TRUE:
        return True
    if value in FALSE:
        return False
    raise RowError(f"{field} must be true or false")


def workflow_ref(value: Any, field: str) -> int | None:
    return None if value in (None, "") else whole_number(value, field)


Parser = Callable[[Any, str], Any]
# Optional fields: wire name -> (stored name, parser). Partial updates: a field left out of a row
# keeps its stored value, a field sent as "" or null is cleared (the docs say any optional field
# "may be "" or left out"; keeping what was not mentioned is the cautious reading).
LINE_FIELDS: dict[str, tuple[str, Parser]] = {
    "workorderline_code": ("code", text),
    "description": ("description", text),
    "target_day": ("target_day", day),
    "comments": ("comments", text),
    "overUnderPercentage": ("over_under", number),
    "wol_tag": ("tags", tags),
    "files": ("files", files),
    "bom": ("bom", bom),
    "customFields": ("custom_fields", custom_fields),
}
WORK_ORDER_FIELDS: dict[str, tuple[str, Parser]] = {
    "code": ("code", text),
    "comments": ("comments", text),
    "files": ("files", files),
}
CLIENT_FIELDS: dict[str, tuple[str, Parser]] = {
    "name": ("name", text),
    "kind": ("kind", client_kind),
    "email": ("email", text),
    "city": ("city", text),
    "phone": ("phone", text),
    "vat_number": ("vat_number", text),
    "comments": ("comments", text),
    "vat_rate": ("vat_rate", number),
}
PRODUCT_FIELDS: dict[str, tuple[str, Parser]] = {
    "name": ("name", text),
    "code": ("code", text),
    "comments": ("comments", text),
    "active": ("active", active),
    "workflow_id": ("workflow_id", workflow_ref),
}


def given(row: dict[str, Any], fields: dict[str, tuple[str, Parser]]) -> dict[str, Any]:
    """The fields a row mentions, parsed; those it leaves out are not in the answer."""
    return {stored: parse(row[wire], wire) for wire, (stored, parse) in fields.items() if wire in row}


def cleared(fields: dict[str, tuple[str, Parser]]) -> dict[str, Any]:
    """Every field at its cleared value: what a new document starts from."""
    return {stored: parse(None, wire) for wire, (stored, parse) in fields.items()}


def answer(row: Any, id_fields: tuple[str, ...], handler: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """One row's answer; a refused row is answered, never raised, so the others go on."""
    row_id = next((row[f] for f in id_fields if f in row), None) if isinstance(row, dict) else None
    try:
        if not isinstance(row, dict):
            raise RowError("each row must be an object")
        return handler(row)
    except RowError as error:
        return {"id": row_id, "result": "rejected", "reason": str(error)}


def routing(value: Any, station_name: str, task_name: str) -> list[dict[str, Any]]:
    """erp_routing -> steps, with Epoptia's automatic names for what is left unnamed (rule 6)."""
    steps = []
    for step in as_list(value, "erp_routing"):
        step = as_object(step, "erp_routing[]")
        tasks = as_list(step.get("job_tasks"), "job_tasks")
        task = text(as_object(tasks[0], "job_tasks[]").get("name"), "job_tasks[].name") if tasks else ""
        steps.append(
            {
                "workstation": text(step.get("workstationName"), "workstationName") or None,
                "job_task": task or None,
                "bom": bom(step.get("bom"), "erp_routing[].bom"),
                "custom_fields": custom_fields(step.get("customFields"), "erp_routing[].customFields"),
            }
        )
    # Rule 5: a workstation that appears more than once needs a different job task each time.
    seen = Counter((s["workstation"], s["job_task"]) for s in steps if s["workstation"])
    for (station, repeated), n in seen.items():
        if n > 1:
            raise RowError(
                f"workstation {station!r} appears {n} times in the routing with "
                + (f"the same job task {repeated!r}" if repeated else "no job task")
                + "; each occurrence needs a different job task"
            )
    for position, s in enumerate(steps, start=1):
        s["workstation"] = s["workstation"] or station_name.format(n=position)
        s["job_task"] = s["job_task"] or task_name.format(n=position)
    return steps


def lenient(parse: Callable[[Any, str], Any], value: Any) -> Any:
    """``value`` parsed, or None when it does not parse: for records of what was sent, not for rules."""
    try:
        return parse(value, "value")
    except RowError:
        return None


def request_value(parse: Callable[[Any, str], Any], value: Any, field: str) -> Any:
    """A row parser used on a whole request: its refusal refuses the request."""
    try:
        return parse(value, field)
    except RowError as error:
        raise RequestError(400, str(error)) from None
