"""The emulator's own implementation of Epoptia's rules (EPOPTIA_API.md).

Written from the documentation, not from the reconciler: it imports nothing from
the planner or its policy, so that end-to-end tests are a second opinion, not
the reconciler agreeing with itself. What the docs leave open is decided here
the way a cautious MES would, and said so in a comment.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from . import rows
from .errors import RequestError, RowError
from .rows import CLIENT_FIELDS, LINE_FIELDS, PRODUCT_FIELDS, WORK_ORDER_FIELDS, Parser
from .store import Store
from .wire import wire_id

KEY_LIFETIME_SECONDS = 60 * 24 * 3600  # an unused key expires after 60 days
NOT_STARTED = "not_started"
ACTIONS = ("start", "pause", "cancel", "complete")
# Epoptia's own ids (list_ids="epoptia"): counters that survive restarts, far from any ERP's numbers.
LINE_IDS = ("next_line_epoptia_id", 4_000_001)
WORK_ORDER_IDS = ("next_workorder_epoptia_id", 8_000_001)
ELEMENT_IDS = ("next_element", 1000)

# Seeded workflow templates, as a factory would have set them up in the web UI.
TEMPLATES = {
    "Διέλαση και Βαφή": ["ΔΙΕΛΑΣΗ", "ΚΟΠΗ ΠΡΟΦΙΛ", "ΒΑΦΕΙΟ", "ΣΥΣΚΕΥΑΣΙΑ"],
    "Διέλαση και Ανοδίωση": ["ΔΙΕΛΑΣΗ", "ΚΟΠΗ ΠΡΟΦΙΛ", "ΑΝΟΔΙΩΣΗ", "ΣΥΣΚΕΥΑΣΙΑ"],
    "Standard Assembly": ["LASER", "ΜΟΝΤΑΖ 1", "ΠΟΙΟΤΙΚΟΣ ΕΛΕΓΧΟΣ"],
}


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


def _started(line: dict[str, Any]) -> bool:
    """A line has started when any step is past not_started or has quantity done."""
    return any(s["status"] != NOT_STARTED or s["qty_done"] > 0 for s in line["steps"])


def _launched(line: dict[str, Any]) -> bool:
    """Launched into production (what forbids deleting): released to production, or started."""
    return line["production_status"] == "production" or _started(line)


def _sequence(steps: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(s["workstation"], s["job_task"]) for s in steps]


@dataclass(frozen=True)
class Route:
    """What a line runs: a workflow template, or its own routing (workflow_id 0 until stored)."""

    workflow_id: int
    source: str  # "template" or "routing"
    steps: list[dict[str, Any]]

    def same_as(self, line: dict[str, Any]) -> bool:
        return (
            self.source == line["source"]
            and _sequence(self.steps) == _sequence(line["steps"])
            and (self.source == "routing" or self.workflow_id == line["workflow_id"])
        )


@dataclass(frozen=True)
class LineRow:
    """One upsert row, parsed and checked against the tenant's clients and products."""

    line_id: str
    wo_id: str
    wo_fields: dict[str, Any]
    client_id: str
    product: dict[str, Any]
    quantity: int
    status: str | None  # None: left out, the line keeps its status
    route: Route | None  # None: left out on an update, the line keeps its route
    fields: dict[str, Any]


# ----------------------------------------------------------------------------- the MES


class Epoptia:
    """One tenant: its data, its rules, its clock."""

    def __init__(self, store: Store, station_name: str = "Workstation {n}", task_name: str = "Job task {n}") -> None:
        self.store = store
        self.clock = Clock(store)
        self.station_name, self.task_name = station_name, task_name
        with self.store.transaction():
            if self.store.meta("seeded") is None:
                self._seed()
            if self.store.meta("epoptia_ids") is None:
                self._number_old_documents()

    def _seed(self) -> None:
        for name, stations in TEMPLATES.items():
            steps = [
                {"workstation": s, "job_task": self.task_name.format(n=i)} for i, s in enumerate(stations, start=1)
            ]
            self.store.add_workflow(name, True, steps)
            for station in stations:
                self.store.workstation_id(station)
        self.store.add_operator("demo", "demo")
        self.store.set_meta("seeded", "1")

    def _number_old_documents(self) -> None:
        # Data files written before Epoptia's own ids existed get them once, in list order.
        for kind, counter in (("line", LINE_IDS), ("workorder", WORK_ORDER_IDS)):
            for doc in self.store.all(kind):
                if "epoptia_id" not in doc:
                    self.store.put(kind, doc["id"], {**doc, "epoptia_id": self.store.next_number(*counter)})
        self.store.set_meta("epoptia_ids", "1")

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

    def line_page(self, page: int, limit: int, *, newest_first: bool = False) -> tuple[list[dict[str, Any]], int]:
        """One page of stored lines and the number of pages."""
        pages = max(1, -(-self.store.count("line") // limit))
        return self.store.page("line", (page - 1) * limit, limit, newest_first=newest_first), pages

    def workflow_templates(self) -> dict[str, Any]:
        return {"workflows": self.store.templates()}

    # ------------------------------------------------------------------ writing lines

    def _alarm(self, line: str | None, text: str) -> str:
        self.store.add_alarm(self.clock.now(), line, text)
        return text

    def _line_answer(self, line: dict[str, Any], result: str, **extra: Any) -> dict[str, Any]:
        wo = self.store.get("workorder", line["workorder_id"]) or {}
        return {
            "id": line["id"],
            "result": result,
            "epoptia_id": line["epoptia_id"],
            "workorder_epoptia_id": wo.get("epoptia_id"),
            **extra,
        }

    def upsert_line(self, row: Any) -> dict[str, Any]:
        return rows.answer(row, ("workorderline_id",), self._upsert_line)

    def _upsert_line(self, row: dict[str, Any]) -> dict[str, Any]:
        line_id = rows.ident(row.get("workorderline_id"), "workorderline_id")
        existing = self.store.get("line", line_id)
        parsed = self._parse_line(row, line_id, existing is not None)
        if existing is None:
            return self._create_line(parsed)
        return self._update_line(existing, parsed)

    def _parse_line(self, row: dict[str, Any], line_id: str, exists: bool) -> LineRow:
        # Required on every upsert, as Epoptia's docs mark them: a row without them is refused, even
        # for a line that exists (requiring them is the cautious side where a real tenant is unknown).
        wo_row = rows.as_object(row.get("workorder"), "workorder")
        wo_id = rows.ident(wo_row.get("id"), "workorder.id")
        client_id = self._known("client", rows.as_object(row.get("client"), "client"))
        product_id = self._known("product", rows.as_object(row.get("product"), "product"))
        quantity = rows.whole_number(row.get("quantity"), "quantity")
        status = rows.line_status(row["production_status"], "production_status") if "production_status" in row else None
        product = self.store.get("product", product_id)
        assert product is not None
        fields = {**rows.given(row, LINE_FIELDS), "product_id": product_id}
        route = self._route(row, product, keep_if_left_out=exists)
        return LineRow(
            line_id, wo_id, rows.given(wo_row, WORK_ORDER_FIELDS), client_id, product, quantity, status, route, fields
        )

    def _known(self, kind: str, ref: dict[str, Any]) -> str:
        """The id of the client or product a row names: by its id, or else by its name.

        Epoptia's own list names clients and products only by name, so a row that names one
        by a name Epoptia knows finds it even when the id is not one Epoptia was given.
        """
        name = ref.get("name")
        if ref.get("id") in (None, "") and name:
            ident = None
        else:
            ident = rows.ident(ref.get("id"), f"{kind}.id")
            if self.store.get(kind, ident) is not None:
                return ident
        if isinstance(name, str) and name:
            matches = [doc["id"] for doc in self.store.all(kind) if doc.get("name") == name]
            if len(matches) == 1:
                return matches[0]
        raise RowError(f"unknown {kind} {ident if ident is not None else name!r}; add it first")

    def _route(self, row: dict[str, Any], product: dict[str, Any], *, keep_if_left_out: bool) -> Route | None:
        """What the row asks the line to run; rule 3 and 4 live here and in _own_workflow."""
        has_routing = row.get("erp_routing") not in (None, "", [])
        has_workflow = row.get("workflow_id") not in (None, "")
        if has_routing and has_workflow:
            raise RowError("erp_routing and workflow_id cannot be used together on one line")
        if has_routing:
            return Route(0, "routing", rows.routing(row["erp_routing"], self.station_name, self.task_name))
        if not has_workflow and keep_if_left_out:
            return None
        workflow_id = (
            rows.whole_number(row["workflow_id"], "workflow_id") if has_workflow else product.get("workflow_id")
        )
        if not workflow_id:
            raise RowError(f"line needs a workflow_id or an erp_routing: product {product['id']!r} has no workflow")
        workflow = self.store.workflow(workflow_id)
        if workflow is None:
            raise RowError(f"unknown workflow_id {workflow_id}")
        steps = [
            {"workstation": s["workstation"], "job_task": s["job_task"], "bom": [], "custom_fields": []}
            for s in workflow["steps"]
        ]
        return Route(workflow_id, "template", steps)

    def _own_workflow(self, line_id: str, route: Route, product: dict[str, Any]) -> int:
        """Rule 3: a routing becomes the line's own workflow, and the product's if it has none yet."""
        workflow_id = self.store.add_workflow(
            f"Line {line_id}",
            False,
            [{"workstation": s["workstation"], "job_task": s["job_task"]} for s in route.steps],
        )
        if not product.get("workflow_id"):
            self.store.put("product", product["id"], {**product, "workflow_id": workflow_id})
        return workflow_id

    def _new_steps(self, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                **s,
                "element_id": self.store.next_number(*ELEMENT_IDS),
                "workstation_id": self.store.workstation_id(s["workstation"]),
                "status": NOT_STARTED,
                "qty_done": 0,
            }
            for s in steps
        ]

    def _run(self, line: dict[str, Any], route: Route, product: dict[str, Any]) -> None:
        """Put ``line`` on ``route``, with fresh steps."""
        workflow_id = self._own_workflow(line["id"], route, product) if route.source == "routing" else route.workflow_id
        line.update(workflow_id=workflow_id, source=route.source, steps=self._new_steps(route.steps))

    def _create_line(self, parsed: LineRow) -> dict[str, Any]:
        wo = self._work_order_for(parsed, None, [])
        assert parsed.route is not None  # _route always gives one for a new line
        line = {
            "id": parsed.line_id,
            "epoptia_id": self.store.next_number(*LINE_IDS),
            "workorder_id": wo["id"],
            "quantity": parsed.quantity,
            "production_status": parsed.status or "standby",
            **rows.cleared(LINE_FIELDS),
            **parsed.fields,
        }
        self._run(line, parsed.route, parsed.product)
        self.store.put("line", line["id"], line)
        return self._line_answer(line, "created")

    def _update_line(self, existing: dict[str, Any], parsed: LineRow) -> dict[str, Any]:
        alarms: list[str] = []
        started = _started(existing)
        wo = self._work_order_for(parsed, existing, alarms)
        line = {**existing, **parsed.fields, "workorder_id": wo["id"]}
        line_id = parsed.line_id
        same_route = parsed.route is None or parsed.route.same_as(existing)
        if started:
            # Rule 1: after the start, client, quantity and workflow do not change; an alarm says so.
            if parsed.quantity != existing["quantity"]:
                alarms.append(
                    self._alarm(
                        line_id,
                        f"Line {line_id} has started in production: change of quantity "
                        f"{existing['quantity']} → {parsed.quantity} was not applied",
                    )
                )
            if not same_route:
                alarms.append(
                    self._alarm(
                        line_id, f"Line {line_id} has started in production: change of workflow/routing was not applied"
                    )
                )
            # The status of a started line belongs to the shop floor, except archiving.
            if parsed.status == "archive":
                line["production_status"] = "archive"
        else:
            line["quantity"] = parsed.quantity
            if parsed.status is not None:
                line["production_status"] = parsed.status
            if not same_route and parsed.route is not None:  # same_route is True when no route was sent
                self._run(line, parsed.route, parsed.product)
        if same_route and parsed.route is not None:
            # Rule 2: BOMs and custom fields change at any time, on the steps too.
            line["steps"] = [
                {**old, "bom": new["bom"], "custom_fields": new["custom_fields"]}
                for old, new in zip(existing["steps"], parsed.route.steps, strict=False)
            ]
        self.store.put("line", line_id, line)
        if alarms:
            return self._line_answer(line, "alarm", alarm="; ".join(alarms))
        return self._line_answer(line, "unchanged" if line == existing else "updated")

    def _work_order_for(self, parsed: LineRow, existing: dict[str, Any] | None, alarms: list[str]) -> dict[str, Any]:
        """The work order the line ends up in, stored, with rule 1 for moves and for the client."""
        line_id = parsed.line_id
        if existing is not None and existing["workorder_id"] != parsed.wo_id:
            if _started(existing):
                alarms.append(
                    self._alarm(
                        line_id,
                        f"Line {line_id} has started in production: move from work order "
                        f"{existing['workorder_id']} to {parsed.wo_id} was not applied",
                    )
                )
                # The row describes the other work order: none of it applies to this one.
                current = self.store.get("workorder", existing["workorder_id"])
                assert current is not None, "a stored line's work order is stored"
                return current
            self._remove_from_work_order(existing)
        wo = self.store.get("workorder", parsed.wo_id) or {
            "id": parsed.wo_id,
            "epoptia_id": self.store.next_number(*WORK_ORDER_IDS),
            "lines": [],
            "client_id": parsed.client_id,
            **rows.cleared(WORK_ORDER_FIELDS),
        }
        if wo["client_id"] != parsed.client_id:
            running = [x for x in wo["lines"] if (d := self.store.get("line", x)) is not None and _started(d)]
            if running:
                alarms.append(
                    self._alarm(
                        line_id,
                        f"Work order {wo['id']} is in production (line {running[0]} has "
                        f"started): change of client {wo['client_id']} → {parsed.client_id} "
                        "was not applied",
                    )
                )
            else:
                wo["client_id"] = parsed.client_id
        wo.update(parsed.wo_fields)
        if line_id not in wo["lines"]:
            wo["lines"].append(line_id)
        self.store.put("workorder", wo["id"], wo)
        return wo

    def _remove_from_work_order(self, line: dict[str, Any]) -> None:
        wo = self.store.get("workorder", line["workorder_id"])
        if wo is not None:
            wo["lines"] = [x for x in wo["lines"] if x != line["id"]]
            self.store.put("workorder", wo["id"], wo)

    # ------------------------------------------------------------------ deleting and archiving

    def delete(self, row: Any) -> dict[str, Any]:
        """A row names a line (workorderline_id) or a whole work order (workorder_id)."""
        return rows.answer(row, ("workorderline_id", "workorder_id"), self._delete)

    def _delete(self, row: dict[str, Any]) -> dict[str, Any]:
        if "workorderline_id" in row:
            return self._delete_line(rows.ident(row["workorderline_id"], "workorderline_id"))
        return self._delete_work_order(rows.ident(row.get("workorder_id"), "workorder_id"))

    def _delete_line(self, line_id: str) -> dict[str, Any]:
        line = self.store.get("line", line_id)
        if line is None:
            return {"id": line_id, "result": "not_found"}
        if _launched(line):
            return self._line_answer(
                line,
                "alarm",
                alarm=self._alarm(
                    line_id, f"Line {line_id} has been launched into production and was not deleted; archive it instead"
                ),
            )
        answer = self._line_answer(line, "deleted")
        self.store.delete("line", line_id)
        self._remove_from_work_order(line)
        return answer

    def _delete_work_order(self, wo_id: str) -> dict[str, Any]:
        wo = self.store.get("workorder", wo_id)
        if wo is None:
            return {"id": wo_id, "result": "not_found"}
        answer = {"id": wo_id, "epoptia_id": wo["epoptia_id"]}
        lines = [d for x in wo["lines"] if (d := self.store.get("line", x)) is not None]
        launched = [d["id"] for d in lines if _launched(d)]
        if launched:
            return {
                **answer,
                "result": "alarm",
                "alarm": self._alarm(
                    launched[0],
                    f"Work order {wo_id} has lines launched into production ({', '.join(launched)}) "
                    "and was not deleted",
                ),
            }
        for d in lines:
            self.store.delete("line", d["id"])
        self.store.delete("workorder", wo_id)
        return {**answer, "result": "deleted"}

    def archive(self, row: Any) -> dict[str, Any]:
        return rows.answer(row, ("workorderline_id",), self._archive)

    def _archive(self, row: dict[str, Any]) -> dict[str, Any]:
        line_id = rows.ident(row.get("workorderline_id"), "workorderline_id")
        line = self.store.get("line", line_id)
        if line is None:
            return {"id": line_id, "result": "not_found"}
        if line["production_status"] == "archive":
            return self._line_answer(line, "unchanged")
        line["production_status"] = "archive"
        self.store.put("line", line_id, line)
        for s in line["steps"]:
            running = self.store.running(s["workstation_id"])
            if running and running[0] == line_id:
                self.store.clear_running(s["workstation_id"])
        return self._line_answer(line, "archived")

    # ------------------------------------------------------------------ clients and products

    def upsert_client(self, row: Any) -> dict[str, Any]:
        return rows.answer(row, ("id",), self._client)

    def _client(self, row: dict[str, Any]) -> dict[str, Any]:
        client_id = rows.ident(row.get("id"), "id")
        doc = {**self._stored_or_new("client", client_id, CLIENT_FIELDS), **rows.given(row, CLIENT_FIELDS)}
        if not doc["name"]:
            raise RowError("name is required")
        return self._put_doc("client", client_id, doc)

    def upsert_product(self, row: Any) -> dict[str, Any]:
        return rows.answer(row, ("id",), self._product)

    def _product(self, row: dict[str, Any]) -> dict[str, Any]:
        product_id = rows.ident(row.get("id"), "id")
        doc = {**self._stored_or_new("product", product_id, PRODUCT_FIELDS), **rows.given(row, PRODUCT_FIELDS)}
        if not doc["name"]:
            raise RowError("name is required")
        if len(doc["name"]) > 150:
            raise RowError("name is longer than 150 characters")
        if doc["workflow_id"] is not None and self.store.workflow(doc["workflow_id"]) is None:
            raise RowError(f"unknown workflow_id {doc['workflow_id']}")
        return self._put_doc("product", product_id, doc)

    def _stored_or_new(self, kind: str, doc_id: str, fields: dict[str, tuple[str, Parser]]) -> dict[str, Any]:
        return self.store.get(kind, doc_id) or {"id": doc_id, **rows.cleared(fields)}

    def _put_doc(self, kind: str, doc_id: str, doc: dict[str, Any]) -> dict[str, Any]:
        existing = self.store.get(kind, doc_id)
        if existing == doc:
            return {"id": doc_id, "result": "unchanged"}
        self.store.put(kind, doc_id, doc)
        return {"id": doc_id, "result": "created" if existing is None else "updated"}

    # ------------------------------------------------------------------ the shop floor

    def login(self, body: Any) -> dict[str, Any]:
        body = body if isinstance(body, dict) else {}
        username, password = body.get("username"), body.get("password")
        if (
            not isinstance(username, str)
            or not isinstance(password, str)
            or not username
            or self.store.operator_password(username) != password
        ):
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
        if not isinstance(action, str) or action not in ACTIONS:
            raise RequestError(400, f"action must be one of {', '.join(ACTIONS)}")
        station = rows.request_value(rows.whole_number, body.get("workstation_id"), "workstation_id")
        if self.store.workstation_name(station) is None:
            raise RequestError(404, f"unknown workstation {station}")
        if body.get("workorderline_id") not in (None, ""):
            line, step = self._named_step(body, station, operator_token)
        else:
            line, step = self._running_step(station)
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
            self._complete(line, step, station, body.get("quantity"))
        self.store.put("line", line["id"], line)
        return {
            "workorderline_id": wire_id(line["id"]),
            "epoptia_id": line["epoptia_id"],
            "elementId": step["element_id"],
            "workstation_id": station,
            "status": step["status"],
            "qty_done": step["qty_done"],
        }

    def _named_step(
        self, body: dict[str, Any], station: int, operator_token: str | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """External software scenario: it names the line, and must be a logged-in operator."""
        if not operator_token or self.store.session(operator_token) is None:
            raise RequestError(401, "an action on a named line needs the Operator-Token of a logged-in operator")
        line_id = rows.request_value(rows.ident, body["workorderline_id"], "workorderline_id")
        line = self.store.get("line", line_id)
        if line is None:
            raise RequestError(404, f"unknown line {line_id}")
        step = next((s for s in line["steps"] if s["workstation_id"] == station and s["status"] != "completed"), None)
        if step is None:
            raise RequestError(409, f"line {line_id} has no open step at workstation {station}")
        return line, step

    def _running_step(self, station: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """Machine scenario: the controller knows only its workstation; the line is the one running there."""
        running = self.store.running(station)
        if running is None:
            raise RequestError(409, f"no line is running at workstation {station}; an operator must start one")
        line = self.store.get("line", running[0])
        step = next((s for s in line["steps"] if s["element_id"] == running[1]), None) if line else None
        if line is None or step is None:
            # Raising rolls the request back, so the stale entry stays until a start replaces it.
            raise RequestError(409, f"no line is running at workstation {station}")
        return line, step

    def _complete(self, line: dict[str, Any], step: dict[str, Any], station: int, value: Any) -> None:
        quantity = rows.request_value(rows.number, value, "quantity")
        if quantity is None or quantity <= 0:
            raise RequestError(400, "complete needs a quantity greater than 0")
        step["qty_done"] = step["qty_done"] + quantity
        step["status"] = "in_progress"
        if step["qty_done"] >= line["quantity"]:
            step["status"] = "completed"
            self.store.clear_running(station)
        self.store.add_completion(self.clock.now(), station, quantity, line["id"])

    def refused_complete(self, body: Any, refusal: RequestError) -> None:
        """A refused complete is still a report the machine sent: recorded, with what refused it.

        Every complete is kept, so a test can check how a controller reports (how often, what
        sums, what it does while nothing runs); values that do not parse are recorded as null.
        """
        if not isinstance(body, dict) or body.get("action") != "complete":
            return
        self.store.add_completion(
            self.clock.now(),
            rows.lenient(rows.whole_number, body.get("workstation_id")),
            rows.lenient(rows.number, body.get("quantity")),
            rows.lenient(rows.ident, body.get("workorderline_id")),
            refusal.message,
        )
