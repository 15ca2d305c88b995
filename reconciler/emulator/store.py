"""SQLite persistence for the emulator: documents by id, plus a few small tables.

Lines, work orders, clients and products are JSON documents keyed by their ERP
id; workstations, workflows, alarms, operators, keys and machine reports are
plain tables. One connection, used from the server's event loop thread only,
one transaction per request, so a restart on the same file sees everything.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Keys are kept as digests: the built-in emulator is often given the user's real key (the target's key
-- variable, set for production), and its database lives in the repository's .reconciler/ folder.
DROP TABLE IF EXISTS api_keys;
CREATE TABLE IF NOT EXISTS api_key_digests (digest TEXT PRIMARY KEY, last_used REAL NOT NULL);
CREATE TABLE IF NOT EXISTS docs (
    kind TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX IF NOT EXISTS docs_by_seq ON docs (kind, seq);
CREATE TABLE IF NOT EXISTS workstations (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS workflows (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, template INTEGER NOT NULL, steps TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alarms (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, line TEXT, text TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS operators (username TEXT PRIMARY KEY, password TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (token TEXT PRIMARY KEY, username TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS running (workstation_id INTEGER PRIMARY KEY, line TEXT NOT NULL, element_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS completions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, workstation_id INTEGER, quantity REAL, line TEXT,
    refusal TEXT
);
"""


class Store:
    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL" if self.path != ":memory:" else "PRAGMA journal_mode=MEMORY")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # -- transactions: one per request, so a request is applied whole or not at all
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit when the block ends, roll back whatever it raises: no request leaves a transaction open."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    @contextmanager
    def undone(self) -> Iterator[None]:
        """Run the block inside the current transaction, then take back everything it wrote."""
        self.db.execute("SAVEPOINT undone")
        try:
            yield
        finally:
            self.db.execute("ROLLBACK TO undone")
            self.db.execute("RELEASE undone")

    def next_number(self, counter: str, first: int) -> int:
        """The next value of a named counter that survives restarts (element ids, Epoptia's own ids)."""
        value = int(self.meta(counter) or first)
        self.set_meta(counter, str(value + 1))
        return value

    # -- meta
    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- documents
    def get(self, kind: str, doc_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT body FROM docs WHERE kind = ? AND id = ?", (kind, doc_id)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, kind: str, doc_id: str, body: dict[str, Any]) -> None:
        text = json.dumps(body, ensure_ascii=False)
        updated = self.db.execute("UPDATE docs SET body = ? WHERE kind = ? AND id = ?", (text, kind, doc_id))
        if updated.rowcount == 0:
            seq = self.db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM docs WHERE kind = ?", (kind,)).fetchone()[0]
            self.db.execute("INSERT INTO docs (kind, id, seq, body) VALUES (?, ?, ?, ?)", (kind, doc_id, seq, text))

    def delete(self, kind: str, doc_id: str) -> None:
        self.db.execute("DELETE FROM docs WHERE kind = ? AND id = ?", (kind, doc_id))

    def count(self, kind: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM docs WHERE kind = ?", (kind,)).fetchone()[0]

    def page(self, kind: str, offset: int, limit: int, *, newest_first: bool = False) -> list[dict[str, Any]]:
        order = "DESC" if newest_first else "ASC"
        rows = self.db.execute(
            f"SELECT body FROM docs WHERE kind = ? ORDER BY seq {order} LIMIT ? OFFSET ?", (kind, limit, offset)
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def all(self, kind: str) -> Iterator[dict[str, Any]]:
        for (body,) in self.db.execute("SELECT body FROM docs WHERE kind = ? ORDER BY seq", (kind,)).fetchall():
            yield json.loads(body)

    # -- workstations
    def workstation_id(self, name: str) -> int:
        row = self.db.execute("SELECT id FROM workstations WHERE name = ?", (name,)).fetchone()
        if row:
            return row[0]
        return _inserted(self.db.execute("INSERT INTO workstations (name) VALUES (?)", (name,)))

    def workstations(self) -> list[dict[str, Any]]:
        return [{"id": i, "name": n} for i, n in self.db.execute("SELECT id, name FROM workstations ORDER BY id")]

    def workstation_name(self, workstation_id: int) -> str | None:
        row = self.db.execute("SELECT name FROM workstations WHERE id = ?", (workstation_id,)).fetchone()
        return row[0] if row else None

    # -- workflows
    def add_workflow(self, name: str, template: bool, steps: list[dict[str, Any]]) -> int:
        return _inserted(
            self.db.execute(
                "INSERT INTO workflows (name, template, steps) VALUES (?, ?, ?)",
                (name, int(template), json.dumps(steps, ensure_ascii=False)),
            )
        )

    def workflow(self, workflow_id: int) -> dict[str, Any] | None:
        row = self.db.execute("SELECT id, name, template, steps FROM workflows WHERE id = ?", (workflow_id,)).fetchone()
        if not row:
            return None
        return {"id": row[0], "name": row[1], "template": bool(row[2]), "steps": json.loads(row[3])}

    def templates(self) -> list[dict[str, Any]]:
        return [
            {"id": i, "name": n}
            for i, n in self.db.execute("SELECT id, name FROM workflows WHERE template = 1 ORDER BY id")
        ]

    # -- alarms
    def add_alarm(self, at: float, line: str | None, text: str) -> None:
        self.db.execute("INSERT INTO alarms (at, line, text) VALUES (?, ?, ?)", (at, line, text))

    def alarms(self) -> list[dict[str, Any]]:
        return [
            {"id": i, "at": at, "workorderline_id": line, "text": text}
            for i, at, line, text in self.db.execute("SELECT id, at, line, text FROM alarms ORDER BY id")
        ]

    # -- keys
    def add_key(self, key: str, now: float) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO api_key_digests (digest, last_used) VALUES (?, ?)", (_key_digest(key), now)
        )

    def key_last_used(self, key: str) -> float | None:
        row = self.db.execute("SELECT last_used FROM api_key_digests WHERE digest = ?", (_key_digest(key),)).fetchone()
        return row[0] if row else None

    def touch_key(self, key: str, now: float) -> None:
        self.db.execute("UPDATE api_key_digests SET last_used = ? WHERE digest = ?", (now, _key_digest(key)))

    # -- operators and sessions
    def add_operator(self, username: str, password: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO operators (username, password) VALUES (?, ?)", (username, password))

    def operator_password(self, username: str) -> str | None:
        row = self.db.execute("SELECT password FROM operators WHERE username = ?", (username,)).fetchone()
        return row[0] if row else None

    def add_session(self, token: str, username: str) -> None:
        self.db.execute("INSERT INTO sessions (token, username) VALUES (?, ?)", (token, username))

    def session(self, token: str) -> str | None:
        row = self.db.execute("SELECT username FROM sessions WHERE token = ?", (token,)).fetchone()
        return row[0] if row else None

    def end_session(self, token: str) -> bool:
        return self.db.execute("DELETE FROM sessions WHERE token = ?", (token,)).rowcount > 0

    # -- what runs where
    def set_running(self, workstation_id: int, line: str, element_id: int) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO running (workstation_id, line, element_id) VALUES (?, ?, ?)",
            (workstation_id, line, element_id),
        )

    def running(self, workstation_id: int) -> tuple[str, int] | None:
        row = self.db.execute(
            "SELECT line, element_id FROM running WHERE workstation_id = ?", (workstation_id,)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def clear_running(self, workstation_id: int) -> None:
        self.db.execute("DELETE FROM running WHERE workstation_id = ?", (workstation_id,))

    # -- machine reports
    def add_completion(
        self,
        at: float,
        workstation_id: int | None,
        quantity: float | None,
        line: str | None,
        refusal: str | None = None,
    ) -> None:
        self.db.execute(
            "INSERT INTO completions (at, workstation_id, quantity, line, refusal) VALUES (?, ?, ?, ?, ?)",
            (at, workstation_id, quantity, line, refusal),
        )

    def completions(self) -> list[dict[str, Any]]:
        return [
            {
                "at": at,
                "workstation_id": ws,
                "quantity": _whole(quantity),
                "workorderline_id": line,
                "accepted": refusal is None,
                "refusal": refusal,
            }
            for at, ws, quantity, line, refusal in self.db.execute(
                "SELECT at, workstation_id, quantity, line, refusal FROM completions ORDER BY id"
            )
        ]

    def completion_totals(self) -> list[dict[str, Any]]:
        """Per workstation, what the accepted reports credited."""
        return [
            {"workstation_id": ws, "workstation": name, "quantity": _whole(total), "reports": n}
            for ws, name, total, n in self.db.execute(
                "SELECT c.workstation_id, w.name, SUM(c.quantity), COUNT(*) FROM completions c "
                "JOIN workstations w ON w.id = c.workstation_id WHERE c.refusal IS NULL "
                "GROUP BY c.workstation_id ORDER BY c.workstation_id"
            )
        ]


def _whole(number: float | None) -> float | int | None:
    # SQLite hands quantities back as REAL; whole ones read better, and compare equal to what was sent, as ints.
    return int(number) if number is not None and float(number).is_integer() else number


def _inserted(cursor: sqlite3.Cursor) -> int:
    """The id SQLite gave the row an INSERT just added (always set after an INSERT)."""
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _key_digest(key: str) -> str:
    """What the database keeps of an API key: never the key itself (see SCHEMA)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
