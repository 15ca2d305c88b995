"""The emulator's own implementation of Epoptia's rules (EPOPTIA_API.md).

Written from the documentation, not from the reconciler: it imports nothing from
the planner or its policy, so that end-to-end tests are a second opinion, not
the reconciler agreeing with itself. What the docs leave open is decided here
the way a cautious MES would, and said so in a comment.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from typing import Any

from .store import Store

KEY_LIFETIME_SECONDS = 60 * 24 * 3600  # an unused key expires after 60 days
NOT_STARTED = "not_started"
LINE_STATUSES = ("standby", "production", "archive")
ACTIONS = ("start", "pause", "cancel", "complete")

# Seeded workflow templates, as a factory would have set them up in the web UI.
TEMPLATES = {
    "Διέλαση και Βαφή": ["ΔΙΕΛΑΣΗ", "ΚΟΠΗ ΠΡΟΦΙΛ", "ΒΑΦΕΙΟ", "ΣΥΣΚΕΥΑΣΙΑ"],
    "Διέλαση και Ανοδίωση": ["ΔΙΕΛΑΣΗ", "ΚΟΠΗ ΠΡΟΦΙΛ", "ΑΝΟΔΙΩΣΗ", "ΣΥΣΚΕΥΑΣΙΑ"],
    "Standard Assembly": ["LASER", "ΜΟΝΤΑΖ 1", "ΠΟΙΟΤΙΚΟΣ ΕΛΕΓΧΟΣ"],
}


class RowError(Exception):
    """One row of a write is refused; the others go on."""


class RequestError(Exception):
    """The whole request is refused with an HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Clock:
    """Real time plus an offset that tests move forward (stored, so it survives restarts)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def offset(self) -> float:
        return float(self.store.meta("clock_offset", "0") or 0)

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> float:
        self.store.set_meta("clock_offset", str(self.offset + seconds))
        return self.now()


# ----------------------------------------------------------------------------- row parsing


def _ident(value: Any, field: str) -> str:
    # Epoptia's own example sends every value as a string; ERPs send numbers too.
    if isinstance(value, bool) or value is None or value == "":
        raise RowError(f"{field} is required")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    raise RowError(f"{field} must be a string or a number")


def _int(value: Any, field: str, *, positive: bool = True) -> int:
    if isinstance(value, bool):
        raise RowError(f"{field} must be a number")
    if isinstance(value, str):
        value = value.strip()
        try:
            value = float(value) if "." in value else int(value)
        except ValueError:
            raise RowError(f"{field} must be a number, not {value!r}") from None
    if isinstance(value, float):
        if not value.is_integer():
            raise RowError(f"{field} must be a whole number")
        value = int(value)
    if not isinstance(value, int):
        raise RowError(f"{field} must be a number")
    if positive and value <= 0:
        raise RowError(f"{field} must be greater than 0")
    return value


def _number(value: Any, field: str) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise RowError(f"{field} must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RowError(f"{field} must be a number, not {value!r}") from None
    return int(number) if number.is_integer() else number


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        raise RowError("expected text")
    return str(value)


def _list(value: Any, field: str) -> list[Any]:
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        raise RowError(f"{field} must be a list")
    return value


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RowError(f"{field} must be an object")
    return value


def _custom_fields(value: Any) -> list[dict[str, Any]]:
    out = []
    for item in _list(value, "customFields"):
        item = _object(item, "customFields[]")
        name = _text(item.get("name"))
        if not name:
            raise RowError("every custom field needs a name")
        out.append({"name": name, "value": _text(item.get("value"))})
    return out


def _bom(value: Any) -> list[dict[str, Any]]:
    out = []
    for item in _list(value, "bom"):
        item = _object(item, "bom[]")
        name = _text(item.get("item"))
        if not name:
            raise RowError("every BOM item needs an item name")
        entry: dict[str, Any] = {"item": name, "quantity": _number(item.get("quantity"), "bom quantity")}
        if item.get("unit"):
            entry["unit"] = _text(item.get("unit"))
        out.append(entry)
    return out


def _tags(value: Any) -> list[dict[str, Any]]:
    return [{"id": _text(t.get("id")), "name": _text(t.get("name"))} for t in (_object(t, "wol_tag[]") for t in _list(value, "wol_tag"))]


def _files(value: Any) -> list[dict[str, Any]]:
    out = []
    for f in _list(value, "files"):
        f = _object(f, "files[]")
        out.append({"id": _text(f.get("id")), "name": _text(f.get("name")), "type": _text(f.get("type")),
                    "path": _text(f.get("path"))})
    return out


def _routing(value: Any, station_name: str, task_name: str) -> list[dict[str, Any]]:
    """erp_routing -> steps, with Epoptia's automatic names for what is left unnamed (rule 6)."""
    steps = []
    raw = _list(value, "erp_routing")
    if not raw:
        raise RowError("erp_routing needs at least one step")
    for position, step in enumerate(raw, start=1):
        step = _object(step, "erp_routing[]")
        tasks = _list(step.get("job_tasks"), "job_tasks")
        task = _text(_object(tasks[0], "job_tasks[]").get("name")) if tasks else ""
        steps.append({
            "workstation": _text(step.get("workstationName")) or None,
            "job_task": task or None,
            "bom": _bom(step.get("bom")),
            "custom_fields": _custom_fields(step.get("customFields")),
        })
    # Rule 5: a workstation that appears more than once needs a different job task each time.
    seen = Counter((s["workstation"], s["job_task"]) for s in steps if s["workstation"])
    for (station, task), n in seen.items():
        if n > 1:
            raise RowError(
                f"workstation {station!r} appears {n} times in the routing with "
                + (f"the same job task {task!r}" if task else "no job task")
                + "; each occurrence needs a different job task"
            )
    for position, s in enumerate(steps, start=1):
        s["workstation"] = s["workstation"] or station_name.format(n=position)
        s["job_task"] = s["job_task"] or task_name.format(n=position)
    return steps


def _started(line: dict[str, Any]) -> bool:
    """A line has started when any step is past not_started or has quantity done."""
    return any(s["status"] != NOT_STARTED or s["qty_done"] > 0 for s in line["steps"])


def _sequence(steps: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(s["workstation"], s["job_task"]) for s in steps]


def _wire_id(value: str) -> int | str:
    # The live tenant returns integer line ids; ERP ids that are not numbers stay text.
    return int(value) if value.isdigit() else value


# ----------------------------------------------------------------------------- the MES


class Epoptia:
    """One tenant: its data, its rules, its clock."""

    def __init__(self, store: Store, station_name: str = "Workstation {n}", task_name: str = "Job task {n}") -> None:
        self.store = store
        self.clock = Clock(store)
        self.station_name, self.task_name = station_name, task_name
        if self.store.meta("seeded") is None:
            self.store.begin()
            for name, stations in TEMPLATES.items():
                steps = [{"workstation": s, "job_task": task_name.format(n=i)} for i, s in enumerate(stations, start=1)]
                self.store.add_workflow(name, True, steps)
                for station in stations:
                    self.store.workstation_id(station)
            self.store.add_operator("demo", "demo")
            self.store.set_meta("seeded", "1")
            self.store.commit()

    # ------------------------------------------------------------------ keys

    def add_key(self, key: str) -> None:
        self.store.add_key(key, self.clock.now())

    def check_key(self, key: str | None) -> None:
        if not key:
            raise RequestError(401, "missing X-Auth-Token header")
        last_used = self.store.key_last_used(key)
        if last_used is None:
            raise RequestError(401, "API key not recognised")
        now = self.clock.now()
        if now - last_used > KEY_LIFETIME_SECONDS:
            raise RequestError(401, "API key expired: it was not used for 60 days; generate a new one at /integrations")
        self.store.touch_key(key, now)

    # ------------------------------------------------------------------ reading

    def list_lines(self, page: int, limit: int) -> dict[str, Any]:
        total = self.store.count("line")
        pages = max(1, -(-total // limit))
        rows = self.store.page("line", (page - 1) * limit, limit) if page >= 1 else []
        return {"workorderLines": [self._wire_line(r) for r in rows], "numberOfPages": pages}

    def _wire_line(self, line: dict[str, Any]) -> dict[str, Any]:
        wo = self.store.get("workorder", line["workorder_id"]) or {}
        client = self.store.get("client", wo.get("client_id", "")) or {}
        product = self.store.get("product", line["product_id"]) or {}
        workflow = self.store.workflow(line["workflow_id"]) if line.get("workflow_id") else None
        steps = line["steps"]
        routing = []
        for i, s in enumerate(steps):
            routing.append({
                "elementId": s["element_id"],
                "previous": [steps[i - 1]["element_id"]] if i > 0 else [],
                "next": [steps[i + 1]["element_id"]] if i + 1 < len(steps) else [],
                "workstationId": s["workstation_id"],
                "workstationName": s["workstation"],
                "status": s["status"],
                "job_tag": {"name": s["job_task"]},
                "qty_done": s["qty_done"],
                "bom": s["bom"],
                "customFields": s["custom_fields"],
            })
        return {
            "workorderline_id": _wire_id(line["id"]),
            "workorderline_code": line["code"],
            "description": line["description"],
            "quantity": line["quantity"],
            "target_day": line["target_day"],
            "production_status": line["production_status"],
            "comments": line["comments"],
            "overUnderPercentage": line["over_under"],
            "wol_tag": line["tags"],
            "files": line["files"],
            "bom": line["bom"],
            "client": {"id": client.get("id"), "name": client.get("name")},
            "product": {"id": product.get("id"), "name": product.get("name"), "code": product.get("code")},
            "customFields": [{"id": i + 1, **cf} for i, cf in enumerate(line["custom_fields"])],
            "workflow": {"id": workflow["id"], "name": workflow["name"]} if workflow else None,
            "erp_routing": routing,
            "workorder": {"id": wo.get("id"), "code": wo.get("code"), "comments": wo.get("comments"),
                          "files": wo.get("files", [])},
        }

    def workflow_templates(self) -> dict[str, Any]:
        return {"workflows": self.store.templates()}

    # ------------------------------------------------------------------ writing

    def _alarm(self, line: str | None, text: str) -> str:
        self.store.add_alarm(self.clock.now(), line, text)
        return text

    def upsert_lines(self, rows: list[Any]) -> list[dict[str, Any]]:
        return [self._row(row, "workorderline_id", self._upsert_line) for row in rows]

    def _row(self, row: Any, id_field: str, handler) -> dict[str, Any]:
        ident = row.get(id_field) if isinstance(row, dict) else None
        try:
            if not isinstance(row, dict):
                raise RowError("each row must be an object")
            return handler(row)
        except RowError as error:
            return {"id": ident, "result": "rejected", "reason": str(error)}

    def _steps_for(self, row: dict[str, Any], product: dict[str, Any]) -> tuple[int, str, list[dict[str, Any]]]:
        """(workflow id, source, steps) for a line row; rule 3 and 4 live here."""
        has_routing = row.get("erp_routing") not in (None, "", [])
        has_workflow = row.get("workflow_id") not in (None, "")
        if has_routing and has_workflow:
            raise RowError("erp_routing and workflow_id cannot be used together on one line")
        if has_routing:
            return 0, "routing", _routing(row["erp_routing"], self.station_name, self.task_name)
        workflow_id = _int(row["workflow_id"], "workflow_id") if has_workflow else product.get("workflow_id")
        if not workflow_id:
            raise RowError(f"line needs a workflow_id or an erp_routing: product {product['id']!r} has no workflow")
        workflow = self.store.workflow(workflow_id)
        if workflow is None:
            raise RowError(f"unknown workflow_id {workflow_id}")
        steps = [{"workstation": s["workstation"], "job_task": s["job_task"], "bom": [], "custom_fields": []}
                 for s in workflow["steps"]]
        return workflow_id, "template", steps

    def _new_steps(self, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for s in steps:
            element = int(self.store.meta("next_element", "1000") or 1000)
            self.store.set_meta("next_element", str(element + 1))
            out.append({**s, "element_id": element, "workstation_id": self.store.workstation_id(s["workstation"]),
                        "status": NOT_STARTED, "qty_done": 0})
        return out

    def _upsert_line(self, row: dict[str, Any]) -> dict[str, Any]:
        line_id = _ident(row.get("workorderline_id"), "workorderline_id")
        wo_row = _object(row.get("workorder"), "workorder")
        wo_id = _ident(wo_row.get("id"), "workorder.id")
        client_id = _ident(_object(row.get("client"), "client").get("id"), "client.id")
        product_id = _ident(_object(row.get("product"), "product").get("id"), "product.id")
        quantity = _int(row.get("quantity"), "quantity")
        status = _text(row.get("production_status")) or "standby"
        if status not in LINE_STATUSES:
            raise RowError(f"production_status must be one of {', '.join(LINE_STATUSES)}")
        client = self.store.get("client", client_id)
        if client is None:
            raise RowError(f"unknown client {client_id!r}; add it first")
        product = self.store.get("product", product_id)
        if product is None:
            raise RowError(f"unknown product {product_id!r}; add it first")
        workflow_id, source, steps = self._steps_for(row, product)
        fields = {
            "code": _text(row.get("workorderline_code")),
            "description": _text(row.get("description")),
            "target_day": _text(row.get("target_day")) or None,
            "comments": _text(row.get("comments")),
            "over_under": _number(row.get("overUnderPercentage"), "overUnderPercentage"),
            "tags": _tags(row.get("wol_tag")),
            "files": _files(row.get("files")),
            "bom": _bom(row.get("bom")),
            "custom_fields": _custom_fields(row.get("customFields")),
            "product_id": product_id,
        }
        alarms: list[str] = []
        existing = self.store.get("line", line_id)
        started = existing is not None and _started(existing)

        # The work order, with rule 1 for its client.
        wo = self.store.get("workorder", wo_id) or {"id": wo_id, "lines": [], "client_id": client_id}
        if existing is not None and existing["workorder_id"] != wo_id:
            if started:
                alarms.append(self._alarm(line_id, f"Line {line_id} has started in production: move from work order "
                                                   f"{existing['workorder_id']} to {wo_id} was not applied"))
                wo = self.store.get("workorder", existing["workorder_id"])
            else:
                old = self.store.get("workorder", existing["workorder_id"])
                if old is not None:
                    old["lines"] = [x for x in old["lines"] if x != line_id]
                    self.store.put("workorder", old["id"], old)
        if wo["client_id"] != client_id:
            running = [x for x in wo["lines"] if (d := self.store.get("line", x)) is not None and _started(d)]
            if running:
                alarms.append(self._alarm(line_id, f"Work order {wo['id']} is in production (line {running[0]} has "
                                                   f"started): change of client {wo['client_id']} → {client_id} was not applied"))
            else:
                wo["client_id"] = client_id
        wo.update(code=_text(wo_row.get("code")), comments=_text(wo_row.get("comments")), files=_files(wo_row.get("files")))
        if line_id not in wo["lines"]:
            wo["lines"].append(line_id)
        self.store.put("workorder", wo["id"], wo)

        if existing is None:
            if source == "routing":
                workflow_id = self.store.add_workflow(f"Line {line_id}", False,
                                                      [{"workstation": s["workstation"], "job_task": s["job_task"]} for s in steps])
                if not product.get("workflow_id"):  # rule 3: the first routing becomes the product's workflow
                    product["workflow_id"] = workflow_id
                    self.store.put("product", product_id, product)
            line = {"id": line_id, "workorder_id": wo["id"], "quantity": quantity, "production_status": status,
                    "workflow_id": workflow_id, "source": source, "steps": self._new_steps(steps), **fields}
            self.store.put("line", line_id, line)
            return {"id": line_id, "result": "created"}

        line = dict(existing)
        line.update(fields)
        same_route = (source == existing["source"] and _sequence(steps) == _sequence(existing["steps"])
                      and (source == "routing" or workflow_id == existing["workflow_id"]))
        if started:
            # Rule 1: after the start, client, quantity and workflow do not change; an alarm says so.
            if quantity != existing["quantity"]:
                alarms.append(self._alarm(line_id, f"Line {line_id} has started in production: change of quantity "
                                                   f"{existing['quantity']} → {quantity} was not applied"))
            if not same_route:
                alarms.append(self._alarm(line_id, f"Line {line_id} has started in production: change of "
                                                   "workflow/routing was not applied"))
            # The status of a started line belongs to the shop floor, except archiving.
            line["production_status"] = "archive" if status == "archive" else existing["production_status"]
        else:
            line["quantity"] = quantity
            line["production_status"] = status
            if not same_route:
                if source == "routing":
                    workflow_id = self.store.add_workflow(f"Line {line_id}", False,
                                                          [{"workstation": s["workstation"], "job_task": s["job_task"]} for s in steps])
                line.update(workflow_id=workflow_id, source=source, steps=self._new_steps(steps))
        if same_route:
            # Rule 2: BOMs and custom fields change at any time, on the steps too.
            line["steps"] = [{**old, "bom": new["bom"], "custom_fields": new["custom_fields"]}
                             for old, new in zip(existing["steps"], steps)]
        line["workorder_id"] = wo["id"]
        self.store.put("line", line_id, line)
        if alarms:
            return {"id": line_id, "result": "alarm", "alarm": "; ".join(alarms)}
        return {"id": line_id, "result": "unchanged" if line == existing else "updated"}

    def delete_lines(self, rows: list[Any]) -> list[dict[str, Any]]:
        return [self._row(row, "workorderline_id" if isinstance(row, dict) and "workorderline_id" in row else "workorder_id",
                          self._delete) for row in rows]

    def _delete(self, row: dict[str, Any]) -> dict[str, Any]:
        if "workorderline_id" in row:
            line_id = _ident(row["workorderline_id"], "workorderline_id")
            line = self.store.get("line", line_id)
            if line is None:
                return {"id": line_id, "result": "not_found"}
            if _started(line):
                return {"id": line_id, "result": "alarm", "alarm": self._alarm(
                    line_id, f"Line {line_id} has been launched into production and was not deleted; archive it instead")}
            self.store.delete("line", line_id)
            wo = self.store.get("workorder", line["workorder_id"])
            if wo is not None:
                wo["lines"] = [x for x in wo["lines"] if x != line_id]
                self.store.put("workorder", wo["id"], wo)
            return {"id": line_id, "result": "deleted"}
        wo_id = _ident(row.get("workorder_id"), "workorder_id")
        wo = self.store.get("workorder", wo_id)
        if wo is None:
            return {"id": wo_id, "result": "not_found"}
        lines = [d for x in wo["lines"] if (d := self.store.get("line", x)) is not None]
        started = [d["id"] for d in lines if _started(d)]
        if started:
            return {"id": wo_id, "result": "alarm", "alarm": self._alarm(
                started[0], f"Work order {wo_id} has lines launched into production ({', '.join(started)}) and was not deleted")}
        for d in lines:
            self.store.delete("line", d["id"])
        self.store.delete("workorder", wo_id)
        return {"id": wo_id, "result": "deleted"}

    def archive_lines(self, rows: list[Any]) -> list[dict[str, Any]]:
        return [self._row(row, "workorderline_id", self._archive) for row in rows]

    def _archive(self, row: dict[str, Any]) -> dict[str, Any]:
        line_id = _ident(row.get("workorderline_id"), "workorderline_id")
        line = self.store.get("line", line_id)
        if line is None:
            return {"id": line_id, "result": "not_found"}
        if line["production_status"] == "archive":
            return {"id": line_id, "result": "unchanged"}
        line["production_status"] = "archive"
        self.store.put("line", line_id, line)
        for s in line["steps"]:
            running = self.store.running(s["workstation_id"])
            if running and running[0] == line_id:
                self.store.clear_running(s["workstation_id"])
        return {"id": line_id, "result": "archived"}

    def upsert_clients(self, rows: list[Any]) -> list[dict[str, Any]]:
        return [self._row(row, "id", self._client) for row in rows]

    def _client(self, row: dict[str, Any]) -> dict[str, Any]:
        client_id = _ident(row.get("id"), "id")
        name = _text(row.get("name"))
        if not name:
            raise RowError("name is required")
        kind = _text(row.get("kind")) or "client"
        if kind not in ("client", "supplier", "both"):
            raise RowError("kind must be client, supplier or both")
        doc = {"id": client_id, "name": name, "kind": kind,
               **{f: _text(row.get(f)) for f in ("email", "city", "phone", "vat_number", "comments")},
               "vat_rate": _number(row.get("vat_rate"), "vat_rate")}
        return self._put_doc("client", client_id, doc)

    def upsert_products(self, rows: list[Any]) -> list[dict[str, Any]]:
        return [self._row(row, "id", self._product) for row in rows]

    def _product(self, row: dict[str, Any]) -> dict[str, Any]:
        product_id = _ident(row.get("id"), "id")
        name = _text(row.get("name"))
        if not name:
            raise RowError("name is required")
        if len(name) > 150:
            raise RowError("name is longer than 150 characters")
        workflow_id = _int(row["workflow_id"], "workflow_id") if row.get("workflow_id") not in (None, "") else None
        if workflow_id is not None and self.store.workflow(workflow_id) is None:
            raise RowError(f"unknown workflow_id {workflow_id}")
        existing = self.store.get("product", product_id) or {}
        active = row.get("active", True)
        doc = {"id": product_id, "name": name, "code": _text(row.get("code")), "comments": _text(row.get("comments")),
               "active": active not in (False, "false", "0", 0),
               "workflow_id": workflow_id or existing.get("workflow_id")}
        return self._put_doc("product", product_id, doc)

    def _put_doc(self, kind: str, doc_id: str, doc: dict[str, Any]) -> dict[str, Any]:
        existing = self.store.get(kind, doc_id)
        if existing == doc:
            return {"id": doc_id, "result": "unchanged"}
        self.store.put(kind, doc_id, doc)
        return {"id": doc_id, "result": "created" if existing is None else "updated"}

    # ------------------------------------------------------------------ the shop floor

    def login(self, body: Any) -> dict[str, Any]:
        body = body if isinstance(body, dict) else {}
        username, password = _text(body.get("username")), _text(body.get("password"))
        if not username or self.store.operator_password(username) != password:
            raise RequestError(401, "operator login failed: wrong username or password")
        token = uuid.uuid4().hex
        self.store.add_session(token, username)
        return {"token": token, "operator": username}

    def logout(self, token: str | None) -> dict[str, Any]:
        if not token or not self.store.end_session(token):
            raise RequestError(401, "no operator session for this Operator-Token")
        return {"result": "logged_out"}

    def control(self, body: Any, operator_token: str | None) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise RequestError(400, "body must be an object with action and workstation_id")
        action = body.get("action")
        if action not in ACTIONS:
            raise RequestError(400, f"action must be one of {', '.join(ACTIONS)}")
        try:
            station = _int(body.get("workstation_id"), "workstation_id")
        except RowError as error:
            raise RequestError(400, str(error)) from None
        if self.store.workstation_name(station) is None:
            raise RequestError(404, f"unknown workstation {station}")
        if body.get("workorderline_id") not in (None, ""):
            # External software scenario: it names the line, and must be a logged-in operator.
            if not operator_token or self.store.session(operator_token) is None:
                raise RequestError(401, "an action on a named line needs the Operator-Token of a logged-in operator")
            line_id = str(body["workorderline_id"])
            line = self.store.get("line", line_id)
            if line is None:
                raise RequestError(404, f"unknown line {line_id}")
            step = next((s for s in line["steps"] if s["workstation_id"] == station and s["status"] != "completed"), None)
            if step is None:
                raise RequestError(409, f"line {line_id} has no open step at workstation {station}")
        else:
            # Machine scenario: the controller knows only its workstation; the line is the one running there.
            running = self.store.running(station)
            if running is None:
                raise RequestError(409, f"no line is running at workstation {station}; an operator must start one")
            line = self.store.get("line", running[0])
            step = next((s for s in line["steps"] if s["element_id"] == running[1]), None) if line else None
            if line is None or step is None:
                self.store.clear_running(station)
                raise RequestError(409, f"no line is running at workstation {station}")
        if line["production_status"] == "archive":
            raise RequestError(409, f"line {line['id']} is archived")

        if action == "start":
            step["status"] = "started" if step["qty_done"] == 0 else "in_progress"
            line["production_status"] = "production"
            self.store.set_running(station, line["id"], step["element_id"])
        elif action == "pause":
            step["status"] = "paused"
        elif action == "cancel":
            step["status"] = NOT_STARTED if step["qty_done"] == 0 else "paused"
            self.store.clear_running(station)
        else:
            try:
                quantity = _number(body.get("quantity"), "quantity")
            except RowError as error:
                raise RequestError(400, str(error)) from None
            if quantity is None or quantity <= 0:
                raise RequestError(400, "complete needs a quantity greater than 0")
            step["qty_done"] = step["qty_done"] + quantity
            self.store.add_completion(station, quantity, line["id"], self.clock.now())
            step["status"] = "in_progress"
            if step["qty_done"] >= line["quantity"]:
                step["status"] = "completed"
                self.store.clear_running(station)
        self.store.put("line", line["id"], line)
        return {"workorderline_id": _wire_id(line["id"]), "elementId": step["element_id"], "workstation_id": station,
                "status": step["status"], "qty_done": step["qty_done"]}
