"""The long-running loop: sources -> intake (spool, then acknowledge) on the main thread, sends on another.

SIGTERM or SIGINT (and the end of standard input, when it is the only source)
stop the intake, spool what was already read, and make one last pass that sends
every pending sum (`shutdown`), whatever its period. What cannot go (Epoptia out
of reach, a halt) stays in the spool for the next start.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from .clock import Clock
from .config import RelayConfig
from .relay import HaltLike, Intake, Log, Relay
from .sender import Sender, WorkstationDirectory
from .sources import EOF, Delivery
from .spool import Spool

DRAIN = 2000  # deliveries spooled in one transaction at most
BACKLOG = 2 * DRAIN  # deliveries read but not yet spooled; a full queue stops the sources reading (backpressure)


class Source(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> None:
        """Take nothing more from the source; what was taken can still be acknowledged."""

    def close(self) -> None:
        """Let go of the source (after the last acknowledgement)."""


def run(
    *,
    spool_path: Path,
    config: RelayConfig,
    sender: Sender,
    directory: WorkstationDirectory,
    clock: Clock,
    halt: HaltLike,
    timeout: float,
    log: Log,
    make_sources: Callable[[queue.Queue], list[Source]],
    stop: threading.Event | None = None,
    wall: Callable[[], float] = time.time,
) -> dict[str, Any]:
    stop = stop or threading.Event()
    deliveries: queue.Queue = queue.Queue(maxsize=BACKLOG)
    intake_spool = Spool(spool_path, synchronous=config.synchronous)
    send_spool = Spool(spool_path, synchronous=config.synchronous)
    relay = Relay(
        send_spool, sender, config, clock=clock, halt=halt, log=log, timeout=timeout, directory=directory, wall=wall
    )
    intake = Intake(intake_spool, directory, clock, log)
    relay.recover()

    finishing, wake = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def send_loop() -> None:
        while not finishing.is_set():
            wake.clear()
            try:
                wait = relay.tick()
            except Exception as error:
                log("internal_error", error=f"{type(error).__name__}: {error}")
                wait = 1.0
            clock.wait(wake, wait)
        try:
            relay.tick(final=True)
        except BaseException as error:
            failure.append(error)

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)

    sources = make_sources(deliveries)
    only_stdin = [s.name for s in sources] == ["stdin"]
    sender_thread = threading.Thread(target=send_loop, name="relay-send", daemon=True)
    log("started", spool=str(spool_path), inputs=[s.name for s in sources], period=config.period)
    sender_thread.start()
    for source in sources:
        source.start()
    last_prune = clock.now()
    try:
        while not stop.is_set():
            try:
                first = deliveries.get(timeout=0.1)
            except queue.Empty:
                continue
            if _absorb(intake, _drain(deliveries, first), wake) and only_stdin:
                break
            if clock.now() - last_prune > 3600:
                last_prune = clock.now()
                intake_spool.forget_keys(last_prune - config.dedupe_window)
    finally:
        for source in sources:
            source.stop()
        while True:  # what was read but not yet spooled: spool it and acknowledge it
            try:
                first = deliveries.get_nowait()
            except queue.Empty:
                break
            _absorb(intake, _drain(deliveries, first), wake)
        for source in sources:
            source.close()
        finishing.set()
        wake.set()
        sender_thread.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        left = sum(st.pending for st in intake_spool.stations())
        open_batches = len(intake_spool.batches(["inflight", "uncertain"]))
        log("stopped", absorbed=intake.absorbed, sends=relay.sends, pending_left=left, unsettled=open_batches)
        intake_spool.close()
        send_spool.close()
    if failure:
        raise failure[0]
    return {"absorbed": intake.absorbed, "sends": relay.sends, "pending_left": left}


def _drain(deliveries: queue.Queue, first: object) -> list[object]:
    got = [first]
    while len(got) < DRAIN:
        try:
            got.append(deliveries.get_nowait())
        except queue.Empty:
            break
    return got


def _absorb(intake: Intake, got: list[object], wake: threading.Event) -> bool:
    """Spool, then acknowledge; True when standard input ended."""
    batch = [d for d in got if isinstance(d, Delivery)]
    intake.absorb(item for d in batch for item in d.items)
    for d in batch:
        if d.ack is not None:
            d.ack()
    wake.set()
    return any(d is EOF for d in got)
