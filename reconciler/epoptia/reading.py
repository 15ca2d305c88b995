"""Inbound: rows of Epoptia's paged list of work order lines, read defensively into our terms.

A live tenant's list is untidy (EPOPTIA_API.md, "What a real tenant's list looks
like"): null entries, the same line twice, dates with a time, statuses beyond
the documented three, rows without client or product, steps that are not
objects. ``read_rows`` never fails on any of that: a row it cannot use becomes a
``RowProblem`` with what is known of it, and every other row a ``WireLine``.

``observed_line`` then lays what a row shows over what we last applied, field
by field and only for the fields the target's list returns (the profile's
observable set): a field the list does not return keeps its applied value, so
it can never show as drift, a read-back failure or a blocked change.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Mapping
from typing import Any, NamedTuple

from ..resources import compact
from .profile import WireProfile

ARCHIVED = "archive"
STANDBY = "standby"
NOT_STARTED = "not_started"


class WireStep(NamedTuple):
    """One routing step as the shop floor reports it, and what it names."""

    workstation: str | None
    job_task: str | None
    status: str
    qty_done: float
    fields: dict[str, Any]  # bom / custom_fields in our terms, where the row carries them
    element_id: int | None = None  # Epoptia's id of the step (confirmed), None if the row lacks it


class WireLine(NamedTuple):
    """One usable row of the list."""

    line_id: str  # workorderline_id as text (ERP or Epoptia id, as the profile says)
    work_order_id: str | None
    status: str  # production_status (or status); "" when the row has none
    steps: tuple[WireStep, ...]
    fields: dict[str, Any]  # what the row carries, in our terms; a key is present only if the row had it
    page: int  # where it was read, 1-based (0: not from a page)

    @property
    def archived(self) -> bool:
        return self.status == ARCHIVED

    @property
    def started(self) -> bool:
        """Started in production: any step past not_started, or with quantity done (EPOPTIA_API.md)."""
        return any(s.status != NOT_STARTED or s.qty_done > 0 for s in self.steps)

    @property
    def launched(self) -> bool:
        """Launched into production: released (any status but standby) or started. Only then is deleting refused."""
        return self.started or self.status not in (STANDBY, "")


class RowProblem(NamedTuple):
    """A row of the list that could not be used as it is, and why (said to the person, never a crash)."""

    page: int
    line_id: str | None
    message: str


# ----------------------------------------------------------------------------- scalars


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def tidy(value: Any) -> Any:
    """Numbers as the manifests write them: "200", 200.0 and 200 are all 200."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


_UNREADABLE = object()


def _day(value: Any) -> Any:
    """A due day: '2026-09-06' from '2026-09-06', '2026-09-06T10:00:00Z' or '2026-09-06 10:00';
    None for no day; _UNREADABLE for text that is not a day (then the field is not compared)."""
    if value in (None, ""):
        return None
    match = re.match(r"^(\d{4}-\d{2}-\d{2})(?:$|[T ])", str(value).strip())
    return match.group(1) if match else _UNREADABLE


def _name(value: Any) -> str | None:
    """The name of a {name} object, tolerating a bare string."""
    if isinstance(value, Mapping):
        value = value.get("name")
    return None if value in (None, "") else str(value)


def _items(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def auto_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(pattern).replace(re.escape("{n}"), r"(\d+)") + "$")


def is_unnamed(name: Any, pattern: re.Pattern[str], position: int) -> bool:
    match = pattern.match(_text(name))
    return bool(match and int(match.group(1)) == position)


def bom_in(items: Any) -> list[dict[str, Any]]:
    return [
        compact({"item": _text(b.get("item")) or None, "quantity": tidy(b.get("quantity")), "unit": b.get("unit")})
        for b in _items(items)
    ]


def fields_in(items: Any) -> dict[str, str]:
    return {_text(f.get("name")): _text(f.get("value")) for f in _items(items) if f.get("name") not in (None, "")}


def files_in(items: Any) -> list[dict[str, Any]]:
    return [
        compact({"name": f.get("name"), "url": f.get("path"), "type": f.get("type") or None}) for f in _items(items)
    ]


# ----------------------------------------------------------------------------- rows


def _steps(raw: Any, page: int, line_id: str, problems: list[RowProblem]) -> tuple[WireStep, ...]:
    steps = []
    for position, step in enumerate(raw if isinstance(raw, list) else [], start=1):
        if not isinstance(step, Mapping):
            problems.append(RowProblem(page, line_id, f"routing step {position} is not an object; it was left out"))
            continue
        fields: dict[str, Any] = {}
        if "bom" in step:
            fields["bom"] = bom_in(step.get("bom"))
        if "customFields" in step:
            fields["custom_fields"] = fields_in(step.get("customFields"))
        try:
            done = float(step.get("qty_done") or 0)
        except (TypeError, ValueError):
            done = 0.0
        element = step.get("elementId")
        steps.append(
            WireStep(
                workstation=_name(step.get("workstationName")),
                job_task=_name(step.get("job_tag")),
                status=_text(step.get("status")) or NOT_STARTED,
                qty_done=done,
                fields=fields,
                element_id=element if isinstance(element, int) and not isinstance(element, bool) else None,
            )
        )
    return tuple(steps)


def _fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """What the row carries, in the manifests' terms; a key only where the row has the field."""
    out: dict[str, Any] = {}
    direct = {"description": "description", "comments": "comments", "workorderline_code": "code"}
    for wire_key, ours in direct.items():
        if wire_key in row:
            out[ours] = _text(row[wire_key])
    # A value that cannot be read as what it should be is left out: not compared, never drift.
    quantity = tidy(row.get("quantity"))
    if isinstance(quantity, (int, float)) and not isinstance(quantity, bool):
        out["quantity"] = quantity
    day = _day(row.get("target_day"))
    if "target_day" in row and day is not _UNREADABLE:
        out["target_day"] = day
    if "customFields" in row:
        out["custom_fields"] = fields_in(row["customFields"])
    if "overUnderPercentage" in row:
        out["over_under_percentage"] = tidy(row["overUnderPercentage"]) if row["overUnderPercentage"] != "" else None
    if "wol_tag" in row:
        out["tags"] = [name for t in _items(row["wol_tag"]) if (name := _name(t))]
    if "files" in row:
        out["files"] = files_in(row["files"])
    if "bom" in row:
        out["bom"] = bom_in(row["bom"])
    if "workflow" in row:
        out["workflow"] = _name(row["workflow"])
    for wire_key, ours in (("product", "product"), ("client", "client")):
        value = row.get(wire_key)
        if isinstance(value, Mapping):
            if value.get("id") not in (None, ""):
                out[f"{ours}_id"] = _text(value["id"])
            if value.get("name") not in (None, ""):
                out[f"{ours}_name"] = _text(value["name"])
            if ours == "product" and value.get("code") not in (None, ""):
                out["product_code"] = _text(value["code"])
    wo = row.get("workorder")
    if isinstance(wo, Mapping):
        for wire_key, ours in (("code", "work_order.code"), ("comments", "work_order.comments")):
            if wire_key in wo:
                out[ours] = _text(wo[wire_key])
        if "files" in wo:
            out["work_order.files"] = files_in(wo["files"])
    return out


def read_rows(rows: Any, page: int = 0) -> tuple[list[WireLine], list[RowProblem]]:
    """One page of the list -> usable lines and problems. Never raises on what a tenant returns."""
    lines: list[WireLine] = []
    problems: list[RowProblem] = []
    for index, row in enumerate(rows if isinstance(rows, list) else []):
        if not isinstance(row, Mapping):
            what = "null" if row is None else type(row).__name__
            problems.append(RowProblem(page, None, f"row {index + 1} is {what}, not a line; it was skipped"))
            continue
        raw_id = row.get("workorderline_id")
        if raw_id in (None, "") or isinstance(raw_id, (bool, dict, list)):
            problems.append(RowProblem(page, None, f"row {index + 1} has no workorderline_id; it was skipped"))
            continue
        line_id = _text(tidy(raw_id)) if isinstance(raw_id, float) else _text(raw_id).strip()
        status = row.get("production_status", row.get("status"))
        wo = row.get("workorder")
        wo_id = wo.get("id") if isinstance(wo, Mapping) else None
        lines.append(
            WireLine(
                line_id=line_id,
                work_order_id=None if wo_id in (None, "") else _text(wo_id),
                status=_text(status).strip().lower(),
                steps=_steps(row.get("erp_routing"), page, line_id, problems),
                fields=_fields(row),
                page=page,
            )
        )
    return lines, problems


class Repeats:
    """One line per id, decided row by row, so that a read of the list never needs all its rows at once.

    The same line on two pages is normal; two rows that disagree are reported,
    and the one that shows more progress wins, so a started line is never taken
    for an idle one. Of each id only a small summary of the row in use is kept
    (its page, its progress and a hash of its data), in flat arrays indexed by
    where the id first appeared, not the row itself: at 100,000 lines the rows
    took hundreds of megabytes, and a tuple per id still 30.
    """

    def __init__(self) -> None:
        self._order: dict[str, int] = {}  # id -> where it first appeared (0, 1, 2...): the arrays' index
        self._page = array("q")
        self._flags = bytearray()  # launched * 2 + started
        self._done = array("d")  # quantity done, summed over the steps
        self._data = array("q")  # hash of the row's data
        self.problems: list[RowProblem] = []

    def offer(self, line: WireLine) -> int | None:
        """Where the line's id first appeared (0, 1, 2...) when this row is the one to use: the first row
        of its id, or a later one with more progress, which replaces the earlier. None: keep the earlier."""
        launched, started, done = _progress(line)
        data = _data_hash(line)
        order = self._order.get(line.line_id)
        if order is None:
            order = self._order[line.line_id] = len(self._order)
            self._page.append(line.page)
            self._flags.append(launched * 2 + started)
            self._done.append(done)
            self._data.append(data)
            return order
        if self._data[order] == data:
            return None
        self.problems.append(
            RowProblem(
                line.page,
                line.line_id,
                f"line {line.line_id} appears on pages {self._page[order]} and {line.page} "
                "with different data; the row with more progress is used",
            )
        )
        flags = self._flags[order]
        if (launched, started, done) <= (bool(flags & 2), bool(flags & 1), self._done[order]):
            return None
        self._page[order], self._flags[order], self._done[order], self._data[order] = (
            line.page,
            launched * 2 + started,
            done,
            data,
        )
        return order

    def ids(self) -> frozenset[str]:
        return frozenset(self._order)


def merge_duplicates(lines: list[WireLine]) -> tuple[dict[str, WireLine], list[RowProblem]]:
    """One line per id (see ``Repeats``), in the order the ids first appear."""
    by_id: dict[str, WireLine] = {}
    repeats = Repeats()
    for line in lines:
        if repeats.offer(line) is not None:
            by_id[line.line_id] = line
    return by_id, repeats.problems


def _progress(line: WireLine) -> tuple[bool, bool, float]:
    return (line.launched, line.started, sum(s.qty_done for s in line.steps))


def _data_hash(line: WireLine) -> int:
    """Equal for rows whose status, steps and fields are equal (==, so 200 and 200.0 are alike, and the
    order of a mapping's keys does not matter)."""
    return hash((line.status, tuple(_canonical(step) for step in line.steps), _canonical(line.fields)))


_PLAIN = frozenset({str, int, float, bool, type(None)})


def _canonical(value: Any) -> Any:
    """A hashable value equal to others exactly when ``value`` is (mappings as sorted pairs)."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), v if type(v) in _PLAIN else _canonical(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(v if type(v) in _PLAIN else _canonical(v) for v in value)
    return value


# ----------------------------------------------------------------------------- in our terms


class Names(NamedTuple):
    """Clients and products by id and by name, as the state knows them (the list names them only)."""

    product_names: Mapping[str, str]
    client_names: Mapping[str, str]

    def _id(self, names: Mapping[str, str], name: str) -> str | None:
        ids = [erp_id for erp_id, known in names.items() if known == name]
        return ids[0] if len(ids) == 1 else None

    def resolve(self, kind: str, applied_id: str | None, seen_id: str | None, seen_name: str | None) -> str | None:
        """The id a row points at: its id if it carries one, else the id whose name it shows.

        None: not verifiable (the row says nothing, or the name is unknown or shared).
        A name that matches no id shows as the name itself, so the change is visible.
        """
        if seen_id is not None:
            return seen_id
        if seen_name is None:
            return None
        names = self.product_names if kind == "product" else self.client_names
        if applied_id is not None and names.get(applied_id) == seen_name:
            return applied_id
        found = self._id(names, seen_name)
        if found is not None:
            return found
        return None if not names else f"(named {seen_name!r})"


NO_NAMES = Names({}, {})


def _steps_in(line: WireLine, applied: list[dict[str, Any]], profile: WireProfile) -> list[dict[str, Any]]:
    """A routing line's steps: what the list shows, over what we applied, position by position."""
    station_auto, task_auto = auto_pattern(profile.auto_workstation_name), auto_pattern(profile.auto_job_task_name)
    structure = profile.sees("routing.workstation") or profile.sees("routing.job_task")
    if not structure or not line.steps:
        return applied
    steps = []
    for position, wire in enumerate(line.steps, start=1):
        step = dict(applied[position - 1]) if position <= len(applied) else {}
        if profile.sees("routing.workstation"):
            step["workstation"] = None if is_unnamed(wire.workstation, station_auto, position) else wire.workstation
        if profile.sees("routing.job_task"):
            step["job_task"] = None if is_unnamed(wire.job_task, task_auto, position) else wire.job_task
        for sub in ("bom", "custom_fields"):
            if profile.sees(f"routing.{sub}"):
                step[sub] = wire.fields.get(sub) if sub in wire.fields else step.get(sub)
        steps.append(compact(step))
    return steps


_SCALARS = (
    "description",
    "quantity",
    "target_day",
    "comments",
    "custom_fields",
    "code",
    "tags",
    "files",
    "bom",
    "over_under_percentage",
)


def observed_line(
    line: WireLine,
    applied: dict[str, Any],
    profile: WireProfile,
    names: Names = NO_NAMES,
    work_order: str | None = None,
) -> dict[str, Any]:
    """The canonical payload of a line as Epoptia has it, as far as the list shows it.

    ``applied`` is what we last sent: every field the list does not return keeps
    its value, and it says whether the line runs a workflow or a routing
    (Epoptia reports steps for both). The status is the shop floor's: never
    taken from the list. ``work_order``: the ERP id of the work order the row
    points at, when it can be told (None: not verifiable).
    """
    payload = dict(applied)
    for field in _SCALARS:
        if profile.sees(field) and field in line.fields:
            payload[field] = line.fields[field]
    if profile.sees("product"):
        seen = names.resolve(
            "product", applied.get("product"), line.fields.get("product_id"), line.fields.get("product_name")
        )
        if seen is not None:
            payload["product"] = seen
    if profile.sees("workorder") and work_order is not None:
        payload["workorder"] = work_order
    if "workflow" in applied:
        if profile.sees("workflow") and "workflow" in line.fields:
            payload["workflow"] = line.fields["workflow"]
    elif isinstance(applied.get("routing"), dict):
        routing = applied["routing"]
        payload["routing"] = compact({**routing, "steps": _steps_in(line, list(routing.get("steps") or []), profile)})
    return compact(payload)


def observed_work_order(
    line: WireLine, applied: dict[str, Any], profile: WireProfile, names: Names = NO_NAMES
) -> dict[str, Any]:
    """A work order's payload as one of its lines shows it (the list has no work orders of its own)."""
    payload = dict(applied)
    if profile.sees("work_order.client"):
        seen = names.resolve(
            "client", applied.get("client"), line.fields.get("client_id"), line.fields.get("client_name")
        )
        if seen is not None:
            payload["client"] = seen
    for field in ("code", "comments", "files"):
        key = f"work_order.{field}"
        if profile.sees(key) and key in line.fields:
            payload[field] = line.fields[key]
    return compact(payload)


def step_shape(line: WireLine) -> list[tuple[str | None, str | None]]:
    """(workstation, job task) of each step, for import to tell routings apart."""
    return [(s.workstation, s.job_task) for s in line.steps]


def observable_part(payload: dict[str, Any], profile: WireProfile) -> dict[str, Any]:
    """The part of a line's payload the list can show: what a read can confirm or refute."""
    out: dict[str, Any] = {
        f: payload.get(f) for f in (*_SCALARS, "product", "workorder", "workflow") if profile.sees(f)
    }
    steps = (payload.get("routing") or {}).get("steps") or []
    out["routing"] = [
        {
            sub: s.get(sub)
            for sub in ("workstation", "job_task", "bom", "custom_fields")
            if profile.sees(f"routing.{sub}")
        }
        for s in steps
    ]
    return out
