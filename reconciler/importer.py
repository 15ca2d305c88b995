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
from collections import Counter
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .clock import timestamp
from .editor import house_style
from .epoptia.profile import WireProfile
from .epoptia.reading import (
    client_of,
    has_routing,
    is_archived,
    line_id_of,
    line_status,
    observed_line,
    product_of,
    work_order_extras,
    work_order_id_of,
    workflow_name_of,
)
from .errors import ImportRefused
from .load import load_manifests
from .refresh import observe
from .resources import Kind, address
from .state import ResourceState, State


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


def _line(wire: dict[str, Any], templates: set[str], profile: WireProfile) -> dict[str, Any]:
    """A line in manifest form; a routing is its list of steps until shared ones get a name."""
    # The form the import chooses (what the line runs, whether production released it);
    # observed_line reads every other field from the wire, as a refresh does.
    form: dict[str, Any] = {"status": "production"} if line_status(wire) == "production" else {}
    if workflow_name_of(wire) in templates:
        form["workflow"] = None
    elif has_routing(wire):
        form["routing"] = {}
    payload = observed_line(wire, form, profile)
    payload.pop("workorder", None)  # the line is written under its work order
    line: dict[str, Any] = {"id": _int_id(line_id_of(wire)), **payload}
    if isinstance(line.get("target_day"), str):
        try:  # a date, written as a person writes it (unquoted)
            line["target_day"] = dt.date.fromisoformat(line["target_day"])
        except ValueError:
            pass
    if "routing" in line:
        line["routing"] = line["routing"].get("steps", [])
    if is_archived(wire):
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
    lines = [_line(wire, template_names, profile) for wire in wire_lines]
    # Routings used by more than one line become named documents, in order of first use.
    uses = Counter(repr(line["routing"]) for line in lines if "routing" in line)
    routing_names: dict[str, str] = {}
    routings = []
    for line in lines:
        key = repr(line.get("routing"))
        if uses[key] > 1 and key not in routing_names:
            routing_names[key] = name = f"R-{len(routings) + 1:03d}"
            chain = " → ".join(s.get("workstation", "?") for s in line["routing"])
            routings.append({"kind": "Routing", "id": name, "description": chain, "steps": line["routing"]})
        if key in routing_names:
            line["routing"] = routing_names[key]

    clients: dict[str, dict[str, Any]] = {}
    products: dict[str, dict[str, Any]] = {}
    work_orders: dict[str, dict[str, Any]] = {}
    for wire, line in zip(wire_lines, lines):
        client_id, client_name = client_of(wire)
        product_id, product_name, product_code = product_of(wire)
        if client_id is not None:
            clients.setdefault(client_id, {"id": client_id, "name": client_name or client_id})
        if product_id is not None:
            p = {"id": product_id, "name": product_name or product_id}
            if product_code:
                p["code"] = product_code
            products.setdefault(product_id, p)
        wo_id = str(work_order_id_of(wire))
        doc = work_orders.setdefault(wo_id, {"kind": "WorkOrder", "id": wo_id, "client": str(client_id)})
        for key, value in work_order_extras(wire).items():
            doc.setdefault(key, value)
        doc.setdefault("lines", []).append(line)

    yaml = house_style()  # what `reconciler fmt` would write, so imported files pass `fmt --check`

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
    seen_at = timestamp()
    facts = {address(Kind.WORK_ORDER_LINE, line_id_of(w)): observe(w, seen_at) for w in wire_lines}
    resources = {addr: ResourceState.applied(res, facts.get(addr)) for addr, res in desired.resources.items()}
    return State(lineage=lineage, resources=resources)
