"""Many runs of the real CLI at the cost of one start-up: a fork server for tests that run it hundreds of times.

``python -m tests.cli_batch`` reads a JSON list of jobs on standard input, imports
the CLI and every command module once, then runs each job in a process of its
own, forked from that state: its own working folder, environment, arguments and
standard streams (files on disk), and ``reconciler.cli.main`` as the console
script calls it. Nothing a run does (a secret it registers, a module it
patches) reaches the next: each is a fresh process. It prints one JSON list of
exit codes. ``jobs`` run ``parallel`` at a time.

A job: {"argv": [...], "env": {...}, "cwd": "...", "stdin": "text" or null,
"out": path, "err": path, "bug": null or "send"}. ``bug: "send"`` makes every
HTTP request fail with an exception that is not the reconciler's and whose text
holds the request's headers (the API key among them), standing in for a bug on
the path that uses the key. A job's environment can also break the disk for its run:
``RECONCILER_TEST_DISK_FAULT`` (see tests/cli_faults.py) and ``RECONCILER_TEST_FSIZE`` (a file size limit,
in bytes, past which writes fail with EFBIG).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
from typing import Any


def _preload() -> None:
    import httpx  # noqa: F401

    from reconciler.cli import COMMANDS

    for module, _, _ in COMMANDS.values():
        importlib.import_module(f"reconciler.cli.{module}")
    for name in (
        "reconciler.commands.plan",
        "reconciler.commands.apply",
        "reconciler.commands.drift",
        "reconciler.commands.doctor",
        "reconciler.commands.imports",
        "reconciler.epoptia.client",
        "reconciler.relay.command",
        "reconciler.emulator.server",
    ):
        importlib.import_module(name)


def _plant_bug() -> None:
    import httpx

    def send(self: Any, request: httpx.Request, **kwargs: Any) -> Any:
        raise RuntimeError(f"simulated bug while sending {request.method} {request.url} with {request.headers!r}")

    httpx.Client.send = send  # type: ignore[method-assign]


def _child(job: dict[str, Any]) -> None:
    from reconciler.cli import main

    os.chdir(job["cwd"])
    os.environ.clear()
    os.environ.update(job["env"])
    stdin = os.open(job["stdin_path"], os.O_RDONLY) if job.get("stdin_path") else os.open(os.devnull, os.O_RDONLY)
    out = os.open(job["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    err = os.open(job["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for fd, target in ((stdin, 0), (out, 1), (err, 2)):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.argv = ["reconciler", *job["argv"]]
    if job.get("bug") == "send":
        _plant_bug()
    if os.environ.get("RECONCILER_TEST_DISK_FAULT"):
        from tests import cli_faults

        cli_faults.install()
    if os.environ.get("RECONCILER_TEST_FSIZE"):  # a file size limit: a write past it fails with EFBIG
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        limit = int(os.environ["RECONCILER_TEST_FSIZE"])
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    code: Any = 0
    try:
        main(job["argv"])
    except SystemExit as done:
        code = done.code
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # the run is over; its exit code is what matters
                stream.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))


def run_jobs(jobs: list[dict[str, Any]], parallel: int) -> list[int]:
    codes: list[int] = [-1] * len(jobs)
    running: dict[int, int] = {}
    pending = list(enumerate(jobs))
    while pending or running:
        while pending and len(running) < parallel:
            index, job = pending.pop(0)
            pid = os.fork()
            if pid == 0:
                try:
                    _child(job)
                finally:
                    os._exit(99)
            running[pid] = index
        pid, status = os.wait()
        codes[running.pop(pid)] = os.waitstatus_to_exitcode(status)
    return codes


def main() -> None:
    request = json.load(sys.stdin)
    _preload()
    sys.stdout.flush()
    print(json.dumps(run_jobs(request["jobs"], int(request.get("parallel", 1)))))


if __name__ == "__main__":
    main()
