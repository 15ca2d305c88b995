"""Timestamps as the state, plans, locks and halt files record them."""

from __future__ import annotations

import datetime as dt


def timestamp(now: dt.datetime | None = None) -> str:
    """UTC to the second, ISO 8601: one spelling everywhere, so files compare and sort as text."""
    return (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
