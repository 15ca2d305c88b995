"""Outbound: our normalised payloads as Epoptia's write rows.

The only place (with ``reading``) where Epoptia's field names are spoken. Field
names that are our assumption, not Epoptia's documentation, are marked.
"""

from __future__ import annotations

from typing import Any

from ..errors import MappingError
from .workflows import WorkflowIndex


def _text(value: Any) -> str:
    return "" if value is None else str(value)


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


def archive_row(line_id: str) -> dict[str, Any]:
    return {"workorderline_id": line_id}


def delete_line_row(line_id: str) -> dict[str, Any]:
    return {"workorderline_id": line_id}


def delete_work_order_row(wo_id: str) -> dict[str, Any]:
    # Assumed: the public docs do not say how a work order is named in a delete.
    return {"workorder_id": wo_id}


def control_body(action: str, workstation_id: int, quantity: float | None, line_id: str | None) -> dict[str, Any]:
    # Assumed field names: the docs describe the scenario, not the body.
    body: dict[str, Any] = {"action": action, "workstation_id": workstation_id}
    if quantity is not None:
        body["quantity"] = quantity
    if line_id is not None:
        body["workorderline_id"] = line_id
    return body
