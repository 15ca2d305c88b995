"""The emulator's process and socket: what it prints, how it refuses bad options, how fast a kept-alive client is served."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from reconciler.emulator.server import bind
from reconciler.epoptia.profile import Operation as Op

from .emulator_process import EmulatorProcess


def test_the_listening_socket_says_tcp_so_asyncio_sets_nodelay() -> None:
    sock = bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


def test_kept_alive_requests_do_not_stall(emulator: EmulatorProcess) -> None:
    emulator.call(Op.LIST_LINES)
    started = time.perf_counter()
    for _ in range(50):
        assert emulator.call(Op.LIST_LINES).status_code == 200
    # Without TCP_NODELAY each answer waits ~40 ms for delayed ACKs: 50 would take over 2 s.
    assert time.perf_counter() - started < 1.0


def test_serve_announces_url_then_admin_key_then_the_tenant(tmp_path: Path) -> None:
    process = EmulatorProcess(
        tmp_path / "e.sqlite",
        read_shape="rich",
        results="none",
        disabled_operations={"upsert_clients", "archive_lines"},
    ).start()
    try:
        assert process.url.startswith("http://127.0.0.1:")
        rest = [process.proc.stdout.readline().strip() for _ in range(3)]
        assert rest == [
            f"API key: {process.key}",
            f"Data: {tmp_path / 'e.sqlite'}",
            (
                "Tenant: read shape rich, list ids erp, write answers none, "
                "disabled operations archive_lines, upsert_clients"
            ),
        ]
    finally:
        process.stop()


def test_bad_options_are_refused_before_serving(tmp_path: Path) -> None:
    for flags, says in [
        (["--admin-key", "short"], "at least 8 characters"),
        (["--read-shape", "everything"], "invalid choice"),
        (["--disable", "no_such_operation"], "invalid choice"),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "reconciler.emulator", "--port", "0", "--db", ":memory:", *flags],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 2 and says in done.stderr and done.stdout == "", flags


def test_the_emulator_imports_only_the_wire_profile_from_the_product() -> None:
    """A second opinion only if it cannot share the reconciler's rules: checked in a fresh interpreter."""
    probe = (
        "import sys, reconciler.emulator.__main__; "
        "print(sorted(m for m in sys.modules if m.startswith('reconciler') and not m.startswith('reconciler.emulator')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "['reconciler', 'reconciler.epoptia', 'reconciler.epoptia.profile']"
