"""Field-level differences between two payloads, as the plan shows them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .plan import FieldChange


def field_changes(before: dict[str, Any], after: dict[str, Any]) -> list[FieldChange]:
    """Field-level differences, with paths a person can read: routing.steps[1].workstation."""
    from deepdiff import DeepDiff  # imported here: only changed resources are ever diffed

    diff = DeepDiff(before, after, view="tree", verbose_level=2)
    changes = []
    for report in diff.values():
        for level in report:
            path = _path(level.path(output_format="list"))
            changes.append(FieldChange(path=path, before=_plain(level.t1), after=_plain(level.t2)))
    changes.sort(key=lambda c: c.path)
    return changes


def _plain(value: Any) -> Any:
    # DeepDiff marks a missing side with a NotPresent sentinel; the plan says null.
    if type(value).__name__ == "NotPresent":
        return None
    return value


def _path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
