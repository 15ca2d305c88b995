"""Hardening, proved through the real command line: hostile repositories, garbage manifests, broken disks and
refused keys never leak a secret, run code, crash or lose the state.

1. Secrets: keys from a generated alphabet (blanks, line breaks, control and
   invisible characters, non-ASCII) go through every command that reads a key
   and every way a request can fail; every output stream, every file written in
   the repository, the cache folder and the crash folder is searched for the
   key and each of its parts.
2. No code from the repository or the cache (planted pickles), symbolic links
   out of the repository, and YAML bombs.
3. Configuration: plain http to a remote host, paths outside the repository.
4. Broken disks while the state and the caches are written.
5. An internal error: exit 3, a named traceback file, nothing on the terminal.
6. Damaged states: every command refuses them alike.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import COMMANDS

from .conftest import ROOT
from .emulator_process import EmulatorProcess

KEY_ENV = "EPOPTIA_HARDENING_KEY"

# --------------------------------------------------------------------------- secrets and where they could hide

# Mixed case without look-alikes: a generated part never reads as hex (digests, lineages) or as a word of output.
_SAFE = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"


def generated_keys(seed: int = 12) -> dict[str, str]:
    """One key per kind of damage a key picks up on its way from a web page to an environment variable."""
    rng = random.Random(seed)

    def part() -> str:
        return "".join(rng.choice(_SAFE) for _ in range(rng.randint(6, 10)))

    return {
        "normal": part() + part() + part(),
        "unknown to Epoptia": part() + "-" + part(),
        "leading space": " " + part() + part(),
        "trailing space": part() + part() + " ",
        "trailing line break": part() + part() + "\n",
        "carriage return": part() + part() + "\r\n",
        "tab inside": part() + "\t" + part(),
        "pasted with its label": part() + " " + part() + "\n" + part(),
        "terminal escape": part() + "\x1b[2J" + part() + "\x07",
        "delete character": part() + "\x7f" + part(),
        "non-ASCII letters": part() + "κλειδί€" + part(),
        "zero-width space": part() + "\u200b" + part(),
        "non-breaking space": "\u00a0" + part() + part(),
    }


INVALID_KEYS = [name for name in generated_keys() if name not in ("normal", "unknown to Epoptia")]


def secret_needles(secret: str) -> dict[str, bytes]:
    """The secret, and every part of it 4 characters or longer, as they could appear in any text or file:
    as written, JSON-escaped (non-ASCII as \\u escapes), or repr'd."""
    parts = {secret, secret.strip()}
    parts.update(re.split(r"[^0-9A-Za-z]+", secret))  # the ASCII runs between odd characters
    parts.update(re.split(r"[\s\x00-\x1f\x7f-\x9f\u200b]+", secret))  # the visible runs, unicode included
    needles: dict[str, bytes] = {}
    for text in parts:
        if len(text) < 4:
            continue
        for form in (text, json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1], repr(text)[1:-1]):
            needles[f"{form!r} (of {secret!r})"] = form.encode("utf-8", "surrogatepass")
    return needles


def _git_objects(repository: Path) -> bytes:
    """Every object of a git repository, decompressed (a secret committed anywhere would be in one)."""
    found = subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch"], cwd=repository, capture_output=True, check=False
    )
    return found.stdout


def leaks(needles: dict[str, bytes], places: list[Path], texts: dict[str, str]) -> list[str]:
    """Where any needle occurs: in ``texts`` (output streams), or in any file under ``places``."""
    found = []

    def search(label: str, data: bytes) -> None:
        found.extend(f"{label}: {name}" for name, needle in needles.items() if needle in data)

    for label, text in texts.items():
        search(label, text.encode("utf-8", "surrogatepass"))
    for place in places:
        for path in sorted(place.rglob("*")):
            if path.is_file() and not path.is_symlink():
                search(str(path), path.read_bytes())
            if path.name in (".git",) or path.suffix == ".git":
                search(f"{path} (objects)", _git_objects(path))
        if (place / "HEAD").is_file() and (place / "objects").is_dir():  # a bare repository
            search(f"{place} (objects)", _git_objects(place))
    return found


# --------------------------------------------------------------------------- running the CLI in bulk


@dataclass
class Run:
    """One CLI run of a batch, with everything it could have written to."""

    label: str
    argv: list[str]
    secrets: list[str]
    folder: Path
    stdin: str | None = None
    bug: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    code: int = -1

    @property
    def repo(self) -> Path:
        return self.folder / "repo"

    @property
    def out(self) -> str:
        return (self.folder / "stdout").read_text(encoding="utf-8", errors="replace")

    @property
    def err(self) -> str:
        return (self.folder / "stderr").read_text(encoding="utf-8", errors="replace")

    def env(self, key: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RECONCILER_", "EPOPTIA_"))}
        env.update(
            NO_COLOR="1",
            RECONCILER_CACHE_DIR=str(self.folder / "cache"),
            TMPDIR=str(self.folder / "tmp"),
            GIT_AUTHOR_NAME="t",
            GIT_AUTHOR_EMAIL="t@example.invalid",
            GIT_COMMITTER_NAME="t",
            GIT_COMMITTER_EMAIL="t@example.invalid",
            **self.extra_env,
        )
        if key is not None:
            env[KEY_ENV] = key
        return env

    def places(self) -> list[Path]:
        return [self.folder]  # the repository, the cache folder, the crash folder, the git origin

    def where(self) -> str:
        return f"[{self.label}] reconciler {' '.join(self.argv)} -> exit {self.code}\n{self.out}\n{self.err}"


def run_batch(runs: list[Run], keys: dict[int, str | None], parallel: int = 3) -> None:
    """Run every ``runs[i]`` with ``keys[i]`` in its environment, through tests/cli_batch.py."""
    jobs = []
    for i, run in enumerate(runs):
        (run.folder / "tmp").mkdir(parents=True, exist_ok=True)
        stdin_path = None
        if run.stdin is not None:
            stdin_path = str(run.folder / "stdin")
            Path(stdin_path).write_text(run.stdin, encoding="utf-8")
        jobs.append(
            {
                "argv": run.argv,
                "env": run.env(keys[i]),
                "cwd": str(run.repo),
                "stdin_path": stdin_path,
                "out": str(run.folder / "stdout"),
                "err": str(run.folder / "stderr"),
                "bug": run.bug,
            }
        )
    done = subprocess.run(
        [sys.executable, "-m", "tests.cli_batch"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        input=json.dumps({"jobs": jobs, "parallel": parallel}),
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for run, code in zip(runs, json.loads(done.stdout.splitlines()[-1]), strict=True):
        run.code = code
        if (run.folder / "stdin").exists():
            (run.folder / "stdin").unlink()  # what the test gave it, not what it wrote


# --------------------------------------------------------------------------- tenants that fail


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EchoingTenant:
    """An HTTP server that answers every request with ``status`` and an error page quoting the key it was sent,
    as a proxy or a careless error handler in front of a tenant might. A long first sentence puts the key
    across the 200-character cut of error excerpts."""

    def __init__(self, status: int) -> None:
        tenant = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                token = self.headers.get("X-Auth-Token", "")
                text = ("The request could not be completed because of the state of the account " * 2)[:185]
                body = json.dumps({"error": f"{text} invalid X-Auth-Token {token} for this tenant"}).encode()
                self.send_response(tenant.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

        self.status = status
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def target_config(endpoint: str, *, timeout: float = 5.0) -> str:
    return (
        "manifests: manifests\ndefault_target: t\ntargets:\n  t:\n"
        f"    endpoint: {endpoint}\n    api_key_env: {KEY_ENV}\n    state: state/t.json\n"
        "    throttle: {read_interval: 0, write_interval: 0}\n"
        f"    retries: {{attempts: 1, backoff: 0.05}}\n    timeout: {timeout}\n"
    )


def make_repo(folder: Path, config: str, *, git: bool = False) -> Path:
    repo = folder / "repo"
    shutil.copytree(ROOT / "manifests", repo / "manifests")
    (repo / "reconciler.yaml").write_text(config, encoding="utf-8")
    if git:
        origin = folder / "origin.git"
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.invalid",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.invalid",
        }
        for args, cwd in (
            (["init", "-q", "--bare", str(origin)], folder),
            (["init", "-q", "-b", "main"], repo),
            (["add", "-A"], repo),
            (["commit", "-qm", "factory"], repo),
            (["remote", "add", "origin", str(origin)], repo),
            (["push", "-q", "origin", "main"], repo),
        ):
            subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)
    return repo


# --------------------------------------------------------------------------- 1. the key test

OPERATOR, PASSWORD_SEED = "op-harden", 77
WORKSTATION = "1"

# Every command that reads a key, with arguments that make it use it. A command added to the CLI must be
# put here or in NO_KEY (test_every_command_is_classified), so that it cannot escape this test.
KEY_READERS: dict[str, tuple[list[str], str | None]] = {
    "plan": (["plan"], None),
    "apply": (["apply", "--auto-approve"], None),
    "drift": (["drift"], None),
    "import": (["import", "--out", "imported"], None),
    "doctor": (["doctor"], None),
    "workflows": (["workflows"], None),
    "station start": (["station", "start", "--workstation", WORKSTATION], None),
    "station pause": (["station", "pause", "--workstation", WORKSTATION], None),
    "station cancel": (["station", "cancel", "--workstation", WORKSTATION], None),
    "station complete": (["station", "complete", "--workstation", WORKSTATION, "--quantity", "5"], None),
    "station relay": (["station", "relay"], f"{WORKSTATION},5\n"),
    "operator login": (["operator", "login", "--username", OPERATOR, "--password", "<password>"], None),
    "operator logout": (["operator", "logout", "--token", "<token>"], None),
    "ci run": (["ci", "run", "--", "plan"], None),
}
# ci apply, ci lease and ci comment: ci apply runs the plan and apply above in the queue `ci run` tests,
# lease reads only git, comment only GitHub's token.
NO_KEY = {"validate", "show", "force-unlock", "halt", "init", "schema", "fmt", "emulator"}


def test_every_command_is_classified() -> None:
    assert {name.split()[0] for name in KEY_READERS} | NO_KEY == set(COMMANDS)


def operator_secrets() -> tuple[str, str]:
    """A password and an operator token from the same alphabet: secrets the CLI takes as options."""
    rng = random.Random(PASSWORD_SEED)
    return ("".join(rng.choice(_SAFE) for _ in range(12)), "".join(rng.choice(_SAFE) for _ in range(16)))


@pytest.fixture(scope="module")
def key_tenant(tmp_path_factory: pytest.TempPathFactory):
    """The emulator, accepting the generated normal key, with an operator whose password is a secret too."""
    keys = generated_keys()
    process = EmulatorProcess(tmp_path_factory.mktemp("key-tenant") / "emulator.sqlite", key=keys["normal"]).start()
    password, _ = operator_secrets()
    process.emulator_post("operators", {"username": OPERATOR, "password": password})
    try:
        yield process
    finally:
        process.stop()


def _runs_for(
    folder: Path, label: str, endpoint: str, commands: list[str], *, bug: str | None = None, timeout: float = 5.0
) -> list[Run]:
    password, token = operator_secrets()
    runs = []
    for name in commands:
        argv, stdin = KEY_READERS[name]
        argv = [password if a == "<password>" else token if a == "<token>" else a for a in argv]
        slug = re.sub(r"\W+", "-", f"{label}-{name}")
        run = Run(f"{label}: {name}", argv, [password, token], folder / slug, stdin=stdin, bug=bug)
        make_repo(run.folder, target_config(endpoint, timeout=timeout), git=name == "ci run")
        runs.append(run)
    return runs


def _check(runs: list[Run], keys: list[str | None]) -> list[str]:
    """Leaks of each run's key and secrets, and any traceback on a terminal; [] when clean."""
    problems = []
    for run, key in zip(runs, keys, strict=True):
        needles: dict[str, bytes] = {}
        for secret in [*(s for s in [key] if s), *run.secrets]:
            needles.update(secret_needles(secret))
        problems += [
            f"{run.where()}\nLEAK {place}"
            for place in leaks(needles, run.places(), {"stdout": run.out, "stderr": run.err})
        ]
        if "Traceback" in run.out + run.err:
            problems.append(f"{run.where()}\nTRACEBACK on the terminal")
    return problems


def test_no_key_leaks_from_any_command_with_any_key(key_tenant: EmulatorProcess, tmp_path: Path) -> None:
    """Every command with the normal key, a key Epoptia does not know (401) and the damaged keys; the damaged
    ones are refused before any request, with a message that names the variable and never the key."""
    keys = generated_keys()
    runs: list[Run] = []
    run_keys: list[str | None] = []
    commands = list(KEY_READERS)
    for name in ("normal", "unknown to Epoptia"):
        for run in _runs_for(tmp_path, name, key_tenant.url, commands):
            runs.append(run)
            run_keys.append(keys[name])
    # The built-in emulator takes the target's key as its own (a user's real key, when the variable is set
    # for production): its database is in the repository's .reconciler/ folder.
    for run in _runs_for(tmp_path, "built-in emulator", "emulator", commands):
        runs.append(run)
        run_keys.append(keys["normal"])
    # Each command gets two damaged keys, each damaged key several commands, and `plan` every one of them.
    for i, name in enumerate(commands):
        for invalid in {INVALID_KEYS[i % len(INVALID_KEYS)], INVALID_KEYS[(i + 5) % len(INVALID_KEYS)]}:
            run = _runs_for(tmp_path, invalid, key_tenant.url, [name])[0]
            runs.append(run)
            run_keys.append(keys[invalid])
    for invalid in INVALID_KEYS:
        run = _runs_for(tmp_path, f"plan-{invalid}", key_tenant.url, ["plan"])[0]
        runs.append(run)
        run_keys.append(keys[invalid])
    run_batch(runs, dict(enumerate(run_keys)), parallel=4)

    problems = _check(runs, run_keys)
    for run, key in zip(runs, run_keys, strict=True):
        if run.code == 3:
            problems.append(f"{run.where()}\nINTERNAL ERROR")
        if key in (keys["normal"], keys["unknown to Epoptia"]):
            continue
        # A damaged key: refused before anything is sent, in words that name the variable, not the key.
        said = run.err
        if run.code != 1 or f"the API key in ${KEY_ENV} cannot be used" not in said:
            problems.append(f"{run.where()}\nNOT REFUSED CLEARLY")
    ok = {run.label.split(": ")[1]: run for run in runs if run.label.startswith("normal: ")}
    assert ok["plan"].code == 0 and "Plan: " in ok["plan"].out, ok["plan"].where()
    assert ok["apply"].code == 0 and "Apply complete" in ok["apply"].out, ok["apply"].where()
    assert ok["operator login"].code == 0, ok["operator login"].where()
    unknown = {run.label.split(": ")[1]: run for run in runs if run.label.startswith("unknown to Epoptia: ")}
    for name in ("plan", "apply", "drift", "doctor", "workflows"):
        assert "refused the API key" in unknown[name].out + unknown[name].err, unknown[name].where()
    assert problems == [], "\n\n".join(problems)


FAILURES = [
    "connection refused",
    "timeout",
    "HTTP 503",
    "echoed in a 401",
    "echoed in a 403",
    "echoed in a 500",
    "a bug on the request path",
]


def test_no_key_leaks_when_requests_fail(key_tenant: EmulatorProcess, tmp_path: Path) -> None:
    """Every command, with a valid key, against each way a request fails; the key never shows, a failure
    is an error a person can read (exit 1), a bug exits 3 with its traceback in a file, all without the key."""
    keys = generated_keys()
    key = keys["normal"]
    echo = {status: EchoingTenant(status) for status in (401, 403, 500)}
    commands = list(KEY_READERS)
    # `ci run` runs the command in a process of its own (whose failures are the command's): with the key
    # refused (above), echoed and a bug, not again with every failure of the plan it runs.
    most = [name for name in commands if name != "ci run"]
    some = ["plan", "apply", "drift", "doctor", "station complete", "station relay", "operator login"]
    try:
        groups: dict[str, list[Run]] = {
            "connection refused": _runs_for(tmp_path, "refused", f"http://127.0.0.1:{closed_port()}", most),
            "echoed in a 401": _runs_for(tmp_path, "echo401", echo[401].url, commands),
            "echoed in a 403": _runs_for(tmp_path, "echo403", echo[403].url, most),
            "echoed in a 500": _runs_for(tmp_path, "echo500", echo[500].url, some),
            "a bug on the request path": _runs_for(tmp_path, "bug", key_tenant.url, commands, bug="send"),
        }
        runs = [run for group in groups.values() for run in group]
        run_batch(runs, dict.fromkeys(range(len(runs)), key), parallel=4)
        # The emulator's own faults, one switch at a time.
        groups["HTTP 503"] = _runs_for(tmp_path, "503", key_tenant.url, most)
        key_tenant.faults(error_rate=1.0)
        run_batch(groups["HTTP 503"], dict.fromkeys(range(len(most)), key), parallel=4)
        groups["timeout"] = _runs_for(tmp_path, "timeout", key_tenant.url, most, timeout=0.3)
        key_tenant.faults(latency_ms=1500)
        run_batch(groups["timeout"], dict.fromkeys(range(len(most)), key), parallel=len(most))
    finally:
        key_tenant.faults()
        for server in echo.values():
            server.stop()

    assert set(groups) == set(FAILURES)
    runs = [run for group in groups.values() for run in group]
    problems = _check(runs, [key] * len(runs))
    for failure, group in groups.items():
        for run in group:
            if failure == "a bug on the request path":
                problems += _bug_problems(run, key)
            elif run.code == 3:
                problems.append(f"{run.where()}\nINTERNAL ERROR for {failure}")
            elif run.argv[:2] != ["station", "relay"] and not (  # the relay logs its failures and goes on
                (run.code == 1 and "Error: " in run.err)  # what failed, where, what to do
                or (run.argv[0] == "doctor" and run.code == 1 and "FAILED" in run.out)
                or (run.argv[0] == "plan" and run.code == 0 and "Warning: could not read Epoptia" in run.err)
            ):
                problems.append(f"{run.where()}\nNOT A CLEAR ERROR for {failure}")
    plan = {run.label: run for run in groups["echoed in a 401"]}["echo401: plan"]
    assert "refused the API key" in plan.err, plan.where()
    assert problems == [], "\n\n".join(problems)


def _bug_problems(run: Run, key: str) -> list[str]:
    """A bug: exit 3 and a traceback file named on stderr (the relay logs it and goes on); never a traceback
    on the terminal; the file holds the traceback but not the key (checked with every file, by _check)."""
    if run.argv[:2] == ["station", "relay"]:
        return [] if run.code in (0, 1) else [f"{run.where()}\nrelay died"]
    if run.argv[0] == "ci":
        return []  # the command it runs is a process of its own, without the planted bug
    named = re.search(r"the traceback is in (\S+);", run.err)
    if run.code != 3 or named is None:
        return [f"{run.where()}\nNO CLEAN INTERNAL ERROR"]
    crash = Path(named.group(1))
    if not crash.is_file() or "simulated bug" not in crash.read_text(encoding="utf-8"):
        return [f"{run.where()}\nNO TRACEBACK FILE"]
    if not crash.resolve().is_relative_to(run.folder.resolve()):
        return [f"{run.where()}\nTRACEBACK FILE OUTSIDE TMPDIR: {crash}"]
    return []


# --------------------------------------------------------------------------- shared: a repository on an emulator


def cli(
    repo: Path,
    *args: str,
    key: str | None = None,
    cache: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`python -m reconciler ARGS` in ``repo``, with its own cache and crash folders (next to the repository)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("RECONCILER_", "EPOPTIA_"))}
    (repo.parent / "tmp").mkdir(exist_ok=True)
    full.update(
        NO_COLOR="1",
        RECONCILER_CACHE_DIR=str(cache or repo.parent / "cache"),
        TMPDIR=str(repo.parent / "tmp"),
        **(env or {}),
    )
    if key is not None:
        full[KEY_ENV] = key
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=repo,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def said(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}"


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr and "Internal error" not in result.stderr, said(result)


@pytest.fixture
def applied(tmp_path: Path, emulator: EmulatorProcess) -> Path:
    """The sample factory applied to a fresh emulator: a repository with a state file and warm caches."""
    repo = make_repo(tmp_path, target_config(emulator.url))
    result = cli(repo, "apply", "--auto-approve", key=emulator.key)
    assert result.returncode == 0, said(result)
    again = cli(repo, "plan", "--detailed-exitcode", key=emulator.key)  # indexes the state: its cache too
    assert again.returncode == 0 and "No changes." in again.stdout, said(again)
    return repo


# --------------------------------------------------------------------------- 2. no code from the repository


class _Planted:
    """Unpickling this creates ``marker``: proof that a pickle was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("where", ["files", "rows"])
def test_a_planted_pickle_is_never_loaded_and_the_commands_still_work(
    applied: Path, emulator: EmulatorProcess, where: str
) -> None:
    """files: pickles in the repository's old cache place and as every file of the cache folder.
    rows: pickles in every value of the cache databases (a cache that is damaged, not only foreign)."""
    import sqlite3

    marker = applied.parent / "PICKLE-RAN"
    bomb = pickle.dumps(_Planted(marker))
    cache = applied.parent / "cache"
    folders = [p for p in cache.iterdir() if p.is_dir()]
    assert len(folders) == 1 and {"manifests.sqlite", "state.sqlite"} <= {p.name for p in folders[0].iterdir()}
    (applied / ".reconciler/cache").mkdir(parents=True, exist_ok=True)
    for name in ("manifests.pickle", "state.pickle", "index.pkl"):
        (applied / ".reconciler/cache" / name).write_bytes(bomb)
        (folders[0] / name).write_bytes(bomb)
    for path in sorted(folders[0].iterdir()):
        if where == "files":
            path.write_bytes(bomb)
        elif path.suffix == ".sqlite":
            db = sqlite3.connect(path)
            if path.name == "manifests.sqlite":
                assert db.execute("UPDATE files SET entries = ?, payloads = ?", (bomb, bomb)).rowcount == 8
            assert db.execute("UPDATE blobs SET value = ?", (bomb,)).rowcount >= 2
            db.commit()
            db.close()
    for _ in range(2):  # and again, on whatever the first run left
        validated = cli(applied, "validate", key=emulator.key)
        assert validated.returncode == 0, said(validated)
        assert validated.stdout.startswith("Valid: 8 files"), said(validated)
        planned = cli(applied, "plan", "--detailed-exitcode", key=emulator.key)
        assert planned.returncode == 0 and "No changes." in planned.stdout, said(planned)
        assert not marker.exists(), "a planted pickle was loaded"
        no_traceback(planned)


# --------------------------------------------------------------------------- 2. symbolic links out of the repository


@pytest.mark.parametrize("link", ["file", "folder"])
def test_a_link_out_of_the_repository_is_refused_by_name(tmp_path: Path, link: str) -> None:
    """Read by nothing (its values are never quoted), written by nothing (fmt), refused by name, exit 1."""
    outside = tmp_path / "outside"
    secret_text = "kind: Client\nid:    C-9999\nname:   'OUTSIDE-VALUE-Zq7'\nvat_rate: 240\n"  # invalid, unformatted
    (outside / "folder").mkdir(parents=True)
    (outside / "client.yaml").write_text(secret_text, encoding="utf-8")
    (outside / "folder/client.yaml").write_text(secret_text, encoding="utf-8")
    repo = make_repo(tmp_path / "r", target_config("emulator"))
    name = "manifests/elsewhere.yaml" if link == "file" else "manifests/elsewhere"
    (repo / name).symlink_to(outside / ("client.yaml" if link == "file" else "folder"))
    for command in (["validate"], ["plan", "--no-refresh"], ["fmt"], ["fmt", "--check"]):
        result = cli(repo, *command)
        assert result.returncode == 1, said(result)
        assert (
            f"{name} is a symbolic link to {outside / ('client.yaml' if link == 'file' else 'folder')}, "
            "outside the repository" in result.stderr
        ), said(result)
        assert "OUTSIDE-VALUE" not in result.stdout + result.stderr, said(result)
        no_traceback(result)
    assert (outside / "client.yaml").read_text(encoding="utf-8") == secret_text
    assert (outside / "folder/client.yaml").read_text(encoding="utf-8") == secret_text


def test_a_planted_link_never_makes_apply_write_outside_the_repository(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    """A cloned repository can hold links where the state's companions go (lock, write-ahead file, backup)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    repo = make_repo(tmp_path / "r", target_config(emulator.url))
    (repo / "state").mkdir()
    for suffix in ("wal", "backup", "lock.json"):
        (outside / suffix).write_text(f"precious {suffix}\n", encoding="utf-8")
        (repo / f"state/t.json.{suffix}").symlink_to(outside / suffix)
    result = cli(repo, "apply", "--auto-approve", key=emulator.key)
    assert result.returncode == 1, said(result)
    assert "state/t.json.wal" in result.stderr and "symbolic links" in result.stderr, said(result)
    no_traceback(result)
    assert {p.name: p.read_text(encoding="utf-8") for p in outside.iterdir()} == {
        s: f"precious {s}\n" for s in ("wal", "backup", "lock.json")
    }


# --------------------------------------------------------------------------- 2. YAML bombs

_BOMB_LEVELS = 9


def _alias_bomb() -> str:
    lines = ["kind: Client", "id: C-1", "name: x", 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, _BOMB_LEVELS + 1)]
    return "\n".join(lines) + "\n"


BOMBS = {
    # name: (file text, where the problem is, words of the problem)
    "alias bomb": (_alias_bomb, "manifests/bomb.yaml:10:", "alias bomb"),
    "100,000-deep nesting": (
        lambda: "kind: Client\nid: C-1\nname: " + "[" * 100_000 + "]" * 100_000 + "\n",
        "manifests/bomb.yaml:3:",
        "nesting deeper than 64 levels",
    ),
    "integer of 5,000 digits": (
        lambda: "kind: Client\nid: C-1\nname: x\nvat_rate: " + "9" * 5000 + "\n",
        "manifests/bomb.yaml:4:11:",
        "number too long: 5,000 digits",
    ),
    "1,000,000 bad tags": (
        lambda: "kind: Client\nitems:\n" + "".join(f"  - !bad{i} x\n" for i in range(1_000_000)),
        "manifests/bomb.yaml:3:5:",
        "could not determine a constructor for the tag '!bad0'",
    ),
    "50,000 unknown fields": (
        lambda: "kind: Client\nitems:\n" + "".join(f"  - {{id: C-{i}, name: x, bogus: 1}}\n" for i in range(50_000)),
        "manifests/bomb.yaml:3:24:",
        "unknown field 'bogus' in client",
    ),
}


@pytest.mark.parametrize("bomb", list(BOMBS))
def test_a_bomb_is_refused_quickly_with_a_place_and_few_lines(tmp_path: Path, bomb: str) -> None:
    make, where, words = BOMBS[bomb]
    repo = make_repo(tmp_path, target_config("emulator"))
    (repo / "manifests/bomb.yaml").write_text(make(), encoding="utf-8")
    started = time.monotonic()
    result = cli(repo, "validate", timeout=60)
    took = time.monotonic() - started
    assert result.returncode == 1, said(result)
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"Error: {where}") and words in first, said(result)
    assert len(result.stderr.splitlines()) <= 55, "a bounded number of problems, then a count"
    assert len(result.stderr) < 20_000, "no message quotes the bomb"
    no_traceback(result)
    assert took < 20, f"{bomb}: {took:.1f} s"


# --------------------------------------------------------------------------- 3. configuration


def _config(target: str, *, top: str = "", name: str = "t") -> str:
    return f"manifests: manifests\ndefault_target: {json.dumps(name)}\n{top}targets:\n  {json.dumps(name)}:\n{target}"


REMOTE_HTTP = [
    "http://acme.epoptia.io",
    "http://10.0.0.7:8303",
    "http://127.0.0.1.nip.io",
    "http://user@127.0.0.1@evil.example",
]


def test_plain_http_to_a_remote_host_needs_insecure(tmp_path: Path) -> None:
    """Refused by every command that reads the configuration, with words that say what to do; allowed with
    `insecure: true`, and to loopback (an emulator)."""
    runs, expect = [], []
    for i, endpoint in enumerate(REMOTE_HTTP):
        for command in (["validate"], ["plan"], ["drift"]):
            run = Run(f"{endpoint} {command[0]}", command, ["a-valid-key-Qz7"], tmp_path / f"{i}-{command[0]}")
            make_repo(run.folder, _config(f"    endpoint: {endpoint}\n    state: state/t.json\n"))
            runs.append(run)
            expect.append(endpoint)
        run = Run(f"{endpoint} insecure", ["validate"], [], tmp_path / f"{i}-insecure")
        make_repo(run.folder, _config(f"    endpoint: {endpoint}\n    state: state/t.json\n    insecure: true\n"))
        runs.append(run)
        expect.append(None)
    for i, endpoint in enumerate(("http://127.0.0.1:8303", "http://localhost:8303", "http://[::1]:8303")):
        run = Run(f"{endpoint} loopback", ["validate"], [], tmp_path / f"loopback-{i}")
        make_repo(run.folder, _config(f"    endpoint: {endpoint}\n    state: state/t.json\n"))
        runs.append(run)
        expect.append(None)
    run_batch(runs, dict.fromkeys(range(len(runs)), "a-valid-key-Qz7"), parallel=4)
    problems = _check(runs, ["a-valid-key-Qz7"] * len(runs))
    for run, endpoint in zip(runs, expect, strict=True):
        if endpoint is None:
            if run.code != 0:
                problems.append(f"{run.where()}\nREFUSED")
        elif (
            run.code != 1
            or f"endpoint {endpoint!r} is plain http: the API key would cross the network in clear text" not in run.err
            or "insecure: true" not in run.err
        ):
            problems.append(f"{run.where()}\nNOT REFUSED CLEARLY")
    assert problems == [], "\n\n".join(problems)


CONFINED = {
    # case: (what the error says)
    "manifests ..": "manifests points outside the repository",
    "manifests absolute": "manifests points outside the repository",
    "state ..": "targets.t.state points outside the repository",
    "state absolute": "targets.t.state points outside the repository",
    "state through a link": "targets.t.state points outside the repository",
    "target name": "target name '../../../outside/x' cannot be used",
    ".reconciler a link": ".reconciler leads outside the repository",
    ".reconciler/journal a link": ".reconciler/journal leads outside the repository",
}


def _confined_case(case: str, folder: Path) -> str:
    """A repository in ``folder`` whose configuration or working folders lead to ``folder/outside``."""
    outside = folder / "outside"
    shutil.copytree(ROOT / "manifests", outside / "manifests")
    target, top, name = "    endpoint: emulator\n    state: state/t.json\n", "", "t"
    repo = make_repo(folder, _config(target))
    if case == "manifests ..":
        top = "manifests: ../outside/manifests\n"
    elif case == "manifests absolute":
        top = f"manifests: {outside / 'manifests'}\n"
    elif case == "state ..":
        target = "    endpoint: emulator\n    state: ../outside/t.json\n"
    elif case == "state absolute":
        target = f"    endpoint: emulator\n    state: {outside / 't.json'}\n"
    elif case == "state through a link":
        (repo / "state").symlink_to(outside)
    elif case == "target name":
        name = "../../../outside/x"
    elif case == ".reconciler a link":
        (repo / ".reconciler").symlink_to(outside)
    else:
        (repo / ".reconciler").mkdir()
        (repo / ".reconciler/journal").symlink_to(outside)
    text = _config(target, name=name)
    text = text.replace("manifests: manifests\n", top) if top else text
    (repo / "reconciler.yaml").write_text(text, encoding="utf-8")
    return text


def test_configuration_and_working_paths_stay_in_the_repository(tmp_path: Path) -> None:
    """Configuration paths, target names (part of file names) and links where the working files go: refused
    by name by the commands that read and write, nothing written outside; paths_outside_repository: true
    lets the configuration's paths out."""
    runs, texts = [], {}
    for i, case in enumerate(CONFINED):
        for command in (["validate"], ["plan"], ["apply", "--auto-approve"]):
            run = Run(case, command, [], tmp_path / f"case-{i}-{command[0]}")
            texts[case] = _confined_case(case, run.folder)
            runs.append(run)

    def outside(run: Run) -> list[Path]:
        return sorted(p.relative_to(run.folder) for p in (run.folder / "outside").rglob("*"))

    before = [outside(run) for run in runs]
    run_batch(runs, dict.fromkeys(range(len(runs))), parallel=4)
    problems = []
    for run, was in zip(runs, before, strict=True):
        if run.code != 1 or CONFINED[run.label] not in run.err or "Traceback" in run.err:
            problems.append(f"{run.where()}\nNOT REFUSED CLEARLY")
        if outside(run) != was:
            problems.append(f"{run.where()}\nWROTE OUTSIDE THE REPOSITORY: {set(outside(run)) - set(was)}")
    assert problems == [], "\n\n".join(problems)
    for run in runs[::3]:  # ...unless the configuration says so
        if run.label.startswith(("manifests", "state")):
            (run.repo / "reconciler.yaml").write_text(
                f"paths_outside_repository: true\n{texts[run.label]}", encoding="utf-8"
            )
            assert cli(run.repo, "validate").returncode == 0, run.label


# --------------------------------------------------------------------------- 4. broken disks

WO12 = "manifests/work-orders/2026-12/WO-26-0412.yaml"


@pytest.fixture(scope="module")
def applied_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample factory applied once: a repository and the emulator's database, copied by each test."""
    base = tmp_path_factory.mktemp("applied")
    process = EmulatorProcess(base / "emulator.sqlite").start()
    try:
        repo = make_repo(base, target_config(process.url))
        result = cli(repo, "apply", "--auto-approve", key=process.key)
        assert result.returncode == 0, said(result)
    finally:
        process.stop()
    return base


@dataclass
class Applied:
    repo: Path
    emulator: EmulatorProcess

    def run(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return cli(self.repo, *args, key=self.emulator.key, **kwargs)

    @property
    def state(self) -> Path:
        return self.repo / "state/t.json"


def applied_copy(snapshot: Path, folder: Path) -> Applied:
    """A copy of the applied factory on an emulator of its own (stop it when done)."""
    shutil.copytree(snapshot / "repo", folder / "repo", symlinks=True)
    for db in snapshot.glob("emulator.sqlite*"):  # with its write-ahead log
        shutil.copy(db, folder / db.name)
    process = EmulatorProcess(folder / "emulator.sqlite").start()
    config = folder / "repo/reconciler.yaml"
    config.write_text(
        re.sub(r"http://127\.0\.0\.1:\d+", process.url, config.read_text(encoding="utf-8")), encoding="utf-8"
    )
    return Applied(folder / "repo", process)


def _edit(repo: Path, rel: str, old: str, new: str) -> None:
    path = repo / rel
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _with_fault(fault: str) -> dict[str, str]:
    return {"RECONCILER_TEST_DISK_FAULT": fault, "PYTHONPATH": str(ROOT)}


DISK_FAULTS = {
    # name: (fault for tests/cli_faults.py or None, the path the message must name)
    "disk full writing the state": ("ENOSPC:write:/state/\\.t\\.json\\.\\d+\\.tmp$", "state/t.json"),
    "disk full at every save": ("ENOSPC:write:/state/(\\.t\\.json\\.\\d+\\.tmp|t\\.json\\.wal)$", "state/t.json"),
    "state folder read-only at the save": (
        "EROFS:open:/state/(\\.t\\.json\\.\\d+\\.tmp|t\\.json\\.wal)$",
        "state/t.json",
    ),
    "file too large": (None, "state/t.json"),
}


def test_a_broken_disk_during_apply_leaves_the_state_and_journal_usable(applied_snapshot: Path, tmp_path: Path) -> None:
    """Each fault in DISK_FAULTS on a copy of the applied factory: a clear error naming the file, exit 1
    (not 3), the state and the journal still valid, no temporary file left; the next apply on a good disk
    finishes the job and the plan after it is empty."""
    from concurrent.futures import ThreadPoolExecutor

    from reconciler.state import StateStore

    faults = list(DISK_FAULTS)
    with ThreadPoolExecutor(len(faults)) as pool:
        apps = list(pool.map(lambda f: applied_copy(applied_snapshot, tmp_path / re.sub(r"\W+", "-", f)), faults))
    try:
        befores = [StateStore(app.state).read() for app in apps]
        broken = []
        for fault, app in zip(faults, apps, strict=True):
            _edit(app.repo, WO12, "quantity: 24", "quantity: 30")
            spec, _ = DISK_FAULTS[fault]
            # No fault spec: a real limit, under which the state file no longer fits (the journal and the
            # batch's append do).
            env = _with_fault(spec) if spec else {"RECONCILER_TEST_FSIZE": str(app.state.stat().st_size - 200)}
            broken.append(Run(fault, ["apply", "--auto-approve"], [], app.repo.parent, extra_env=env))
        run_batch(broken, dict.fromkeys(range(len(faults)), apps[0].emulator.key), parallel=len(faults))
        problems = [
            p for run, app, before in zip(broken, apps, befores, strict=True) for p in _broken_disk(run, app, before)
        ]
        assert problems == [], "\n\n".join(problems)
        # A good disk again: the next apply settles the batch in flight and finishes; then nothing is left to do.
        for argv in (["apply", "--auto-approve"], ["plan", "--detailed-exitcode"]):
            runs = [
                Run(f"{fault}: {argv[0]} again", argv, [], app.repo.parent)
                for fault, app in zip(faults, apps, strict=True)
            ]
            run_batch(runs, dict.fromkeys(range(len(faults)), apps[0].emulator.key), parallel=len(faults))
            problems += [f"{run.where()}\nDID NOT CONVERGE" for run in runs if run.code != 0]
        problems += [
            f"{fault}: NOT APPLIED"
            for fault, app in zip(faults, apps, strict=True)
            if app.emulator.lines()["131320"]["quantity"] != 30
        ]
        assert problems == [], "\n\n".join(problems)
    finally:
        for app in apps:
            app.emulator.stop()


def _broken_disk(run: Run, app: Applied, before: Any) -> list[str]:
    from reconciler.state import StateStore

    named = DISK_FAULTS[run.label][1]
    if run.code != 1 or named not in run.err or "Traceback" in run.err:
        return [f"{run.where()}\nNOT A CLEAR ERROR NAMING {named}"]
    # The state as it was, or further (what the write-ahead file kept): readable, same lineage, never behind.
    after = StateStore(app.state).read()
    if after.lineage != before.lineage or after.serial < before.serial:
        return [f"{run.where()}\nSTATE WENT BACK: {after.lineage} {after.serial}"]
    serial = json.loads(app.state.read_bytes())["serial"]  # the file itself is never half-written
    if serial != before.serial:  # written whole after all (the failure was in an append): the backup is the old one
        assert json.loads((app.repo / "state/t.json.backup").read_bytes())["serial"] == before.serial
    wal = app.repo / "state/t.json.wal"
    if wal.exists():
        for line in wal.read_bytes().splitlines():
            json.loads(line)  # no torn line
    journal = app.repo / ".reconciler/journal/t.json"
    if journal.exists():
        json.loads(journal.read_bytes())
    leftovers = [p for p in app.repo.rglob("*") if p.name.endswith(".tmp")]
    return [f"{run.where()}\nTEMPORARY FILES LEFT: {leftovers}"] if leftovers else []


CACHE_FAULTS = {
    "cache folder is a file": {},
    "cache read-only": _with_fault("EROFS:sqlite:"),
    "cache file too large": {"RECONCILER_TEST_FSIZE": "16384"},  # the plan itself fits
    "cache folder is a file, cold": {},
}


def test_a_broken_cache_never_breaks_validate_or_plan(tmp_path: Path) -> None:
    """The cache only costs speed: whatever happens to its folder or files, the commands work the same."""
    runs = []
    for i, case in enumerate(CACHE_FAULTS):
        folder = tmp_path / f"case-{i}"
        repo = make_repo(folder, target_config("emulator"))
        if "cold" not in case:
            warm = cli(repo, "validate", cache=folder / "cache")  # the cache as a run leaves it
            assert warm.returncode == 0, said(warm)
        env = dict(CACHE_FAULTS[case])
        if case.startswith("cache folder is a file"):
            shutil.rmtree(folder / "cache", ignore_errors=True)
            (folder / "cache").write_text("not a folder", encoding="utf-8")
        for argv in (["validate"], ["plan", "--no-refresh"], ["plan", "--no-refresh", "--detailed-exitcode"]):
            runs.append(Run(case, argv, [], folder, extra_env=env))
    run_batch(runs, dict.fromkeys(range(len(runs))), parallel=4)
    problems = []
    for run in runs:
        expected = {"validate": 0, "plan": 2 if "--detailed-exitcode" in run.argv else 0}[run.argv[0]]
        if run.code != expected or "Traceback" in run.err or "Error" in run.err:
            problems.append(f"{run.where()}\nBROKEN BY THE CACHE")
        elif run.argv[0] == "plan" and "Plan: 23 to create" not in run.out:
            problems.append(f"{run.where()}\nNOT THE PLAN")
    assert problems == [], "\n\n".join(problems)


def test_output_to_a_full_disk_is_an_error_not_a_bug(tmp_path: Path) -> None:
    """`reconciler plan > plan.txt` on a full disk: exit 1 and a message, not "Internal error"."""
    repo = make_repo(tmp_path, target_config("emulator"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("RECONCILER_", "EPOPTIA_"))},
        "NO_COLOR": "1",
        "RECONCILER_CACHE_DIR": str(tmp_path / "cache"),
        "TMPDIR": str(tmp_path),
    }
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "reconciler", "plan", "--no-refresh"],
            cwd=repo,
            env=env,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("Error: cannot write to standard output: No space left on device"), result.stderr
    assert "Internal error" not in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.glob("reconciler-crash-*")) == []


# --------------------------------------------------------------------------- 5. an internal error


def _main_in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str, str]:
    """reconciler.cli.main as the console script runs it, in this process (its streams are put back after)."""
    from reconciler.cli import main

    monkeypatch.setattr(sys, "stdout", sys.stdout)
    monkeypatch.setattr(sys, "stderr", sys.stderr)
    monkeypatch.setattr(sys, "argv", ["reconciler", *argv])
    with pytest.raises(SystemExit) as done:
        main(list(argv))
    out, err = capsys.readouterr()
    return done.value.code, out, err


@pytest.mark.parametrize("where", ["crash folder", "no crash folder"])
def test_a_bug_exits_3_and_names_its_traceback_file_which_holds_no_key(
    key_tenant: EmulatorProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    where: str,
) -> None:
    import tempfile

    from reconciler.epoptia.client import EpoptiaClient

    key = generated_keys()["normal"]
    repo = make_repo(tmp_path, target_config(key_tenant.url))
    crashes = tmp_path / "crashes"
    if where == "crash folder":
        crashes.mkdir()
    else:
        crashes.write_text("a file where the crash folder should be", encoding="utf-8")
    monkeypatch.setattr(tempfile, "tempdir", str(crashes))
    monkeypatch.chdir(repo)
    monkeypatch.setenv(KEY_ENV, key)
    monkeypatch.setenv("RECONCILER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("RECONCILER_DEBUG", raising=False)

    def bug(self: EpoptiaClient, page: int) -> Any:
        raise RuntimeError(f"simulated bug reading page {page} with {self._http.headers!r} (key {key})")

    monkeypatch.setattr(EpoptiaClient, "lines_page", bug)
    code, out, err = _main_in_process(monkeypatch, capsys, "plan", "--refresh", "full")
    assert code == 3, err
    assert "Internal error: this is a bug in the reconciler, not in your data." in err
    assert "Traceback" not in out + err and "simulated bug" not in out + err
    needles = secret_needles(key)
    assert leaks(needles, [tmp_path], {"stdout": out, "stderr": err}) == []
    if where == "crash folder":
        named = re.search(r"the traceback is in (\S+); please report it", err)
        assert named is not None, err
        crash = Path(named.group(1))
        assert crash.parent == crashes and crash.stat().st_mode & 0o077 == 0  # the user's alone
        text = crash.read_text(encoding="utf-8")
        assert "Traceback" in text and "simulated bug reading page 1" in text and "***" in text
    else:
        assert "run again with RECONCILER_DEBUG=1 to see the traceback" in err


# --------------------------------------------------------------------------- 6. damaged states


def _serial_backwards(text: str, backup: str) -> str:
    return re.sub(r'"serial": \d+', f'"serial": {json.loads(backup)["serial"] - 1}', text, count=1)


def _first_entry(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith('    "Client/C-1001": '))


STATE_DAMAGE: dict[str, tuple[str, Any]] = {
    # case: (the file it damages, how)
    "serial older than the backup's": ("t.json", _serial_backwards),
    "backup of another lineage": (
        "t.json.backup",
        lambda text, backup: re.sub(
            r'"lineage": "[0-9a-f-]+"', '"lineage": "00000000-0000-4000-8000-000000000000"', text, count=1
        ),
    ),
    "an address twice": (
        "t.json",
        lambda text, backup: text.replace(_first_entry(text), f"{_first_entry(text)}\n{_first_entry(text)}", 1),
    ),
    "a payload that is not an object": (
        "t.json",
        lambda text, backup: re.sub(r'("Client/C-1001": \{.*?"payload":)\{[^}]*\}', r"\1 42", text, count=1),
    ),
    "observed facts without their time": (
        "t.json",
        lambda text, backup: text.replace('"observed":null', '"observed":{"status":"standby","started":true}', 1),
    ),
    "an address of no kind": ("t.json", lambda text, backup: text.replace('"Client/C-1001"', '"Gadget/C-1001"', 1)),
    "an id in the wrong type": (
        "t.json",
        lambda text, backup: text.replace('"epoptia_id":null', '"epoptia_id":131319', 1),
    ),
}
STATE_COMMANDS = [
    ["plan"],
    ["plan", "--no-refresh"],
    ["drift"],
    ["apply", "--auto-approve"],
    ["apply", "saved.json", "--auto-approve"],
    ["show", "saved.json"],
]


def test_a_damaged_state_is_refused_alike_by_every_command(applied_snapshot: Path, tmp_path: Path) -> None:
    """Each damage of STATE_DAMAGE: plan (with and without reading Epoptia), drift, apply and apply of a
    saved plan refuse it with the same StateError, exit 1, and none says there is nothing to do. `show`
    renders the saved plan as it was: it never reads a state."""
    app = applied_copy(applied_snapshot, tmp_path / "base")
    try:
        _edit(app.repo, WO12, "quantity: 24", "quantity: 26")
        assert app.run("apply", "--auto-approve").returncode == 0  # a second full write: a backup
        _edit(app.repo, WO12, "quantity: 26", "quantity: 24")
        saved = app.run("plan", "--out", "saved.json")
        assert saved.returncode == 0 and (app.repo / "state/t.json.backup").exists(), said(saved)
        shown = app.run("show", "saved.json").stdout
        state, backup = (app.repo / "state/t.json").read_text(), (app.repo / "state/t.json.backup").read_text()
        runs = []
        for i, (case, (name, damage)) in enumerate(STATE_DAMAGE.items()):
            for j, argv in enumerate(STATE_COMMANDS):
                folder = tmp_path / f"case-{i}-{j}"
                shutil.copytree(app.repo, folder / "repo", symlinks=True)
                target = folder / "repo/state" / name
                damaged = damage(state if name == "t.json" else backup, backup)
                assert damaged != target.read_text(), case
                target.write_text(damaged)
                runs.append(Run(case, argv, [], folder))
        run_batch(runs, dict.fromkeys(range(len(runs)), app.emulator.key), parallel=4)
    finally:
        app.emulator.stop()
    problems = []
    for case in STATE_DAMAGE:
        mine = [run for run in runs if run.label == case]
        refusals = {
            run.err.replace(str(run.folder), "<folder>").split("\n")[0] for run in mine if run.argv[0] != "show"
        }
        for run in mine:
            if run.argv[0] == "show":
                if run.code != 0 or run.out != shown:
                    problems.append(f"{run.where()}\nSHOW CHANGED")
            elif run.code != 1 or not run.err.startswith("Error: ") or "state file" not in run.err.splitlines()[0]:
                problems.append(f"{run.where()}\nNOT REFUSED AS A DAMAGED STATE")
            elif re.search(r"No changes|Nothing to apply|No drift", run.out):
                problems.append(f"{run.where()}\nSAYS THERE IS NOTHING TO DO")
        if len(refusals) != 1:
            problems.append(f"{case}: the commands disagree:\n" + "\n".join(sorted(refusals)))
    assert problems == [], "\n\n".join(problems)
