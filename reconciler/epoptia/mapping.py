"""Our normalised payloads <-> Epoptia's field names, in both directions.

Outbound: payloads become the documented line payload (workorderline_id,
quantity, erp_routing with job_tasks, workflow_id, ...). Inbound: a line as the
paged GET returns it becomes the same canonical payload the manifests produce,
so that a line nobody touched compares equal and never shows as drift. Field
names that are our assumption, not Epoptia's documentation, are marked.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from ..errors import ReconcilerError
from ..resources import compact
from ..state import Observed, StepProgress
from .profile import WireProfile


class MappingError(ReconcilerError):
    """A payload cannot be put on the wire (e.g. a workflow name Epoptia does not know)."""


class WorkflowIndex:
    """Workflow template names -> ids, from Epoptia's template list. Manifests never hold ids."""

    def __init__(self, templates: list[dict[str, Any]]) -> None:
        counts = Counter(str(t.get("name")) for t in templates)
        self.by_name = {str(t.get("name")): int(t["id"]) for t in templates if counts[str(t.get("name"))] == 1}
        self.ambiguous = {name for name, n in counts.items() if n > 1}
        self.by_id = {int(t["id"]): str(t.get("name")) for t in templates}

    def resolve(self, name: str, used_by: str) -> int:
        if name in self.ambiguous:
            raise MappingError(f"workflow {name!r} (used by {used_by}) is ambiguous: Epoptia has several templates "
                               "with that name", hint="rename one of them in Epoptia so each name is unique")
        if name not in self.by_name:
            known = ", ".join(sorted(self.by_name)) or "none"
            raise MappingError(f"workflow {name!r} (used by {used_by}) is not a workflow template in Epoptia",
                               hint=f"templates there: {known}; check the spelling, or create it in Epoptia first")
        return self.by_name[name]


def _text(value: Any) -> str:
    return "" if value is None else str(value)


# ----------------------------------------------------------------------------- outbound


def client_row(erp_id: str, p: dict[str, Any]) -> dict[str, Any]:
    # Assumed field names: the public docs list client attributes from the web UI only.
    return {"id": erp_id, "name": p["name"], "kind": p.get("type", "client"), "email": _text(p.get("email")),
            "city": _text(p.get("city")), "phone": _text(p.get("phone")), "vat_number": _text(p.get("vat_number")),
            "vat_rate": p.get("vat_rate"), "comments": _text(p.get("comments"))}


def product_row(erp_id: str, p: dict[str, Any], workflows: WorkflowIndex | None) -> dict[str, Any]:
    row = {"id": erp_id, "name": p["name"], "code": _text(p.get("code")), "active": p.get("active", True),
           "comments": _text(p.get("comments"))}
    if p.get("workflow"):
        if workflows is None:
            raise MappingError(f"product {erp_id} names a workflow, but the workflow templates were not read")
        row["workflow_id"] = workflows.resolve(p["workflow"], f"Product/{erp_id}")
    return row


def _custom_fields(fields: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in (fields or {}).items()]


def _files(files: list[dict[str, Any]] | None) -> list[dict[str, str]]:
    return [{"id": "", "name": f["name"], "type": _text(f.get("type")), "path": f["url"]} for f in files or []]


def line_row(line_id: str, line: dict[str, Any], wo_id: str, wo: dict[str, Any], *, archived: bool,
             workflows: WorkflowIndex | None) -> dict[str, Any]:
    """One line of the upsert body, carrying its work order, as in Epoptia's own example."""
    row: dict[str, Any] = {
        "workorderline_id": line_id,
        "workorderline_code": _text(line.get("code")),
        "production_status": "archive" if archived else line.get("status", "standby"),
        "description": _text(line.get("description")),
        "quantity": line["quantity"],
        "target_day": _text(line.get("target_day")),
        "comments": _text(line.get("comments")),
        "overUnderPercentage": line.get("over_under_percentage", ""),
        "wol_tag": [{"id": "", "name": t} for t in line.get("tags", [])],
        "files": _files(line.get("files")),
        "workorder": {"id": wo_id, "code": _text(wo.get("code")), "comments": _text(wo.get("comments")),
                      "files": _files(wo.get("files"))},
        # Assumed: how the client, product and BOM ride along is not public.
        "client": {"id": wo["client"]},
        "product": {"id": line["product"]},
        "bom": line.get("bom", []),
        "customFields": _custom_fields(line.get("custom_fields")),
    }
    if line.get("workflow"):
        if workflows is None:
            raise MappingError(f"line {line_id} names a workflow, but the workflow templates were not read")
        row["workflow_id"] = workflows.resolve(line["workflow"], f"WorkOrderLine/{line_id}")
    elif line.get("routing"):
        row["erp_routing"] = [
            {"workstationName": _text(s.get("workstation")),
             "job_tasks": [{"name": s["job_task"]}] if s.get("job_task") else [],
             "bom": s.get("bom", []), "customFields": _custom_fields(s.get("custom_fields"))}
            for s in line["routing"]["steps"]
        ]
    return row


# ----------------------------------------------------------------------------- inbound


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


def observed_facts(wire: dict[str, Any], observed_at: str) -> Observed:
    steps = tuple(
        StepProgress(workstation=s.get("workstationName"), job_task=(s.get("job_tag") or {}).get("name"),
                     status=_text(s.get("status")) or "not_started", qty_done=float(s.get("qty_done") or 0))
        for s in wire.get("erp_routing") or []
    )
    status = _text(wire.get("production_status"))
    return Observed(status=status, started=any(s.status != "not_started" or s.qty_done > 0 for s in steps),
                    archived=status == "archive", steps=steps, observed_at=observed_at)
