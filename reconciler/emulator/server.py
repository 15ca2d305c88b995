"""Run the emulator with uvicorn: in the foreground for `reconciler emulator serve`,
or on a background thread for the duration of one command (the built-in target)."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from ..epoptia.profile import DEFAULT_PROFILE, WireProfile
from .app import create_app
from .store import Store


def new_api_key() -> str:
    return "emu-" + secrets.token_hex(16)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free one, with no window for another process to take it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


class EmulatorServer:
    """An emulator on 127.0.0.1 for as long as the `with` block lasts."""

    def __init__(self, db: str | Path = ":memory:", *, api_keys: tuple[str, ...] = (),
                 profile: WireProfile = DEFAULT_PROFILE, host: str = "127.0.0.1", port: int = 0,
                 log_level: str = "critical") -> None:
        self.store = Store(db)
        self.app = create_app(self.store, profile, api_keys)
        self.sock = bind(host, port)
        self.host, self.port = self.sock.getsockname()[:2]
        config = uvicorn.Config(self.app, log_level=log_level, access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "EmulatorServer":
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True,
                                       name="epoptia-emulator")
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

    def __enter__(self) -> "EmulatorServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve(db: str, host: str, port: int, api_key: str, profile: WireProfile = DEFAULT_PROFILE,
          announce=print) -> None:
    """Serve in the foreground until Ctrl-C."""
    store = Store(db)
    app = create_app(store, profile, (api_key,))
    sock = bind(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    announce(f"Epoptia emulator listening on http://{bound_host}:{bound_port}")
    announce(f"API key: {api_key}")
    announce(f"Data: {db}")
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        store.close()
