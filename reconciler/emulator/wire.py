"""How a stored line looks in the paged GET: the confirmed shape by default, the rich one on request.

The confirmed shape is exactly the field list of EPOPTIA_API.md ("What a real tenant's list
looks like"); a test pins it. Anything else we store (ids of clients and products, the
workflow, code, tags, BOMs, files, ...) is shown only with ``read_shape="rich"``, so that
the product cannot come to rely on fields no real tenant is known to return.
"""

from __future__ import annotations

from typing import Any

from .options import EmulatorOptions
from .store import Store

MAX_DATABASE_ID = 2**63 - 1


def wire_id(erp_id: str) -> int | str:
    """An ERP id as a live list shows it: an integer when it is one, else the text.

    Only ids that read back as the same text and fit a database id become integers:
    "²".isdigit() is true but int() refuses it, "007" would lose its zeros, and a
    30-digit number is no database id (and no JSON reader would like it).
    """
    if erp_id.isascii() and erp_id.isdigit() and str(int(erp_id)) == erp_id and int(erp_id) <= MAX_DATABASE_ID:
        return int(erp_id)
    return erp_id


class LineView:
    """Renders stored lines as list rows, in the shape and with the ids the options ask for."""

    def __init__(self, store: Store, options: EmulatorOptions) -> None:
        self.store = store
        self.rich = options.read_shape == "rich"
        self.epoptia_ids = options.list_ids == "epoptia"

    def listed_id(self, doc: dict[str, Any]) -> int | str | None:
        """The id a line or work order is listed under: ours (the ERP's) or Epoptia's own."""
        if not doc:
            return None
        return doc.get("epoptia_id") if self.epoptia_ids else wire_id(doc["id"])

    def row(self, line: dict[str, Any]) -> dict[str, Any]:
        wo = self.store.get("workorder", line["workorder_id"]) or {}
        client = self.store.get("client", wo.get("client_id", "")) or {}
        product = self.store.get("product", line["product_id"]) or {}
        row = self._confirmed(line, wo, client, product)
        if self.rich:
            self._enrich(row, line, wo, client, product)
        return row

    def _confirmed(
        self, line: dict[str, Any], wo: dict[str, Any], client: dict[str, Any], product: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "workorderline_id": self.listed_id(line),
            "description": line["description"],
            "quantity": line["quantity"],
            "target_day": line["target_day"],
            "production_status": line["production_status"],
            "comments": line["comments"],
            "client": {"name": client.get("name")},
            "product": {"name": product.get("name")},
            "customFields": [{"id": i + 1, **cf} for i, cf in enumerate(line["custom_fields"])],
            "erp_routing": [self._step(line["steps"], i) for i in range(len(line["steps"]))],
            "workorder": {"id": self.listed_id(wo)},
        }

    def _step(self, steps: list[dict[str, Any]], i: int) -> dict[str, Any]:
        s = steps[i]
        step = {
            "elementId": s["element_id"],
            "previous": [steps[i - 1]["element_id"]] if i > 0 else [],
            "next": [steps[i + 1]["element_id"]] if i + 1 < len(steps) else [],
            "workstationName": s["workstation"],
            "status": s["status"],
            "job_tag": {"name": s["job_task"]},
            "qty_done": s["qty_done"],
        }
        if self.rich:
            step.update(workstationId=s["workstation_id"], bom=s["bom"], customFields=s["custom_fields"])
        return step

    def _enrich(
        self,
        row: dict[str, Any],
        line: dict[str, Any],
        wo: dict[str, Any],
        client: dict[str, Any],
        product: dict[str, Any],
    ) -> None:
        """The fields no live list is known to return: what the emulator stores, for tests that ask."""
        workflow = self.store.workflow(line["workflow_id"]) if line.get("workflow_id") else None
        row.update(
            workorderline_code=line["code"],
            overUnderPercentage=line["over_under"],
            wol_tag=line["tags"],
            files=line["files"],
            bom=line["bom"],
            workflow={"id": workflow["id"], "name": workflow["name"]} if workflow else None,
        )
        row["client"]["id"] = client.get("id")
        row["product"].update(id=product.get("id"), code=product.get("code"))
        row["workorder"].update(code=wo.get("code"), comments=wo.get("comments"), files=wo.get("files", []))
