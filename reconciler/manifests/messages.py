"""pydantic's validation errors in the words a person writes YAML in."""

from __future__ import annotations

import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from ..resources import Kind
from ..words import did_you_mean, short

KIND_NOUNS = {
    Kind.CLIENT: "client",
    Kind.PRODUCT: "product",
    Kind.ROUTING: "routing",
    Kind.WORK_ORDER: "work order",
    Kind.WORK_ORDER_LINE: "work order line",
}

_MODEL_NOUNS = {
    "Client": "client",
    "Product": "product",
    "Routing": "routing",
    "WorkOrder": "work order",
    "WorkOrderLine": "work order line",
    "RoutingStep": "routing step",
    "BomItem": "BOM item",
    "FileRef": "file",
}

# Discriminated unions add their tag to the error path; a person never wrote it.
_UNION_TAGS = {"name", "steps"}


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as ``tuple[Step, ...] | str | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _model_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel]:
    for step in loc:
        if isinstance(step, str) and step in model.model_fields:
            inner = _model_in(model.model_fields[step].annotation)
            if inner is None:
                return model
            model = inner
    return model


def _describe(model: type[BaseModel]) -> str:
    return _MODEL_NOUNS.get(model.__name__, model.__name__)


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for step in loc:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


def _strip_tags(loc: Iterable[str | int]) -> list[str | int]:
    out: list[str | int] = []
    for step in loc:
        if out and out[-1] == "routing" and step in _UNION_TAGS:
            continue
        out.append(step)
    return out


def validation_problems(
    model: type[BaseModel], error: ValidationError
) -> list[tuple[tuple[str | int, ...], str, bool]]:
    """pydantic errors -> (path, message, point at the key?)."""
    out = []
    errors = error.errors(include_url=False)
    locs = [tuple(e["loc"]) for e in errors]
    for item in errors:
        loc = tuple(_strip_tags(item["loc"]))
        kind = item["type"]
        if kind == "too_short" and any(len(o) > len(loc) and o[: len(loc)] == tuple(item["loc"]) for o in locs):
            continue  # pydantic's echo of a list whose items failed: the item errors say it
        where = _describe(_model_at(model, loc[:-1]))
        name = loc[-1] if loc else None
        if kind == "extra_forbidden":
            fields = _model_at(model, loc[:-1]).model_fields
            message = f"unknown field {short(name)} in {where}{did_you_mean(str(name), fields)}"
            out.append((loc, message, True))
        elif kind == "missing":
            out.append((loc[:-1], f"missing required field {name!r} in {where}", False))
        elif kind in ("value_error", "assertion_error"):
            message = str(item["ctx"].get("error", item["msg"]))
            if loc and isinstance(loc[-1], str):  # a field's own check: say which field
                message = f"{_dotted(loc)}: {message} (got {short(item['input'])})"
            out.append((loc, message, False))
        else:
            message = item["msg"]
            if kind.startswith("date"):
                message = "is not a valid date; write it as YYYY-MM-DD"
            label = _dotted(loc) or where
            out.append((loc, f"{label}: {message[0].lower()}{message[1:]} (got {short(item['input'])})", False))
    return out
