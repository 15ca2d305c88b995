"""Run the emulator with uvicorn: in the foreground for `reconciler emulator serve`,
or on a background thread for the duration of one command (the built-in target)."""

from __future__ import annotations

import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import uvicorn

from ..epoptia.profile import DEFAULT_PROFILE, WireProfile
from .app import create_app
from .options import EmulatorOptions, resolve
from .store import Store

SHUTDOWN_GRACE_SECONDS = 2


def new_api_key() -> str:
    return "emu-" + secrets.token_hex(16)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free one, with no window for another process to take it."""
    # IPPROTO_TCP, not 0: asyncio turns on TCP_NODELAY for accepted sockets only when the socket's
    # proto says TCP, and without it every answer on a kept-alive connection waits ~40 ms for
    # Nagle and delayed ACKs.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def _uvicorn(app: Any, log_level: str) -> uvicorn.Server:
    # A bounded graceful shutdown: an answer held by a fault (hold_ms, latency_ms) must not keep
    # a stopping emulator alive for its whole duration.
    return uvicorn.Server(
        uvicorn.Config(
            app, log_level=log_level, access_log=False, lifespan="off", timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS
        )
    )


class EmulatorServer:
    """An emulator on 127.0.0.1 for as long as the `with` block lasts.

    ``options`` (or keyword ``settings``: read_shape, list_ids, results, disabled_operations,
    admin_key) say what kind of tenant it plays; ``self.options.admin_key`` opens /_emulator/.
    """

    def __init__(
        self,
        db: str | Path = ":memory:",
        *,
        api_keys: tuple[str, ...] = (),
        profile: WireProfile = DEFAULT_PROFILE,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "critical",
        options: EmulatorOptions | None = None,
        **settings: Any,
    ) -> None:
        self.options = resolve(options, settings)
        self.store = Store(db)
        self.app = create_app(self.store, profile, api_keys, self.options)
        self.sock = bind(host, port)
        self.host, self.port = self.sock.getsockname()[:2]
        self.server = _uvicorn(self.app, log_level)
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def admin_key(self) -> str:
        return self.options.admin_key

    def start(self) -> Self:
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True, name="epoptia-emulator"
        )
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the built-in emulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.sock.close()
        self.store.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(
    db: str,
    host: str,
    port: int,
    api_key: str,
    profile: WireProfile = DEFAULT_PROFILE,
    announce: Callable[[str], Any] = print,
    *,
    options: EmulatorOptions | None = None,
    **settings: Any,
) -> None:
    """Serve in the foreground until Ctrl-C.

    The first line announced is exactly ``Epoptia emulator listening on http://HOST:PORT`` and the
    second ``Admin key: ...`` (tests and scripts read them); ``options``/``settings`` as for
    EmulatorServer.
    """
    options = resolve(options, settings)
    store = Store(db)
    try:
        app = create_app(store, profile, (api_key,), options)
        sock = bind(host, port)
    except BaseException:
        store.close()
        raise
    bound_host, bound_port = sock.getsockname()[:2]
    announce(f"Epoptia emulator listening on http://{bound_host}:{bound_port}")
    announce(f"Admin key: {options.admin_key}")
    announce(f"API key: {api_key}")
    announce(f"Data: {db}")
    announce("Tenant: " + _describe(options))
    if threading.current_thread() is threading.main_thread():
        # uvicorn stops gracefully on SIGTERM, then raises the signal again with the handler it found:
        # with this one, that is a normal exit (code 0, the store closed), not a death by the signal.
        signal.signal(signal.SIGTERM, _stopped)
    try:
        _uvicorn(app, "warning").run(sockets=[sock])
    finally:
        sock.close()
        store.close()


def _stopped(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def _describe(options: EmulatorOptions) -> str:
    disabled = ", ".join(sorted(op.value for op in options.disabled_operations)) or "none"
    return (
        f"read shape {options.read_shape}, list ids {options.list_ids}, write answers {options.results}, "
        f"disabled operations {disabled}"
    )
