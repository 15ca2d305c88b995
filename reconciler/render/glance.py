"""What a plan changes for production, at a glance: lines, due weeks and workstation load.

"3 lines move to a later week; LASER +400 pcs on Fri 4 Dec". Derived from the
plan alone: each runnable line action is read as the line's load before and
after (quantity, due day, workstations of its route); blocked actions change
nothing and are left out. Lines run by a workflow template have no known route
here, so they count in the weeks but not at any workstation.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any, NamedTuple

from ..planning.plan import Action, Plan, Verb
from ..resources import Kind
from .describe import day, number

# Workstation-day rows shown before "and N more".
_TOP = 10


class Load(NamedTuple):
    quantity: float
    due: str | None
    workstations: tuple[str, ...]


def _number(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0.0


def _steps(routing: Any) -> tuple[str, ...] | None:
    if isinstance(routing, dict) and isinstance(routing.get("steps"), list):
        return tuple(s.get("workstation") or "?" for s in routing["steps"] if isinstance(s, dict))
    return None


def loads(action: Action) -> tuple[Load | None, Load | None]:
    """The line's load before and after this action (None: not in production on that side)."""
    label = action.label
    if action.kind is not Kind.WORK_ORDER_LINE or label is None or action.blocked is not None:
        return None, None
    current = Load(_number(label.quantity), label.due, label.workstations)
    if action.verb is Verb.CREATE:
        payload = action.payload or {}
        route = _steps(payload.get("routing"))
        return None, current._replace(workstations=route if route is not None else current.workstations)
    if action.verb in (Verb.DELETE, Verb.ARCHIVE):
        return current, None
    if action.verb is not Verb.UPDATE:
        return None, None
    changed = {c.path: c for c in action.changes}
    payload = action.payload or {}
    after = Load(
        _number(payload.get("quantity", label.quantity)),
        payload.get("target_day", label.due),
        _steps(payload.get("routing")) or label.workstations,
    )
    before = after._replace(
        quantity=_number(changed["quantity"].before) if "quantity" in changed else after.quantity,
        due=changed["target_day"].before if "target_day" in changed else after.due,
        workstations=tuple(s.get("workstation") or "?" for s in action.routing.before)
        if action.routing is not None
        else after.workstations,
    )
    if before == after:
        return None, None
    return before, after


def _week(due: str | None) -> tuple[int, int] | None:
    try:
        iso = dt.date.fromisoformat(str(due)).isocalendar()
    except ValueError:
        return None
    return iso.year, iso.week


def week_name(week: tuple[int, int] | None, year: str | None = None) -> str:
    if week is None:
        return "no due day"
    monday = dt.date.fromisocalendar(week[0], week[1], 1)
    sunday = monday + dt.timedelta(days=6)
    first = day(monday.isoformat(), year).split(" ", 1)[1]
    last = day(sunday.isoformat(), year).split(" ", 1)[1]
    if monday.month == sunday.month and first.count(" ") == 1:
        first = first.split(" ")[0]
    return f"week {week[1]} ({first}–{last})"


class Glance(NamedTuple):
    created: tuple[int, float]
    removed: dict[str, tuple[int, float]]  # 'deleted' / 'archived' -> (lines, pcs)
    moves: Counter[tuple[tuple[int, int] | None, tuple[int, int] | None]]
    quantity: tuple[int, float]  # lines whose quantity changes, net pcs
    rerouted: int
    weeks: dict[tuple[int, int] | None, list[float]]  # week -> [lines in, lines out, net pcs]
    stations: dict[tuple[str, str | None], float]  # (workstation, due day) -> net pcs

    @property
    def empty(self) -> bool:
        return not (
            self.created[0]
            or any(n for n, _ in self.removed.values())
            or self.moves
            or self.quantity[0]
            or self.rerouted
        )


def glance(actions: Iterable[Action]) -> Glance:
    created = [0, 0.0]
    removed: dict[str, list[float]] = {"deleted": [0, 0.0], "archived": [0, 0.0]}
    moves: Counter[tuple[tuple[int, int] | None, tuple[int, int] | None]] = Counter()
    quantity = [0, 0.0]
    rerouted = 0
    weeks: dict[tuple[int, int] | None, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    stations: dict[tuple[str, str | None], float] = defaultdict(float)
    for action in actions:
        before, after = loads(action)
        if before is None and after is None:
            continue
        if before is None and after is not None:
            created[0] += 1
            created[1] += after.quantity
        elif after is None and before is not None:
            bucket = removed["archived" if action.verb is Verb.ARCHIVE else "deleted"]
            bucket[0] += 1
            bucket[1] += before.quantity
        elif before is not None and after is not None:
            if _week(before.due) != _week(after.due):
                moves[(_week(before.due), _week(after.due))] += 1
            if before.quantity != after.quantity:
                quantity[0] += 1
                quantity[1] += after.quantity - before.quantity
            if before.workstations != after.workstations:
                rerouted += 1
        if before is not None:
            week = weeks[_week(before.due)]
            week[1] += 1 if after is None or _week(after.due) != _week(before.due) else 0
            week[2] -= before.quantity
            for station in dict.fromkeys(before.workstations):
                stations[(station, before.due)] -= before.quantity
        if after is not None:
            week = weeks[_week(after.due)]
            week[0] += 1 if before is None or _week(after.due) != _week(before.due) else 0
            week[2] += after.quantity
            for station in dict.fromkeys(after.workstations):
                stations[(station, after.due)] += after.quantity
    return Glance(
        created=(int(created[0]), created[1]),
        removed={k: (int(v[0]), v[1]) for k, v in removed.items()},
        moves=moves,
        quantity=(int(quantity[0]), quantity[1]),
        rerouted=rerouted,
        weeks={w: v for w, v in weeks.items() if v[0] or v[1] or v[2]},
        stations={k: v for k, v in stations.items() if v},
    )


def _lines(n: int) -> str:
    return f"{n:,} line{'s' if n != 1 else ''}"


def _pcs(n: float, sign: bool = False) -> str:
    text = number(abs(n) if sign else n)
    if sign:
        text = ("+" if n > 0 else "−") + text
    return f"{text} pcs"


def sentences(g: Glance, year: str | None = None, *, top: int = _TOP) -> list[str]:
    """The glance as short sentences, most telling first; empty when no line's load changes."""
    out = []
    parts = []
    if g.created[0]:
        n = g.created[0]
        parts.append(f"{n:,} new line{'s' if n != 1 else ''} ({_pcs(g.created[1])})")
    for what, (n, pcs) in g.removed.items():
        if n:
            parts.append(f"{_lines(n)} {what} ({_pcs(pcs)})")
    if parts:
        out.append("; ".join(parts))
    later = sum(n for (a, b), n in g.moves.items() if a and b and b > a)
    earlier = sum(n for (a, b), n in g.moves.items() if a and b and b < a)
    other = sum(n for (a, b), n in g.moves.items() if not (a and b))
    if g.moves:
        ranked = sorted(g.moves.items(), key=lambda kv: (-kv[1], str(kv[0])))
        detail = ", ".join(
            f"{week_name(a, year).split(' (')[0]} → {week_name(b, year).split(' (')[0]}"
            + (f": {n}" if len(ranked) > 1 else "")
            for (a, b), n in ranked[:top]
        )
        if len(ranked) > top:
            detail += f", and {len(ranked) - top} more"
        words = []
        if later:
            only_next = all(b == _next(a) for (a, b), _ in g.moves.items() if a and b and b > a)
            words.append(
                f"{_lines(later)} move{'s' if later == 1 else ''} to "
                + ("the next week" if only_next else "a later week")
            )
        if earlier:
            words.append(f"{_lines(earlier)} move{'s' if earlier == 1 else ''} to an earlier week")
        if other:
            s_ = "s" if other == 1 else ""
            words.append(f"{_lines(other)} gain{s_} or lose{s_} a due day")
        out.append("; ".join(words) + f" ({detail})")
    if g.quantity[0]:
        out.append(f"quantity changes on {_lines(g.quantity[0])}: {_pcs(g.quantity[1], sign=True)} in all")
    if g.rerouted:
        out.append(f"{_lines(g.rerouted)} change{'s' if g.rerouted == 1 else ''} route")
    return out


def station_rows(g: Glance, year: str | None = None, *, top: int = _TOP) -> tuple[list[tuple[str, str, str]], int]:
    """(workstation, due day, net pcs) for the largest changes of load, by day; and how many more there are."""
    ranked = sorted(g.stations.items(), key=lambda kv: (-abs(kv[1]), kv[0][1] or "", kv[0][0]))
    shown = sorted(ranked[:top], key=lambda kv: (kv[0][1] or "9999", kv[0][0]))
    # Workstations of one route that change alike on a day share a row: "LASER, ΒΑΦΕΙΟ | Fri 11 Dec | −20 pcs".
    merged: dict[tuple[str | None, float], list[str]] = {}
    for (ws, due), pcs in shown:
        merged.setdefault((due, pcs), []).append(ws)
    rows = [
        (", ".join(stations), day(due, year) if due else "no due day", _pcs(pcs, sign=True))
        for (due, pcs), stations in merged.items()
    ]
    return rows, max(0, len(ranked) - top)


def station_sentence(g: Glance, year: str | None = None, *, top: int = 3) -> str:
    """'LASER +400 pcs on Fri 4 Dec; ΒΑΦΕΙΟ −24 pcs on Fri 11 Dec; and 5 more'."""
    rows, more = station_rows(g, year, top=top)
    text = "; ".join(f"{ws} {pcs}" + (f" on {when}" if when != "no due day" else "") for ws, when, pcs in rows)
    return text + (f"; and {more} more" if more else "")


def _next(week: tuple[int, int] | None) -> tuple[int, int] | None:
    if week is None:
        return None
    following = dt.date.fromisocalendar(week[0], week[1], 1) + dt.timedelta(days=7)
    iso = following.isocalendar()
    return iso.year, iso.week


def week_rows(g: Glance, year: str | None = None, *, top: int = 12) -> list[tuple[str, str, str, str]]:
    """(week, lines in, lines out, net pcs) per due week, in order; at most ``top`` rows."""
    rows = []
    for week in sorted(g.weeks, key=lambda w: w or (9999, 99))[:top]:
        lines_in, lines_out, pcs = g.weeks[week]
        rows.append(
            (
                week_name(week, year),
                f"{int(lines_in):,}" if lines_in else "",
                f"{int(lines_out):,}" if lines_out else "",
                _pcs(pcs, sign=True) if pcs else "0 pcs",
            )
        )
    return rows


def glance_of(plan: Plan) -> Glance:
    return glance(plan.actions)
