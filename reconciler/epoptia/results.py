"""Epoptia's answers to writes, parsed once into typed per-row results.

The shape of write answers is not public; ours (the wire profile's
``results_key``) is ``{"results": [{"id", "result", "reason", "alarm"}]}``.
A profile may say that a tenant's answers carry no per-row results: then
every row is ``SENT`` and only the read-back tells what happened.
"""

from __future__ import annotations

import enum
from typing import Any, NamedTuple


class RowOutcome(str, enum.Enum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    ARCHIVED = "archived"
    NOT_FOUND = "not_found"
    REJECTED = "rejected"
    ALARM = "alarm"  # Epoptia refused a change to a started line and raised a system alarm
    SENT = "sent"  # the answer says nothing per row: the read-back decides
    UNKNOWN = "unknown"  # a per-row result we do not know

    @property
    def succeeded(self) -> bool:
        return self in _SUCCEEDED


_SUCCEEDED = {
    RowOutcome.CREATED,
    RowOutcome.UPDATED,
    RowOutcome.UNCHANGED,
    RowOutcome.DELETED,
    RowOutcome.ARCHIVED,
    RowOutcome.SENT,
}


class RowResult(NamedTuple):
    outcome: RowOutcome
    reason: str | None = None  # Epoptia's words, for a row that did not succeed
    epoptia_id: str | None = None  # Epoptia's own id of the row, when the answer gives one


def parse_row(raw: Any) -> RowResult:
    if not isinstance(raw, dict):
        return RowResult(RowOutcome.UNKNOWN, f"unreadable result {str(raw)[:80]!r}")
    try:
        outcome = RowOutcome(str(raw.get("result")))
    except ValueError:
        outcome = RowOutcome.UNKNOWN
    reason = raw.get("reason") or raw.get("alarm")
    if outcome is RowOutcome.UNKNOWN and not reason:
        reason = f"result {raw.get('result')!r}"
    epoptia_id = raw.get("epoptia_id")
    return RowResult(
        outcome, None if reason is None else str(reason)[:500], None if epoptia_id is None else str(epoptia_id)
    )
