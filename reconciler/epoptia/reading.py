"""Inbound: rows of Epoptia's paged list of work order lines, read into our terms.

A line as the list returns it becomes the same canonical payload the manifests
produce, so a line nobody touched compares equal and never shows as drift.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from ..resources import compact
from .profile import WireProfile

ARCHIVED = "archive"
NOT_STARTED = "not_started"


class WireStep(NamedTuple):
    """One routing step as the shop floor reports it."""

    workstation: str | None
    job_task: str | None
    status: str
    qty_done: float


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def tidy(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def auto_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(pattern).replace(re.escape("{n}"), r"(\d+)") + "$")


def is_unnamed(name: Any, pattern: re.Pattern[str], position: int) -> bool:
    match = pattern.match(_text(name))
    return bool(match and int(match.group(1)) == position)


def bom_in(items: Any) -> list[dict[str, Any]]:
    return [compact({"item": b.get("item"), "quantity": tidy(b.get("quantity")), "unit": b.get("unit")})
            for b in items or []]


def fields_in(items: Any) -> dict[str, str]:
    return {str(f.get("name")): _text(f.get("value")) for f in items or []}


def files_in(items: Any) -> list[dict[str, Any]]:
    return [compact({"name": f.get("name"), "url": f.get("path"), "type": f.get("type")}) for f in items or []]


def steps_in(wire: dict[str, Any], profile: WireProfile) -> list[dict[str, Any]]:
    """A line's routing steps in manifest form; names Epoptia made up for unnamed ones are left out."""
    station_auto, task_auto = auto_pattern(profile.auto_workstation_name), auto_pattern(profile.auto_job_task_name)
    steps = []
    for position, s in enumerate(wire.get("erp_routing") or [], start=1):
        station = s.get("workstationName")
        task = (s.get("job_tag") or {}).get("name")
        steps.append(compact({
            "workstation": None if is_unnamed(station, station_auto, position) else station,
            "job_task": None if is_unnamed(task, task_auto, position) else task,
            "bom": bom_in(s.get("bom")),
            "custom_fields": fields_in(s.get("customFields")),
        }))
    return steps


def line_id_of(wire: dict[str, Any]) -> str:
    return str(wire.get("workorderline_id"))


def line_status(wire: dict[str, Any]) -> str:
    return _text(wire.get("production_status"))


def is_archived(wire: dict[str, Any]) -> bool:
    return line_status(wire) == ARCHIVED


def wire_steps(wire: dict[str, Any]) -> tuple[WireStep, ...]:
    return tuple(
        WireStep(workstation=s.get("workstationName"), job_task=(s.get("job_tag") or {}).get("name"),
                 status=_text(s.get("status")) or NOT_STARTED, qty_done=float(s.get("qty_done") or 0))
        for s in wire.get("erp_routing") or []
    )


def observed_line(wire: dict[str, Any], applied: dict[str, Any], profile: WireProfile) -> dict[str, Any]:
    """The canonical payload of a line as Epoptia has it.

    ``applied`` is what we last sent: it says whether the line runs a workflow
    or a routing (Epoptia reports steps for both) and carries what only we know,
    the name of a shared routing. The status is the shop floor's, so it is
    taken from ``applied`` and never reported as drift.
    """
    payload: dict[str, Any] = {
        "product": _text((wire.get("product") or {}).get("id")),
        "quantity": tidy(wire.get("quantity")),
        "code": wire.get("workorderline_code"),
        "description": wire.get("description"),
        "target_day": wire.get("target_day"),
        "status": applied.get("status"),
        "comments": wire.get("comments"),
        "over_under_percentage": tidy(wire.get("overUnderPercentage")),
        "tags": [t.get("name") for t in wire.get("wol_tag") or []],
        "files": files_in(wire.get("files")),
        "bom": bom_in(wire.get("bom")),
        "custom_fields": fields_in(wire.get("customFields")),
        "workorder": _text((wire.get("workorder") or {}).get("id")),
    }
    if "workflow" in applied:
        payload["workflow"] = (wire.get("workflow") or {}).get("name")
    elif "routing" in applied:
        payload["routing"] = compact({"name": applied["routing"].get("name"), "steps": steps_in(wire, profile)})
    return compact(payload)  # files_in and bom_in compact their items already


def observed_work_order(wire: dict[str, Any]) -> dict[str, Any]:
    wo = wire.get("workorder") or {}
    return compact({
        "client": _text((wire.get("client") or {}).get("id")),
        "code": wo.get("code"),
        "comments": wo.get("comments"),
        "files": files_in(wo.get("files")),
    })


def work_order_id_of(wire: dict[str, Any]) -> str | None:
    value = (wire.get("workorder") or {}).get("id")
    return None if value is None else str(value)


def work_order_extras(wire: dict[str, Any]) -> dict[str, Any]:
    """What a list row may carry of its work order besides the id (code, comments, files)."""
    wo = wire.get("workorder") or {}
    return compact({"code": wo.get("code"), "comments": wo.get("comments"), "files": files_in(wo.get("files"))})


def client_of(wire: dict[str, Any]) -> tuple[str | None, str | None]:
    """(id, name) of the line's client, as far as the row says."""
    client = wire.get("client") or {}
    return (None if client.get("id") is None else str(client["id"])), client.get("name")


def product_of(wire: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(id, name, code) of the line's product, as far as the row says."""
    product = wire.get("product") or {}
    return (None if product.get("id") is None else str(product["id"])), product.get("name"), product.get("code")


def workflow_name_of(wire: dict[str, Any]) -> str | None:
    return (wire.get("workflow") or {}).get("name")


def has_routing(wire: dict[str, Any]) -> bool:
    return bool(wire.get("erp_routing"))
