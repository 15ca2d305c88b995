"""What the emulator has been asked to do, for tests and benchmarks (in memory; a restart starts at zero)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any


class Stats:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()  # requests, per operation, writes_committed, faults_*
        # Lines created, per id: a delete and a create again count twice, so duplicate creates show.
        self.creates_by_id: Counter[str] = Counter()

    def count(self, name: str) -> None:
        self.counts[name] += 1

    def created(self, line_ids: Iterable[str]) -> None:
        self.creates_by_id.update(line_ids)

    def reset(self) -> None:
        self.counts.clear()
        self.creates_by_id.clear()

    def public(self) -> dict[str, Any]:
        return {
            **self.counts,
            "writes_committed": self.counts["writes_committed"],
            "creates_by_id": dict(self.creates_by_id),
        }
