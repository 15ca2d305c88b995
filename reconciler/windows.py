"""Apply windows: when a target may be changed, in the factory's own time zone.

A merge at 05:55 must not change orders under the morning shift: a target can
allow applies only in some windows and deny them in others (shift change, the
night). Times are wall-clock times where the factory is; a window whose end is
before its start runs past midnight, and equal start and end mean the whole day.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Day(str, enum.Enum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


_DAYS = list(Day)


class Window(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    days: tuple[Day, ...] = tuple(Day)
    start: Annotated[dt.time, Field(alias="from")]
    end: Annotated[dt.time, Field(alias="to")]

    def contains(self, local: dt.datetime) -> bool:
        t = local.time().replace(tzinfo=None)
        today = _DAYS[local.weekday()]
        if self.start == self.end:
            return today in self.days
        if self.start < self.end:
            return today in self.days and self.start <= t < self.end
        # Past midnight: the part after midnight belongs to the day the window started.
        yesterday = _DAYS[(local.weekday() - 1) % 7]
        return (today in self.days and t >= self.start) or (yesterday in self.days and t < self.end)

    def describe(self) -> str:
        days = "every day" if set(self.days) == set(Day) else ",".join(d.value for d in self.days)
        if self.start == self.end:
            return f"{days} all day"
        return f"{days} {self.start:%H:%M}-{self.end:%H:%M}"


class WindowCheck(BaseModel):
    """Whether an apply is allowed at one moment, and the sentence that says so."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allowed: bool
    message: str


class ApplyWindows(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str
    allow: tuple[Window, ...] = ()
    deny: tuple[Window, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use a name such as Europe/Athens") from None
        return value

    def _open(self, local: dt.datetime) -> bool:
        if self.allow and not any(w.contains(local) for w in self.allow):
            return False
        return not any(w.contains(local) for w in self.deny)

    def check(self, now: dt.datetime) -> WindowCheck:
        zone = ZoneInfo(self.timezone)
        local = now.astimezone(zone)
        rules = "; ".join([f"allowed {w.describe()}" for w in self.allow] + [f"not {w.describe()}" for w in self.deny])
        when = f"{local:%a %Y-%m-%d %H:%M} {self.timezone}"
        if self._open(local):
            return WindowCheck(allowed=True, message=f"an apply now ({when}) is inside the apply windows ({rules})")
        probe = local.replace(second=0, microsecond=0)
        for _ in range(8 * 24 * 60):
            probe += dt.timedelta(minutes=1)
            if self._open(probe.astimezone(zone)):
                opens = f"; the next window opens {probe:%a %Y-%m-%d %H:%M}"
                break
        else:
            opens = "; no window opens in the next 8 days"
        return WindowCheck(
            allowed=False, message=f"an apply now ({when}) is outside the apply windows ({rules}){opens}"
        )
