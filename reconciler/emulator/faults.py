"""Switches tests flip to make the emulator misbehave the way a real tenant can.

``FaultSettings`` is the validated body of POST /_emulator/faults: every switch at once,
so posting {} turns everything off (and lifts a 403 block). ``Faults`` is the running
state behind it: the random source, the rate window and the block.
"""

from __future__ import annotations

import random
import time
from collections import deque
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Body(BaseModel):
    """An admin request body: no unknown keys, no NaN or infinity, never changed once read."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Mangle(Body):
    """Store a line's text field differently from what was sent, for read-back mismatch tests."""

    field: Literal["description", "comments", "workorderline_code"]
    append: str = Field(min_length=1, max_length=1000)


class FaultSettings(Body):
    latency_ms: float = Field(0, ge=0, le=60_000)  # every API request waits this long first
    error_rate: float = Field(0, ge=0, le=1)  # share of API requests answered 503 before doing anything
    drop_rate: float = Field(0, ge=0, le=1)  # share of API requests whose connection drops after the work is done
    rate_limit: int = Field(0, ge=0, le=1_000_000)  # more than this many requests in one second ...
    rate_limit_status: Literal[429, 403] = 429  # ... answers this; 403 also blocks every later request, like an IP ban
    redirect: bool = False  # answer 302 to a login page, as a proxy in front of a tenant might
    seed: int | None = Field(None, ge=0, le=2**63)
    # After a write is committed, hold its answer this long: a test waits for stats' writes_committed
    # to move, then kills the client before the answer arrives.
    hold_ms: float = Field(0, ge=0, le=120_000)
    mangle: Mangle | None = None
    lose_rows: tuple[str, ...] = Field((), max_length=10_000)  # line ids whose writes are answered but not stored
    reverse_pages: bool = False  # list lines newest first, so a line moves to another page

    @field_validator("lose_rows", mode="before")
    @classmethod
    def _line_ids(cls, value: Any) -> Any:
        # Line ids arrive as numbers or text, as in the rows; the engine keys them by text.
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
            raise ValueError("lose_rows must be a list of line ids")
        return tuple(sorted({str(v).strip() for v in value}))


def _line_id(row: Any) -> str | None:
    value = row.get("workorderline_id") if isinstance(row, dict) else None
    return str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else None


class Faults:
    def __init__(self) -> None:
        self.settings = FaultSettings()
        self.blocked = False
        self.rng = random.Random()
        self.recent: deque[float] = deque()

    def replace(self, settings: FaultSettings) -> None:
        self.settings = settings
        self.blocked = False
        self.rng = random.Random(settings.seed)
        self.recent.clear()

    def public(self) -> dict[str, Any]:
        return {**self.settings.model_dump(mode="json"), "blocked": self.blocked}

    def refusal(self) -> tuple[int, str] | None:
        """A blocked address or a burst over the rate limit is refused before anything is read."""
        if self.blocked:
            return 403, "Forbidden: this address is blocked"
        now = time.monotonic()
        self.recent.append(now)
        while self.recent and now - self.recent[0] > 1.0:
            self.recent.popleft()
        if self.settings.rate_limit and len(self.recent) > self.settings.rate_limit:
            if self.settings.rate_limit_status == 403:
                self.blocked = True
                return 403, "Forbidden: too many requests, this address is blocked"
            return 429, "Too Many Requests"
        return None

    def fails(self) -> bool:
        return bool(self.settings.error_rate) and self.rng.random() < self.settings.error_rate

    def drops(self) -> bool:
        return bool(self.settings.drop_rate) and self.rng.random() < self.settings.drop_rate

    def loses(self, row: Any) -> bool:
        return bool(self.settings.lose_rows) and _line_id(row) in self.settings.lose_rows

    def mangled(self, row: Any) -> Any:
        """``row`` as the emulator will store it: with the mangled field's text appended to."""
        mangle = self.settings.mangle
        if mangle is None or not isinstance(row, dict) or not isinstance(row.get(mangle.field), str):
            return row
        return {**row, mangle.field: row[mangle.field] + mangle.append}
