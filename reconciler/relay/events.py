"""What a machine says, parsed: piece counts and stop/alarm events.

One line of standard input is a JSON object or a CSV row:

    {"workstation": "LASER", "quantity": 12, "id": "plc1-000042"}
    {"workstation": "LASER", "event": "stop"}
    LASER,12
    LASER,12,plc1-000042
    "ΜΟΝΤΑΖ 1",stop

An MQTT payload is the same, or a bare number (the quantity) or a bare word (the
event), with the workstation taken from the topic. The optional `id` lets the
spool drop a count the source repeats (a gateway resending what was not
acknowledged before a crash).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from .config import Fields

Kind = Literal["count", "stop", "alarm"]
EVENTS: dict[str, Kind] = {"count": "count", "stop": "stop", "stopped": "stop", "alarm": "alarm"}


@dataclass(frozen=True, slots=True)
class CountEvent:
    """Pieces made at one workstation (maybe none), and whether the machine stopped."""

    workstation: str  # a name, or an id written as digits
    quantity: float = 0.0
    kind: Kind = "count"
    key: str | None = None  # the source's event id, for dropping repeats

    @property
    def flushes(self) -> bool:
        return self.kind != "count"


class BadEvent(ValueError):
    """A line or payload that is not a count; it is kept in the spool's rejected list, never dropped."""


def _field(obj: dict[str, Any], path: str) -> Any:
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _quantity(value: Any) -> float:
    if value in (None, ""):
        return 0.0
    if isinstance(value, bool):
        raise BadEvent("quantity must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadEvent(f"quantity must be a number, not {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise BadEvent(f"quantity must be a number of pieces, 0 or more, not {value!r}")
    return number


def _kind(value: Any) -> Kind:
    if value in (None, ""):
        return "count"
    kind = EVENTS.get(str(value).strip().lower())
    if kind is None:
        raise BadEvent(f"event must be stop or alarm, not {value!r}")
    return kind


def _workstation(value: Any) -> str:
    if isinstance(value, bool) or value in (None, ""):
        raise BadEvent("no workstation")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, (str, int)):
        raise BadEvent(f"workstation must be a name or an id, not {value!r}")
    return str(value).strip()


def from_object(obj: Any, fields: Fields, default_workstation: str | None = None) -> CountEvent:
    if not isinstance(obj, dict):
        raise BadEvent("expected a JSON object")
    ws = _field(obj, fields.workstation)
    key = _field(obj, fields.id)
    return CountEvent(
        workstation=_workstation(ws if ws not in (None, "") else default_workstation),
        quantity=_quantity(_field(obj, fields.quantity)),
        kind=_kind(_field(obj, fields.event)),
        key=None if key in (None, "") else str(key),
    )


DEFAULT_FIELDS = Fields()


def parse_line(line: str, fields: Fields = DEFAULT_FIELDS, default_workstation: str | None = None) -> CountEvent | None:
    """One line of standard input; None for a blank line or a # comment."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError as error:
            raise BadEvent(f"invalid JSON: {error}") from None
        return from_object(obj, fields, default_workstation)
    try:
        row = next(csv.reader([text], skipinitialspace=True))
    except (csv.Error, StopIteration) as error:
        raise BadEvent(f"invalid CSV row: {error}") from None
    row = [cell.strip() for cell in row]
    if default_workstation is not None and len(row) == 1:
        row = [default_workstation, *row]
    if len(row) not in (2, 3):
        raise BadEvent("expected workstation,quantity[,id] or workstation,stop|alarm")
    second = row[1]
    if second.lower() in EVENTS:
        return CountEvent(_workstation(row[0]), 0.0, _kind(second), row[2] if len(row) == 3 and row[2] else None)
    return CountEvent(_workstation(row[0]), _quantity(second), "count", row[2] if len(row) == 3 and row[2] else None)


def parse_payload(topic: str, payload: bytes, fields: Fields, topic_workstation: int | None) -> CountEvent | None:
    """One MQTT message: a JSON object, a CSV row, a bare number or a bare event word."""
    default = None
    if topic_workstation is not None:
        levels = topic.split("/")
        if topic_workstation < len(levels) and levels[topic_workstation]:
            default = levels[topic_workstation]
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise BadEvent("payload is not UTF-8 text") from None
    stripped = text.strip()
    if default is not None and stripped and not stripped.startswith(("{", "#")) and "," not in stripped:
        if stripped.lower() in EVENTS:
            return CountEvent(_workstation(default), 0.0, _kind(stripped))
        return CountEvent(_workstation(default), _quantity(stripped))
    return parse_line(text, fields, default)
