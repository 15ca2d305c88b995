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


# Assumed field names for clients and products: the public docs list their attributes from the web UI only.
_CLIENT_FIELDS = {
    "type": "kind",
    "email": "email",
    "city": "city",
    "phone": "phone",
    "vat_number": "vat_number",
    "vat_rate": "vat_rate",
    "comments": "comments",
}
_PRODUCT_FIELDS = {"code": "code", "active": "active", "comments": "comments"}


def _owned(payload: dict[str, Any], fields: dict[str, str], previous: dict[str, Any] | None) -> dict[str, Any]:
    """The fields a manifest sets, and "" for those it stopped setting: never a field nobody owns.

    Epoptia leaves a field out of a row unchanged; sending it empty would wipe
    what someone typed in its web UI (a client's phone, a product's comments).
    """
    row = {wire: payload[ours] for ours, wire in fields.items() if ours in payload}
    for ours, wire in fields.items():
        if previous is not None and ours in previous and ours not in payload:
            row[wire] = None if ours == "vat_rate" else ""
    return row


def client_row(erp_id: str, p: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": erp_id, "name": p["name"], **_owned(p, _CLIENT_FIELDS, previous)}


def product_row(
    erp_id: str, p: dict[str, Any], workflows: WorkflowIndex | None, previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    row = {"id": erp_id, "name": p["name"], **_owned(p, _PRODUCT_FIELDS, previous)}
    if p.get("workflow"):
        if workflows is None:
            raise MappingError(f"product {erp_id} names a workflow, but the workflow templates were not read")
        row["workflow_id"] = workflows.resolve(p["workflow"], f"Product/{erp_id}")
    return row


def _custom_fields(fields: dict[str, str] | None) -> list[dict[str, str]]:
    if not fields:
        return []
    return [{"name": k, "value": v} for k, v in fields.items()]


def _files(files: list[dict[str, Any]] | None) -> list[dict[str, str]]:
    return [{"id": "", "name": f["name"], "type": _text(f.get("type")), "path": f["url"]} for f in files or []]


# Our line fields -> (Epoptia's name, how a value goes on the wire, what "nothing" is there).
_LINE_FIELDS: dict[str, tuple[str, Any, Any]] = {
    "code": ("workorderline_code", _text, ""),
    "description": ("description", _text, ""),
    "target_day": ("target_day", _text, ""),
    "comments": ("comments", _text, ""),
    "over_under_percentage": ("overUnderPercentage", lambda v: v, ""),
    "tags": ("wol_tag", lambda tags: [{"id": "", "name": t} for t in tags], []),
    "files": ("files", _files, []),
    "bom": ("bom", lambda v: v, []),
    "custom_fields": ("customFields", _custom_fields, []),
}
_WORK_ORDER_FIELDS: dict[str, tuple[str, Any, Any]] = {
    "code": ("code", _text, ""),
    "comments": ("comments", _text, ""),
    "files": ("files", _files, []),
}


def _owned_fields(
    payload: dict[str, Any], previous: dict[str, Any] | None, fields: dict[str, tuple[str, Any, Any]]
) -> dict[str, Any]:
    """The fields a manifest sets, and "nothing" for those it stopped setting; a field nobody set is left
    out, so Epoptia keeps what someone typed there (its docs: any field may be left out)."""
    row = {}
    for ours, (wire, put, nothing) in fields.items():
        if ours in payload:
            row[wire] = put(payload[ours])
        elif previous is not None and ours in previous:
            row[wire] = nothing
    return row


def line_row(
    line_id: str,
    line: dict[str, Any],
    wo_id: str,
    wo: dict[str, Any],
    *,
    archived: bool,
    workflows: WorkflowIndex | None,
    client_name: str | None = None,
    product_name: str | None = None,
    send_route: bool = True,
    previous: dict[str, Any] | None = None,
    previous_wo: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One line of the upsert body, carrying its work order, as in Epoptia's own example.

    Only owned fields travel: what the manifests set, and "nothing" where they
    stopped setting something (``previous``: the payload last applied). The
    status is sent only when the manifest sets it (or to archive): the shop
    floor runs it otherwise, and a comment edit must never move a released line
    back to standby. Clients and products travel by id and by name, since the
    list knows them by name only. The route (workflow or routing) is sent only
    with ``send_route``, when it is new or changed: resending it would make
    Epoptia build the line a workflow of its own (rule 3), and on a started
    line raise an alarm.
    """
    row: dict[str, Any] = {
        "workorderline_id": line_id,
        "quantity": line.get("quantity"),
        **_owned_fields(line, previous, _LINE_FIELDS),
        "workorder": {"id": wo_id, **_owned_fields(wo, previous_wo, _WORK_ORDER_FIELDS)},
    }
    status = "archive" if archived else line.get("status")
    if status is not None:
        row["production_status"] = status
    # Assumed: how the client, product and BOM ride along is not public.
    if wo.get("client"):
        row["client"] = _named(wo["client"], client_name)
    if line.get("product"):
        row["product"] = _named(line["product"], product_name)
    if not send_route:
        return row
    if line.get("workflow"):
        if workflows is None:
            raise MappingError(f"line {line_id} names a workflow, but the workflow templates were not read")
        row["workflow_id"] = workflows.resolve(line["workflow"], f"WorkOrderLine/{line_id}")
    elif line.get("routing"):
        row["erp_routing"] = [
            {
                "workstationName": _text(s.get("workstation")),
                "job_tasks": [{"name": s["job_task"]}] if s.get("job_task") else [],
                "bom": s.get("bom", []),
                "customFields": _custom_fields(s.get("custom_fields")),
            }
            for s in line["routing"]["steps"]
        ]
    return row


def _named(erp_id: str, name: str | None) -> dict[str, str]:
    return {"id": erp_id, "name": name} if name else {"id": erp_id}


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
