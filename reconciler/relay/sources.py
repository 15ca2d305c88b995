"""Where counts come from: standard input (a PLC gateway's pipe) and an MQTT broker.

Each source runs on its own thread and puts `Delivery`s on one queue. A
delivery's `ack` is called only after its lines are committed to the spool:
for standard input it writes `ok <line number>` on standard output (with
--ack), for MQTT it sends the PUBACK that the broker waits for before it
forgets a QoS 1 message. So a crash before the commit leaves the count with
its source, which sends it again.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import IO

from .config import Fields, Mqtt
from .events import BadEvent, parse_line, parse_payload
from .relay import Log, Parsed

EOF = object()


@dataclass
class Delivery:
    items: list[Parsed]
    ack: Callable[[], None] | None = None


def _parsed(source: str, raw: str, parse: Callable[[], object]) -> Parsed | None:
    try:
        event = parse()
    except BadEvent as error:
        return Parsed(source, raw, error=str(error))
    return None if event is None else Parsed(source, raw, event=event)  # type: ignore[arg-type]


class StdinSource:
    """One count per line; `ok N` on `ack_stream` once lines up to N are in the spool.

    Reads the file descriptor directly: a thread blocked in a buffered read of sys.stdin would
    abort the interpreter at exit.
    """

    name = "stdin"

    def __init__(self, fd: int, out: queue.Queue, fields: Fields, ack_stream: IO[str] | None) -> None:
        self.fd, self.out, self.fields, self.ack_stream = fd, out, fields, ack_stream
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="relay-stdin", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Take nothing more: a line read from now on is not acknowledged, so the gateway keeps it."""
        self.stopping.set()

    def close(self) -> None:
        pass  # a blocked read cannot be interrupted; the thread is a daemon and holds no lock

    def _lines(self) -> Iterator[bytes]:
        rest = b""
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except InterruptedError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                if rest:
                    yield rest
                return
            rest += chunk
            *lines, rest = rest.split(b"\n")
            yield from lines

    def _run(self) -> None:
        for number, raw_bytes in enumerate(self._lines(), start=1):
            raw = raw_bytes.decode("utf-8", errors="replace").rstrip("\r")
            item = _parsed(self.name, raw, partial(parse_line, raw, self.fields))
            if self.stopping.is_set():
                return
            self.out.put(Delivery([item] if item else [], self._acker(number)))
        self.out.put(EOF)

    def _acker(self, number: int) -> Callable[[], None] | None:
        if self.ack_stream is None:
            return None
        stream = self.ack_stream

        def ack() -> None:
            stream.write(f"ok {number}\n")
            stream.flush()

        return ack


class MqttSource:
    """Subscribes with a persistent session and acknowledges (PUBACK) only after the spool commit."""

    name = "mqtt"

    def __init__(self, config: Mqtt, client_id: str, out: queue.Queue, log: Log) -> None:
        self.config, self.client_id, self.out, self.log = config, client_id, out, log
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping = threading.Event()
        self.connected = threading.Event()
        self.thread = threading.Thread(target=self._thread, name="relay-mqtt", daemon=True)
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Take nothing more; what was taken can still be acknowledged until close()."""
        self.stopping.set()

    def close(self) -> None:
        if self.loop is not None and self._task is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._task.cancel)
        self.thread.join(timeout=5)

    def _thread(self) -> None:
        self.loop = asyncio.new_event_loop()
        try:
            self._task = self.loop.create_task(self._run())
            self.loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        finally:
            self.loop.close()

    async def _run(self) -> None:
        import aiomqtt

        config = self.config
        username = os.environ.get(config.username_env) if config.username_env else None
        password = os.environ.get(config.password_env) if config.password_env else None
        delay = 1.0
        while True:
            client = aiomqtt.Client(
                config.host,
                config.port,
                identifier=self.client_id,
                clean_session=False,
                username=username,
                password=password,
                keepalive=config.keepalive,
            )
            # aiomqtt acknowledges on receipt; paho's manual acks let the PUBACK wait for the spool.
            client._client.manual_ack_set(True)
            try:
                async with client:
                    for topic in config.topics:
                        await client.subscribe(topic, qos=config.qos)
                    self.connected.set()
                    self.log("mqtt_connected", host=config.host, port=config.port, topics=list(config.topics))
                    delay = 1.0
                    async for message in client.messages:
                        self._deliver(client, message)
            except aiomqtt.MqttError as error:
                self.connected.clear()
                self.log("mqtt_disconnected", error=str(error), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)

    def _deliver(self, client, message) -> None:
        if self.stopping.is_set():
            return  # not acknowledged: the broker delivers it again at the next connection (MQTT 4.4)
        topic = str(message.topic)
        payload = message.payload if isinstance(message.payload, (bytes, bytearray)) else str(message.payload).encode()
        raw = f"{topic} {bytes(payload).decode('utf-8', errors='replace')}"
        item = _parsed(
            self.name,
            raw,
            lambda: parse_payload(topic, bytes(payload), self.config.fields, self.config.topic_workstation),
        )
        ack = None
        if message.qos > 0:
            loop, paho, mid, qos = self.loop, client._client, message.mid, message.qos
            assert loop is not None  # set before the first message is delivered

            def ack() -> None:
                try:
                    loop.call_soon_threadsafe(paho.ack, mid, qos)
                except RuntimeError:  # the connection is gone: the broker delivers it again (and the id drops it)
                    pass

        self.out.put(Delivery([item] if item else [], ack))
