"""Import: bootstrap a manifests repository from what a tenant already has.

Reads every line through the paged GET and writes the manifests a person would
write: clients and products in their own files, one file per work order, and a
routing used by more than one line as a named Routing document. The state it
writes marks everything as managed, with the production facts seen, so the first
plan after an import is empty.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .epoptia.mapping import bom_in, fields_in, files_in, line_id_of, observed_facts, steps_in, tidy
from .epoptia.profile import WireProfile
from .errors import ReconcilerError
from .load import load_manifests
from .resources import Kind, address
from .state import ResourceState, State


class ImportRefused(ReconcilerError):
    """The import would overwrite something, or Epoptia's data cannot be expressed as manifests."""


def _flow(value: Any) -> Any:
    """Short mappings and lists of plain values on one line, as a person writes them."""
    if isinstance(value, dict):
        m = CommentedMap((k, _flow(v)) for k, v in value.items())
        if len(value) <= 3 and all(not isinstance(v, (dict, list)) for v in value.values()):
            m.fa.set_flow_style()
        return m
    if isinstance(value, list):
        s = CommentedSeq(_flow(v) for v in value)
        if all(not isinstance(v, (dict, list)) for v in value):
            s.fa.set_flow_style()
        return s
    return value


def _int_id(erp_id: str) -> Any:
    return int(erp_id) if erp_id.isdigit() and not erp_id.startswith("0") else erp_id


def _line(wire: dict[str, Any], templates: set[str], routing_names: dict[str, str], profile: WireProfile,
          key: str) -> dict[str, Any]:
    line: dict[str, Any] = {"id": _int_id(line_id_of(wire)), "product": str((wire.get("product") or {}).get("id")),
                            "quantity": tidy(wire.get("quantity"))}
    for field, name in (("code", "workorderline_code"), ("description", "description"),
                        ("target_day", "target_day"), ("comments", "comments")):
        if wire.get(name):
            line[field] = wire[name]
    if isinstance(line.get("target_day"), str):
        try:  # a date, written as a person writes it (unquoted)
            line["target_day"] = dt.date.fromisoformat(line["target_day"])
        except ValueError:
            pass
    if wire.get("production_status") == "production":
        line["status"] = "production"
    if wire.get("overUnderPercentage") not in (None, ""):
        line["over_under_percentage"] = tidy(wire["overUnderPercentage"])
    if wire.get("wol_tag"):
        line["tags"] = [t.get("name") for t in wire["wol_tag"]]
    if wire.get("files"):
        line["files"] = files_in(wire["files"])
    if wire.get("bom"):
        line["bom"] = bom_in(wire["bom"])
    if wire.get("customFields"):
        line["custom_fields"] = fields_in(wire["customFields"])
    workflow = (wire.get("workflow") or {}).get("name")
    if workflow in templates:
        line["workflow"] = workflow
    elif wire.get("erp_routing"):
        line["routing"] = routing_names.get(key) or steps_in(wire, profile)
    if wire.get("production_status") == "archive":
        line["archived"] = True
    return line


def _safe_name(erp_id: str) -> str:
    return re.sub(r"[^\w.-]+", "_", erp_id, flags=re.UNICODE).strip("._") or "work-order"


def import_tenant(wire_lines: list[dict[str, Any]], templates: list[dict[str, Any]], profile: WireProfile,
                  out: Path) -> dict[str, int]:
    """Write manifests for ``wire_lines`` under ``out``; returns counts per kind."""
    if out.exists() and any(out.rglob("*.y*ml")):
        raise ImportRefused(f"{out} already holds manifests; import writes into an empty folder",
                           hint="choose a new --out folder, or move the existing manifests away")
    template_names = {str(t.get("name")) for t in templates}
    # Routings used by more than one line become named documents.
    shapes: dict[str, list[dict[str, Any]]] = {}
    uses: dict[str, int] = {}
    for wire in wire_lines:
        if (wire.get("workflow") or {}).get("name") in template_names or not wire.get("erp_routing"):
            continue
        steps = steps_in(wire, profile)
        key = repr(steps)
        shapes[key] = steps
        uses[key] = uses.get(key, 0) + 1
    routing_names = {}
    routings = []
    for key, steps in shapes.items():
        if uses[key] > 1:
            name = f"R-{len(routings) + 1:03d}"
            routing_names[key] = name
            chain = " → ".join(s.get("workstation", "?") for s in steps)
            routings.append({"kind": "Routing", "id": name, "description": chain, "steps": steps})

    clients: dict[str, dict[str, Any]] = {}
    products: dict[str, dict[str, Any]] = {}
    work_orders: dict[str, dict[str, Any]] = {}
    for wire in wire_lines:
        client = wire.get("client") or {}
        product = wire.get("product") or {}
        if client.get("id") is not None:
            clients.setdefault(str(client["id"]), {"id": str(client["id"]), "name": client.get("name") or str(client["id"])})
        if product.get("id") is not None:
            p = {"id": str(product["id"]), "name": product.get("name") or str(product["id"])}
            if product.get("code"):
                p["code"] = product["code"]
            products.setdefault(p["id"], p)
        wo = wire.get("workorder") or {}
        wo_id = str(wo.get("id"))
        doc = work_orders.setdefault(wo_id, {"kind": "WorkOrder", "id": wo_id, "client": str(client.get("id"))})
        for field in ("code", "comments"):
            if wo.get(field) and field not in doc:
                doc[field] = wo[field]
        if wo.get("files") and "files" not in doc:
            doc["files"] = files_in(wo["files"])
        steps_key = repr(steps_in(wire, profile)) if wire.get("erp_routing") else ""
        doc.setdefault("lines", []).append(_line(wire, template_names, routing_names, profile, steps_key))

    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    yaml.allow_unicode = True

    def dump(path: Path, docs: list[dict[str, Any]], header: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(f"# {header}\n")
            yaml.dump_all([_flow(d) for d in docs], fh)

    imported = dt.date.today().isoformat()
    if clients:
        dump(out / "clients.yaml", [{"kind": "Client", "items": list(clients.values())}], f"Clients, imported from Epoptia on {imported}.")
    if products:
        dump(out / "products.yaml", [{"kind": "Product", "items": list(products.values())}], f"Products, imported from Epoptia on {imported}.")
    if routings:
        dump(out / "routings.yaml", routings, "Routings shared by several lines, imported from Epoptia.")
    for wo_id, doc in work_orders.items():
        dump(out / "work-orders" / f"{_safe_name(wo_id)}.yaml", [doc], f"Work order {wo_id}, imported from Epoptia.")
    return {"Client": len(clients), "Product": len(products), "Routing": len(routings),
            "WorkOrder": len(work_orders), "WorkOrderLine": len(wire_lines)}


def managed_state(out: Path, wire_lines: list[dict[str, Any]], lineage: str | None) -> State:
    """The state after an import: everything in the new manifests is managed, as Epoptia has it."""
    desired = load_manifests(out)
    seen_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    facts = {address(Kind.WORK_ORDER_LINE, line_id_of(w)): observed_facts(w, seen_at) for w in wire_lines}
    resources = {addr: ResourceState.applied(res, facts.get(addr)) for addr, res in desired.resources.items()}
    return State(lineage=lineage, resources=resources)
