"""Structured log lines: one JSON object per line on stderr, for every send and every decision."""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
from collections.abc import Callable
from typing import IO, Any


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds")


class JsonLog:
    def __init__(self, now: Callable[[], float], stream: IO[str] | None = None) -> None:
        self.now = now
        self.stream = stream if stream is not None else sys.stderr
        self.lock = threading.Lock()
        self.lines: list[dict[str, Any]] | None = None  # tests may collect instead of print

    def __call__(self, event: str, **fields: Any) -> None:
        t = self.now()
        record = {"at": iso(t), "t": round(t, 3), "event": event, **fields}
        if self.lines is not None:
            self.lines.append(record)
            return
        text = json.dumps(record, ensure_ascii=False, default=str)
        with self.lock:
            self.stream.write(text + "\n")
            self.stream.flush()
