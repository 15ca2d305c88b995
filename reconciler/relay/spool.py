"""The relay's durable spool: SQLite in WAL mode, one file per target.

Tables:

- `station`: per workstation, the pending sum (counted, not yet sent), when its
  window opened, a pending stop/alarm flush, the last send, the last error and
  the retry time; and what is needed to settle an unanswered send (a baseline:
  `step` rows plus `loose`, see settle.py).
- `batch`: every sum taken for sending, with its life:
  `inflight` (written before the request goes out) -> `sent` (Epoptia answered) |
  `void` (refused: the quantity went back to pending) | `uncertain` (no answer:
  a read will tell) -> `sent` | `void` | `unknown` (the read could not tell:
  reported, never resent by itself).
- `seen`: the ids of recent events, so that a source's repeats are dropped.
- `rejected`: lines that were not counts, kept for a person (nothing is dropped).

Every change is one transaction, so a kill -9 leaves the spool at a boundary:
a count is in `pending` or in exactly one batch, never in both or neither.
Each thread uses its own Spool (its own connection) on the same file.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS station (
    ws INTEGER PRIMARY KEY,
    pending REAL NOT NULL DEFAULT 0,
    pending_events INTEGER NOT NULL DEFAULT 0,
    first_at REAL,               -- clock time of the first piece of the pending sum
    flush TEXT,                  -- 'stop' or 'alarm' when the machine asked for its sum now
    last_take REAL,              -- clock time a sum was last taken for sending (the period counts from it)
    counted REAL NOT NULL DEFAULT 0,
    sent_total REAL NOT NULL DEFAULT 0,
    last_sent_qty REAL, last_sent_at REAL, last_event_at REAL,
    last_error TEXT, last_error_at REAL,
    failures INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL DEFAULT 0,
    name TEXT,                   -- the workstation's name in Epoptia's list, when known
    baseline INTEGER NOT NULL DEFAULT 0,  -- 1 once a read has given the quantities of its steps
    loose REAL NOT NULL DEFAULT 0         -- quantity sent since the baseline that no answer placed on a step
);
CREATE TABLE IF NOT EXISTS step (
    element INTEGER PRIMARY KEY, ws INTEGER NOT NULL, line TEXT, qty_done REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS batch (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ws INTEGER NOT NULL,
    quantity REAL NOT NULL,
    events INTEGER NOT NULL,
    first_at REAL,
    reason TEXT NOT NULL,
    state TEXT NOT NULL,
    taken_at REAL NOT NULL,      -- clock time
    attempt_wall REAL NOT NULL,  -- real time the request went out (settling waits after it)
    settled_at REAL,
    line TEXT, element INTEGER, qty_done REAL,
    note TEXT
);
CREATE INDEX IF NOT EXISTS batch_open ON batch (state) WHERE state IN ('inflight', 'uncertain', 'unknown');
CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, source TEXT NOT NULL, raw TEXT NOT NULL, reason TEXT NOT NULL
);
"""

OPEN = ("inflight", "uncertain")


@dataclass(frozen=True, slots=True)
class Count:
    """One resolved count for the spool."""

    ws: int
    quantity: float
    flush: str | None = None  # 'stop' / 'alarm'
    key: str | None = None


@dataclass(frozen=True, slots=True)
class Station:
    ws: int
    pending: float
    pending_events: int
    first_at: float | None
    flush: str | None
    last_take: float | None
    counted: float
    sent_total: float
    last_sent_qty: float | None
    last_sent_at: float | None
    last_event_at: float | None
    last_error: str | None
    last_error_at: float | None
    failures: int
    next_try: float
    name: str | None
    baseline: bool
    loose: float


@dataclass(frozen=True, slots=True)
class Batch:
    id: int
    ws: int
    quantity: float
    events: int
    first_at: float | None
    reason: str
    state: str
    taken_at: float
    attempt_wall: float
    note: str | None = None


_STATION_FIELDS = tuple(f.name for f in fields(Station))
_STATION_COLS = ", ".join(_STATION_FIELDS)
_BATCH_COLS = "id, ws, quantity, events, first_at, reason, state, taken_at, attempt_wall, note"


class Spool:
    def __init__(self, path: Path, *, synchronous: str = "full", readonly: bool = False) -> None:
        self.path = path
        if readonly:
            self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=30)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(path), isolation_level=None, timeout=30, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
            self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ------------------------------------------------------------------ intake

    def absorb(
        self, counts: Iterable[Count], rejected: Iterable[tuple[str, str, str]], now: float, dedupe: bool = True
    ) -> int:
        """Spool counts (and rejected lines: source, raw, reason) in one transaction; returns repeats dropped.

        Returns only once the transaction is committed: the caller acknowledges to the source after it.
        """
        sums: dict[int, list[Any]] = {}
        repeats = 0
        with self._tx() as db:
            for c in counts:
                if (
                    dedupe
                    and c.key is not None
                    and db.execute(
                        "INSERT OR IGNORE INTO seen (key, at) VALUES (?, ?)", (f"{c.ws}:{c.key}", now)
                    ).rowcount
                    == 0
                ):
                    repeats += 1
                    continue
                entry = sums.setdefault(c.ws, [0.0, 0, None])
                entry[0] += c.quantity
                entry[1] += 1
                if c.flush:
                    entry[2] = c.flush
            for ws, (quantity, events, flush) in sums.items():
                db.execute(
                    "INSERT INTO station (ws, pending, pending_events, first_at, flush, counted, last_event_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ws) DO UPDATE SET "
                    "pending = pending + excluded.pending, pending_events = pending_events + excluded.pending_events, "
                    "first_at = COALESCE(first_at, excluded.first_at), flush = COALESCE(excluded.flush, flush), "
                    "counted = counted + excluded.counted, last_event_at = excluded.last_event_at",
                    (ws, quantity, events, now if quantity > 0 else None, flush, quantity, now),
                )
            for source, raw, reason in rejected:
                db.execute(
                    "INSERT INTO rejected (at, source, raw, reason) VALUES (?, ?, ?, ?)", (now, source, raw, reason)
                )
        return repeats

    def recover(self) -> list[Batch]:
        """At start: a batch still `inflight` lost its answer to a crash; it becomes `uncertain`."""
        found = self.batches(["inflight"])
        if found:
            with self._tx() as db:
                db.execute(
                    "UPDATE batch SET state = 'uncertain', note = 'the relay stopped before Epoptia answered' "
                    "WHERE state = 'inflight'"
                )
        return found

    def forget_keys(self, before: float) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM seen WHERE at < ?", (before,))

    # ------------------------------------------------------------------ reading

    def stations(self) -> list[Station]:
        rows = self.db.execute(f"SELECT {_STATION_COLS} FROM station ORDER BY ws").fetchall()
        return [
            Station(
                **{**dict(zip(_STATION_FIELDS, r, strict=True)), "baseline": bool(r[_STATION_FIELDS.index("baseline")])}
            )
            for r in rows
        ]

    def station(self, ws: int) -> Station | None:
        return next((s for s in self.stations() if s.ws == ws), None)

    def batches(self, states: Iterable[str]) -> list[Batch]:
        states = tuple(states)
        marks = ", ".join("?" * len(states))
        rows = self.db.execute(f"SELECT {_BATCH_COLS} FROM batch WHERE state IN ({marks}) ORDER BY id", states)
        return [Batch(*r) for r in rows.fetchall()]

    def batch(self, batch_id: int) -> Batch | None:
        row = self.db.execute(f"SELECT {_BATCH_COLS} FROM batch WHERE id = ?", (batch_id,)).fetchone()
        return Batch(*row) if row else None

    def snapshot(self, ws: int) -> dict[int, float]:
        return dict(self.db.execute("SELECT element, qty_done FROM step WHERE ws = ?", (ws,)).fetchall())

    def counts(self) -> dict[str, int]:
        out = dict(self.db.execute("SELECT state, COUNT(*) FROM batch GROUP BY state").fetchall())
        out["rejected"] = self.db.execute("SELECT COUNT(*) FROM rejected").fetchone()[0]
        out["seen"] = self.db.execute("SELECT COUNT(*) FROM seen").fetchone()[0]
        return out

    def rejected(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT id, at, source, raw, reason FROM rejected ORDER BY id DESC LIMIT ?", (limit,))
        return [dict(zip(("id", "at", "source", "raw", "reason"), r, strict=True)) for r in rows.fetchall()]

    def size(self) -> int:
        """Bytes on disk: the database and its write-ahead log."""
        total = 0
        for suffix in ("", "-wal", "-shm"):
            try:
                total += Path(str(self.path) + suffix).stat().st_size
            except OSError:
                pass
        return total

    # ------------------------------------------------------------------ sending

    def take(self, ws: int, now: float, reason: str, wall: float | None = None) -> Batch | None:
        """Move the pending sum into a new `inflight` batch, before the request goes out; None if nothing is pending."""
        wall = time.time() if wall is None else wall
        with self._tx() as db:
            row = db.execute("SELECT pending, pending_events, first_at FROM station WHERE ws = ?", (ws,)).fetchone()
            if row is None or row[0] <= 0:
                db.execute("UPDATE station SET flush = NULL WHERE ws = ?", (ws,))
                return None
            quantity, events, first_at = row
            batch_id = db.execute(
                "INSERT INTO batch (ws, quantity, events, first_at, reason, state, taken_at, attempt_wall) "
                "VALUES (?, ?, ?, ?, ?, 'inflight', ?, ?)",
                (ws, quantity, events, first_at, reason, now, wall),
            ).lastrowid
            assert batch_id is not None  # set by every INSERT
            db.execute(
                "UPDATE station SET pending = 0, pending_events = 0, first_at = NULL, flush = NULL, "
                "last_take = ? WHERE ws = ?",
                (now, ws),
            )
        return Batch(batch_id, ws, quantity, events, first_at, reason, "inflight", now, wall)

    def sent(
        self,
        batch: Batch,
        now: float,
        *,
        line: str | None,
        element: int | None,
        qty_done: float | None,
        note: str | None = None,
    ) -> None:
        """Epoptia answered (or a read proved the quantity arrived): the batch is done."""
        with self._tx() as db:
            db.execute(
                "UPDATE batch SET state = 'sent', settled_at = ?, line = ?, element = ?, qty_done = ?, "
                "note = ? WHERE id = ?",
                (now, line, element, qty_done, note, batch.id),
            )
            db.execute(
                "UPDATE station SET sent_total = sent_total + ?, last_sent_qty = ?, last_sent_at = ?, "
                "failures = 0, next_try = 0, last_error = NULL WHERE ws = ?",
                (batch.quantity, batch.quantity, now, batch.ws),
            )
            if element is not None and qty_done is not None:
                db.execute(
                    "INSERT OR REPLACE INTO step (element, ws, line, qty_done) VALUES (?, ?, ?, ?)",
                    (element, batch.ws, line, qty_done),
                )
            else:
                db.execute("UPDATE station SET loose = loose + ? WHERE ws = ?", (batch.quantity, batch.ws))

    def void(self, batch: Batch, now: float, error: str, next_try: float) -> None:
        """Epoptia did not add the quantity: it goes back to pending, to be sent again with what came since."""
        with self._tx() as db:
            db.execute("UPDATE batch SET state = 'void', settled_at = ?, note = ? WHERE id = ?", (now, error, batch.id))
            db.execute(
                "UPDATE station SET pending = pending + ?, pending_events = pending_events + ?, "
                "first_at = CASE WHEN first_at IS NULL OR first_at > ? THEN ? ELSE first_at END, "
                "failures = failures + 1, next_try = ?, last_error = ?, last_error_at = ? WHERE ws = ?",
                (batch.quantity, batch.events, batch.first_at, batch.first_at, next_try, error, now, batch.ws),
            )

    def uncertain(self, batch: Batch, now: float, error: str, next_try: float) -> None:
        """No answer that tells: the batch waits for a read; the workstation sends nothing else until then."""
        with self._tx() as db:
            db.execute("UPDATE batch SET state = 'uncertain', note = ? WHERE id = ?", (error, batch.id))
            db.execute(
                "UPDATE station SET failures = failures + 1, next_try = ?, last_error = ?, last_error_at = ? "
                "WHERE ws = ?",
                (next_try, error, now, batch.ws),
            )

    def unknown(self, batch: Batch, now: float, note: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE batch SET state = 'unknown', settled_at = ?, note = ? WHERE id = ?", (now, note, batch.id)
            )
            db.execute(
                "UPDATE station SET failures = 0, next_try = 0, last_error = ?, last_error_at = ? WHERE ws = ?",
                (note, now, batch.ws),
            )

    def failed_read(self, ws: int, now: float, error: str, next_try: float) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE station SET failures = failures + 1, next_try = ?, last_error = ?, last_error_at = ? "
                "WHERE ws = ?",
                (next_try, error, now, ws),
            )

    def set_baseline(self, ws: int, steps: dict[int, tuple[str, float]], name: str | None) -> None:
        """What a read showed at the workstation becomes the reference for the next settlement."""
        with self._tx() as db:
            db.execute("DELETE FROM step WHERE ws = ?", (ws,))
            db.executemany(
                "INSERT OR REPLACE INTO step (element, ws, line, qty_done) VALUES (?, ?, ?, ?)",
                [(e, ws, line, done) for e, (line, done) in steps.items()],
            )
            db.execute("INSERT INTO station (ws) VALUES (?) ON CONFLICT (ws) DO NOTHING", (ws,))
            db.execute("UPDATE station SET baseline = 1, loose = 0, name = COALESCE(?, name) WHERE ws = ?", (name, ws))

    def resolve(self, batch_id: int, applied: bool, now: float) -> Batch:
        """A person's word on an `unknown` batch: it arrived (done) or it did not (sent again)."""
        batch = self.batch(batch_id)
        if batch is None or batch.state != "unknown":
            raise LookupError(f"no unknown batch {batch_id}")
        if applied:
            with self._tx() as db:
                db.execute(
                    "UPDATE batch SET state = 'sent', note = COALESCE(note, '') || ' (resolved: applied)' WHERE id = ?",
                    (batch_id,),
                )
                db.execute("UPDATE station SET sent_total = sent_total + ? WHERE ws = ?", (batch.quantity, batch.ws))
        else:
            self.void(batch, now, "resolved by a person: send again", next_try=0)
        return batch
