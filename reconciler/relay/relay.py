"""The relay's two halves, each driven by its own thread with its own spool connection.

`Intake` takes parsed lines from the sources and spools them in one
transaction; only after the commit may the caller acknowledge them.
`Relay.tick()` makes one pass of decisions: settle what got no answer, take the
baselines it needs, and send every sum that is due, one request at a time
through the shared client (its throttle spaces them; its halt stops them).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from ..epoptia.errors import HaltedError
from ..secrets import redact
from .clock import Clock
from .config import RelayConfig
from .events import CountEvent
from .policy import backoff, due, window_due
from .sender import (
    Failure,
    Sender,
    StepReading,
    UnknownWorkstation,
    WorkstationDirectory,
    classify,
)
from .settle import settle, steps_at
from .spool import Batch, Count, Spool, Station

Log = Callable[..., None]


class HaltLike(Protocol):
    def read(self) -> dict[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class Parsed:
    """One line from a source: its event, or why it is not one."""

    source: str
    raw: str
    event: CountEvent | None = None
    error: str | None = None


class Intake:
    def __init__(self, spool: Spool, directory: WorkstationDirectory, clock: Clock, log: Log) -> None:
        self.spool, self.directory, self.clock, self.log = spool, directory, clock, log
        self.absorbed = 0

    def absorb(self, items: Iterable[Parsed]) -> None:
        counts: list[Count] = []
        rejected: list[tuple[str, str, str]] = []
        for item in items:
            if item.event is None:
                rejected.append((item.source, item.raw, item.error or "not a count"))
                continue
            try:
                ws = self.directory.resolve(item.event.workstation)
            except UnknownWorkstation as error:
                rejected.append((item.source, item.raw, error.message))
                continue
            counts.append(
                Count(ws, item.event.quantity, item.event.kind if item.event.flushes else None, item.event.key)
            )
        now = self.clock.now()
        repeats = self.spool.absorb(counts, rejected, now)
        self.absorbed += len(counts) - repeats
        for source, raw, reason in rejected:
            self.log("rejected", source=source, line=raw[:200], reason=reason)
        if repeats:
            self.log("repeats_dropped", count=repeats)


class Relay:
    def __init__(
        self,
        spool: Spool,
        sender: Sender,
        config: RelayConfig,
        *,
        clock: Clock,
        halt: HaltLike,
        log: Log,
        timeout: float,
        directory: WorkstationDirectory | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.spool, self.sender, self.config = spool, sender, config
        self.clock, self.halt, self.log, self.timeout, self.wall = clock, halt, log, timeout, wall
        self.directory = directory
        self.baseline_tried: set[int] = set()
        self.halted: dict[str, Any] | None = None
        self.sends = 0

    # ------------------------------------------------------------------ start

    def recover(self) -> None:
        """A batch left `inflight` by a crash is settled by a read, never resent blindly."""
        for batch in self.spool.recover():
            self.log(
                "recovering",
                batch=batch.id,
                workstation_id=batch.ws,
                quantity=batch.quantity,
                note="the relay stopped between sending and recording the answer; a read will tell",
            )

    # ------------------------------------------------------------------ one pass

    def policy(self, st: Station) -> tuple[float, float]:
        name = st.name or (self.directory.name_of(st.ws) if self.directory else None)
        return self.config.policy_for(st.ws, name)

    def tick(self, *, final: bool = False) -> float:
        """One pass; returns clock seconds until something may next be due (at most 1)."""
        halt = self.halt.read()
        if halt is not None:
            if self.halted is None:
                self.log(
                    "halted",
                    status=halt.get("status"),
                    request=halt.get("request"),
                    note="sending stopped; counting goes on; resumes after `reconciler halt clear`",
                )
            self.halted = halt
            return 1.0
        if self.halted is not None:
            self.log("resumed", note="the halt was cleared")
            self.halted = None

        now = self.clock.now()
        stations = {st.ws: st for st in self.spool.stations()}
        waiting = self.spool.batches(["uncertain"])
        blocked = {b.ws for b in waiting} | {b.ws for b in self.spool.batches(["inflight"])}
        settle_now = [
            b
            for b in waiting
            if self.wall() >= b.attempt_wall + self.timeout + self.config.settle_grace
            and (final or now >= stations[b.ws].next_try)
        ]
        dues: list[tuple[Station, str]] = []
        for st in stations.values():
            if st.ws in blocked:
                continue
            period, threshold = self.policy(st)
            reason = due(st, now, period, threshold, final=final)
            if reason and (final or st.flush or now >= st.next_try):
                dues.append((st, "retry" if st.failures and reason == "period" else reason))
        need_baseline = [st.ws for st, _ in dues if not st.baseline and st.ws not in self.baseline_tried]

        if settle_now or need_baseline:
            if not self._read(settle_now, need_baseline, stations, now):
                return 1.0
            stations = {st.ws: st for st in self.spool.stations()}
            dues = [
                (stations[st.ws], reason)
                for st, reason in dues
                if st.ws not in {b.ws for b in self.spool.batches(["uncertain"])}
            ]

        for st, reason in dues:
            if self.halt.read() is not None:
                break
            self._send(st, reason)
        return self._next_wake(now)

    def _next_wake(self, now: float) -> float:
        wake = 1.0
        for st in self.spool.stations():
            at = window_due(st, self.policy(st)[0])
            if at is not None:
                wake = min(wake, max(0.0, max(at, st.next_try) - now))
        return wake

    # ------------------------------------------------------------------ reading

    def _read(
        self, settle_now: list[Batch], need_baseline: list[int], stations: dict[int, Station], now: float
    ) -> bool:
        try:
            readings = list(self.sender.read_steps())
        except Exception as error:
            halted = isinstance(error, HaltedError)
            for ws in {b.ws for b in settle_now} | set(need_baseline):
                failures = stations[ws].failures + 1 if ws in stations else 1
                self.spool.failed_read(
                    ws, now, _message(error), now + backoff(failures, self.config.backoff, self.config.backoff_max)
                )
            self.log(
                "read_failed",
                error=_message(error),
                settling=[b.id for b in settle_now],
                baselines=need_baseline,
                halted=halted,
            )
            return False
        for batch in settle_now:
            self._settle(batch, readings, stations[batch.ws], now)
        for ws in need_baseline:
            self.baseline_tried.add(ws)
            st = stations[ws]
            found, name = steps_at(readings, ws, st.name or self._name(ws), self.spool.snapshot(ws))
            if found is None:
                self.log(
                    "no_baseline",
                    workstation_id=ws,
                    note="the list of lines does not show this workstation's steps; a send that gets no "
                    "answer will be reported, not settled (give its name in relay.workstations)",
                )
                continue
            self.spool.set_baseline(ws, found, name)
        return True

    def _name(self, ws: int) -> str | None:
        return self.directory.name_of(ws) if self.directory else None

    def _settle(self, batch: Batch, readings: list[StepReading], st: Station, now: float) -> None:
        snapshot = self.spool.snapshot(batch.ws)
        found, name = steps_at(readings, batch.ws, st.name or self._name(batch.ws), snapshot)
        verdict = settle(batch.quantity, found, snapshot if st.baseline else None, st.loose)
        fields = {
            "batch": batch.id,
            "workstation_id": batch.ws,
            "quantity": batch.quantity,
            "explanation": verdict.explanation,
        }
        if verdict.applied is True:
            self.spool.sent(batch, now, line=None, element=None, qty_done=None, note="settled by read: arrived")
            self.log("settled", verdict="arrived", **fields)
        elif verdict.applied is False:
            self.spool.void(batch, now, "settled by read: did not arrive", next_try=now)
            self.log("settled", verdict="did_not_arrive", **fields)
        else:
            self.spool.unknown(batch, now, verdict.explanation)
            self.log(
                "unsettled",
                verdict="unknown",
                **fields,
                hint=f"check workstation {batch.ws} in Epoptia, then run `reconciler station relay --resolve "
                f"{batch.id}:applied` if it arrived or `--resolve {batch.id}:resend` if it did not",
            )
        if found is not None:
            self.spool.set_baseline(batch.ws, found, name)

    # ------------------------------------------------------------------ sending

    def _send(self, st: Station, reason: str) -> None:
        now = self.clock.now()
        batch = self.spool.take(st.ws, now, reason, self.wall())
        if batch is None:
            return
        started = time.monotonic()
        try:
            answer = self.sender.complete(batch.ws, batch.quantity)
        except Exception as error:
            self._failed(batch, st, error, now, time.monotonic() - started)
            return
        self.sends += 1
        self.spool.sent(
            batch, self.clock.now(), line=answer.line_id, element=answer.element_id, qty_done=answer.qty_done
        )
        self.log(
            "sent",
            workstation_id=batch.ws,
            workstation=st.name or self._name(batch.ws),
            quantity=batch.quantity,
            events=batch.events,
            reason=reason,
            batch=batch.id,
            line=answer.line_id,
            qty_done=answer.qty_done,
            ms=round((time.monotonic() - started) * 1000, 1),
        )

    def _failed(self, batch: Batch, st: Station, error: BaseException, now: float, elapsed: float) -> None:
        kind = classify(error)
        retry = now + backoff(st.failures + 1, self.config.backoff, self.config.backoff_max)
        fields = {
            "workstation_id": batch.ws,
            "quantity": batch.quantity,
            "batch": batch.id,
            "reason": batch.reason,
            "error": _message(error),
            "ms": round(elapsed * 1000, 1),
        }
        if kind is Failure.UNCERTAIN:
            self.spool.uncertain(batch, now, _message(error), retry)
            self.log(
                "send_unanswered",
                **fields,
                note="a read will tell whether it arrived; nothing more is sent from this workstation until then",
            )
        elif kind is Failure.HALTED:
            self.spool.void(batch, now, _message(error), next_try=now)
            self.log("send_halted", **fields)
        else:
            self.spool.void(batch, now, _message(error), retry)
            self.log("send_refused", **fields, retry_in=round(retry - now, 1))


def _message(error: BaseException) -> str:
    text = getattr(error, "message", None) or str(error) or type(error).__name__
    # Redacted before it is cut and kept in the spool (a file, which no output stream's redaction covers):
    # a failure that is not the reconciler's own can quote the request, key and all.
    return " ".join(redact(str(text)).split())[:300]
