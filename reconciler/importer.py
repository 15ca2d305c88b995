"""Import: bootstrap a manifests repository from what a tenant already has.

From the list of lines (the one read Epoptia is known to answer) it writes the
manifests a person would write: clients and products in their own files (the
list names them only, so their ids are derived from their names), one file per
work order, a routing used by more than one line as a named Routing document,
and lines the list shows without a work order in one clearly named file. What
cannot be written as a valid manifest (a line without quantity or product, a
work order whose client no line names) is left out and listed with its ids,
never written as ``None``.

The files go to a temporary folder first and are moved into place together
with the state, so an import either happens whole or leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .editor import house_style
from .epoptia.listing import TenantLines
from .epoptia.profile import ListIds, WireProfile
from .epoptia.reading import WireLine, auto_pattern, is_unnamed
from .errors import ImportRefused
from .load import load_manifests
from .refresh import observe
from .resources import Kind, address
from .state import ResourceState, State

WITHOUT_WORK_ORDER = "NO-WORK-ORDER"
WITHOUT_WORK_ORDER_FILE = "work-orders/_lines-without-work-order.yaml"


@dataclass
class Imported:
    """The documents to write, by file, and what could not be expressed."""

    files: dict[str, tuple[str, list[dict[str, Any]]]] = field(default_factory=dict)  # path -> (header, documents)
    unexpressed: list[tuple[str, str]] = field(default_factory=list)  # (line id, what could not be written)
    counts: dict[str, int] = field(default_factory=dict)


def derived_id(prefix: str, name: str) -> str:
    """A stable id for a client or product known by name only: the same name gives the same id on every import."""
    return f"{prefix}-{hashlib.blake2b(name.encode(), digest_size=4).hexdigest().upper()}"


def _flow(value: Any) -> Any:
    """Short mappings and lists of plain values on one line, as a person writes them."""
    if isinstance(value, dict):
        m = CommentedMap((k, _flow(v)) for k, v in value.items())
        if len(value) <= 3 and all(
            not isinstance(v, (dict, list)) and not _needs_block(v) and not _needs_block(k) for k, v in value.items()
        ):
            m.fa.set_flow_style()
        return m
    if isinstance(value, list):
        s = CommentedSeq(_flow(v) for v in value)
        if all(not isinstance(v, (dict, list)) and not _needs_block(v) for v in value):
            s.fa.set_flow_style()
        return s
    return value


def _needs_block(value: Any) -> bool:
    # A URL or text with ': ' or flow indicators reads badly (or wrongly) inside { }.
    return isinstance(value, str) and bool(re.search(r"[:{}\[\],#&*!|>'\"%@`]", value))


def _id_value(erp_id: str) -> Any:
    """Ids written as a person writes them: a plain number unquoted, anything else as text."""
    return int(erp_id) if erp_id.isascii() and erp_id.isdigit() and not erp_id.startswith("0") else erp_id


def _valid_day(value: Any) -> str | None:
    try:
        return dt.date.fromisoformat(str(value)).isoformat() if value else None
    except ValueError:
        return None


def _safe_name(erp_id: str) -> str:
    return re.sub(r"[^\w.-]+", "_", erp_id, flags=re.UNICODE).strip("._") or "work-order"


def _steps(line: WireLine, profile: WireProfile) -> list[dict[str, Any]]:
    station_auto, task_auto = auto_pattern(profile.auto_workstation_name), auto_pattern(profile.auto_job_task_name)
    steps = []
    for position, s in enumerate(line.steps, start=1):
        step: dict[str, Any] = {}
        if s.workstation and not is_unnamed(s.workstation, station_auto, position):
            step["workstation"] = s.workstation
        if s.job_task and not is_unnamed(s.job_task, task_auto, position):
            step["job_task"] = s.job_task
        for sub in ("bom", "custom_fields"):
            if s.fields.get(sub):
                step[sub] = s.fields[sub]
        steps.append(step)
    return steps


def _line_document(
    line: WireLine, product: str, templates: set[str], profile: WireProfile, unexpressed: list[tuple[str, str]]
) -> dict[str, Any] | None:
    f = line.fields
    quantity = f.get("quantity")
    if quantity is None:
        unexpressed.append((line.line_id, "the list shows no quantity for it"))
        return None
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
        unexpressed.append((line.line_id, f"its quantity {quantity!r} is not a whole number above 0"))
        return None
    doc: dict[str, Any] = {"id": _id_value(line.line_id), "product": product, "quantity": quantity}
    for key in ("code", "description", "comments"):
        if f.get(key):
            doc[key] = f[key]
    if f.get("target_day") is not None:
        day = _valid_day(f["target_day"])
        if day is None:
            unexpressed.append((line.line_id, f"its due day {f['target_day']!r} is not a date; imported without it"))
        else:
            doc["target_day"] = dt.date.fromisoformat(day)
    for key in ("over_under_percentage", "tags", "files", "bom", "custom_fields"):
        if f.get(key) not in (None, "", [], {}):
            doc[key] = f[key]
    if f.get("workflow") in templates:
        doc["workflow"] = f["workflow"]
    elif line.steps:
        doc["routing"] = _steps(line, profile)
    if line.archived:
        doc["archived"] = True
    return doc


def manifests_from_tenant(
    tenant: TenantLines, templates: list[dict[str, Any]] | None, profile: WireProfile
) -> Imported:
    """The manifests that describe ``tenant``; pure (no files)."""
    imported = Imported()
    template_names = {str(t.get("name")) for t in templates or [] if isinstance(t, dict)}
    clients: dict[str, dict[str, Any]] = {}
    products: dict[str, dict[str, Any]] = {}
    orders: dict[str, dict[str, Any]] = {}
    for line in sorted(tenant.by_id.values(), key=lambda ln: (ln.page, ln.line_id)):
        f = line.fields
        client_name, product_name = f.get("client_name"), f.get("product_name")
        client_id = f.get("client_id") or (derived_id("C", client_name) if client_name else None)
        product_id = f.get("product_id") or (derived_id("P", product_name) if product_name else None)
        if product_id is None:
            imported.unexpressed.append((line.line_id, "the list names no product for it"))
            continue
        products.setdefault(
            product_id,
            {
                "id": product_id,
                "name": product_name or product_id,
                **({"code": f["product_code"]} if f.get("product_code") else {}),
            },
        )
        if client_id is not None:
            clients.setdefault(client_id, {"id": client_id, "name": client_name or client_id})
        if line.work_order_id is not None:
            wo_id, target = line.work_order_id, f"work-orders/{_safe_name(line.work_order_id)}.yaml"
        else:
            wo_id = f"{WITHOUT_WORK_ORDER}-{client_id}" if client_id else WITHOUT_WORK_ORDER
            target = WITHOUT_WORK_ORDER_FILE
        order = orders.setdefault(wo_id, {"doc": {"kind": "WorkOrder", "id": wo_id}, "file": target, "lines": []})
        if client_id is not None and "client" not in order["doc"]:
            order["doc"]["client"] = client_id
        for key in ("code", "comments", "files"):
            value = f.get(f"work_order.{key}")
            if value not in (None, "", []) and key not in order["doc"]:
                order["doc"][key] = value
        doc = _line_document(line, product_id, template_names, profile, imported.unexpressed)
        if doc is not None:
            order["lines"].append(doc)

    # Routings used by more than one line become named documents, in order of first use.
    lines = [doc for order in orders.values() for doc in order["lines"]]
    uses = Counter(repr(doc["routing"]) for doc in lines if isinstance(doc.get("routing"), list))
    routing_names: dict[str, str] = {}
    routings: list[dict[str, Any]] = []
    for doc in lines:
        key = repr(doc.get("routing"))
        if isinstance(doc.get("routing"), list) and uses[key] > 1:
            if key not in routing_names:
                routing_names[key] = name = f"R-{len(routings) + 1:03d}"
                chain = " → ".join(s.get("workstation", "?") for s in doc["routing"])
                routings.append({"kind": "Routing", "id": name, "description": chain, "steps": doc["routing"]})
            doc["routing"] = routing_names[key]

    day = dt.date.today().isoformat()
    if clients:
        imported.files["clients.yaml"] = (
            f"Clients, imported from Epoptia on {day}. Epoptia's list names clients only, so their ids\n"
            "# are derived from their names (the same name gives the same id on every import).",
            [{"kind": "Client", "items": list(clients.values())}],
        )
    if products:
        imported.files["products.yaml"] = (
            f"Products, imported from Epoptia on {day}; ids derived from their names, as for clients.",
            [{"kind": "Product", "items": list(products.values())}],
        )
    if routings:
        imported.files["routings.yaml"] = ("Routings shared by several lines, imported from Epoptia.", routings)
    work_orders = 0
    for wo_id, order in orders.items():
        if not order["lines"]:
            continue
        if "client" not in order["doc"]:
            imported.unexpressed += [
                (str(doc["id"]), f"its work order {wo_id} has no client in Epoptia's list") for doc in order["lines"]
            ]
            continue
        header = (
            f"Work order {wo_id}, imported from Epoptia."
            if not wo_id.startswith(WITHOUT_WORK_ORDER)
            else "Lines Epoptia lists without a work order. Their work order id is ours: editing one of these\n"
            "# lines sends it with this work order id."
        )
        path, (old_header, docs) = order["file"], imported.files.get(order["file"], (header, []))
        imported.files[path] = (old_header, [*docs, {**order["doc"], "lines": order["lines"]}])
        work_orders += 1
    imported.counts = {
        "Client": len(clients),
        "Product": len(products),
        "Routing": len(routings),
        "WorkOrder": work_orders,
        "WorkOrderLine": sum(len(o["lines"]) for o in orders.values() if "client" in o["doc"]),
    }
    return imported


def render_file(header: str, docs: list[dict[str, Any]]) -> str:
    """A file in the house style, as `reconciler fmt` would write it."""
    out = io.StringIO()
    out.write(f"# {header}\n")
    house_style().dump_all([_flow(d) for d in docs], out)
    return out.getvalue()


def managed_state(
    desired_root: Path, tenant: TenantLines, profile: WireProfile, lineage: str | None, observed_at: str
) -> State:
    """The state after an import: everything in the new manifests is managed, as Epoptia has it."""
    desired = load_manifests(desired_root)
    by_line = {address(Kind.WORK_ORDER_LINE, line.line_id): line for line in tenant.by_id.values()}
    epoptia_ids = profile.list_ids is ListIds.EPOPTIA
    resources = {}
    for addr, res in desired.resources.items():
        line = by_line.get(addr)
        entry = ResourceState.applied(res, observe(line, observed_at) if line is not None else None)
        if epoptia_ids and res.kind in (Kind.WORK_ORDER_LINE, Kind.WORK_ORDER):
            entry = entry.model_copy(update={"epoptia_id": res.id})  # the list's ids are Epoptia's own
        resources[addr] = entry
    return State(lineage=lineage, resources=resources)


def write_into_place(imported: Imported, out: Path) -> Path:
    """Write the files into a fresh folder beside ``out``; returns it. Nothing under ``out`` is touched yet."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ImportRefused(
            f"{out} already holds manifests or other files; import writes into a new or empty folder",
            hint="choose a new --out folder, or move the existing manifests away",
        )
    staging = out.parent / f".{out.name}.import-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for rel, (header, docs) in imported.files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render_file(header, docs), encoding="utf-8")
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise ImportRefused(
            f"cannot write the imported manifests next to {out}: {error.strerror}",
            hint="nothing was written; free the disk or fix the folder's permissions",
        ) from None
    return staging
