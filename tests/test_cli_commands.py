"""Commands and error paths no other test runs: each through the real CLI, as a person or CI would.

force-unlock, halt show/clear, ci comment (against a fake GitHub API on 127.0.0.1), operator logout,
drift --format json, the interactive confirm (in a pseudo-terminal), the internal-error handler,
corrupt state entries and plan files that are not plans.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from reconciler.epoptia.profile import Operation as Op
from reconciler.epoptia.throttle import Halt

from .conftest import run_cli
from .e2e import KEY_ENV, Repo
from .emulator_process import EmulatorProcess
from .test_e2e_recovery import factory


@pytest.fixture
def repo(tmp_path: Path, emulator: EmulatorProcess) -> Repo:
    root = tmp_path / "factory"
    root.mkdir()
    repo = Repo(root, emulator, manifests=False)
    factory(root, work_orders=1, lines=2)
    return repo


# ----------------------------------------------------------------------------- force-unlock, halt


HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from reconciler.state import StateStore
    with StateStore(Path(sys.argv[1])).lock("apply") as lock_id:
        print(lock_id, flush=True)
        time.sleep(600)
""")


def test_force_unlock_removes_the_lock_of_a_run_that_died(sample_repo: Path) -> None:
    state = sample_repo / "state" / "local.json"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(state)], stdout=subprocess.PIPE, text=True)
    lock_id = holder.stdout.readline().strip()
    held = run_cli("force-unlock", "not-the-id", cwd=sample_repo)
    assert held.returncode == 1 and f"does not match the lock on {state} ({lock_id})" in held.stderr
    holder.send_signal(signal.SIGKILL)  # dies without its finally: the owner information stays behind
    holder.wait()
    info = state.with_name("local.json.lock.json")
    assert json.loads(info.read_text())["id"] == lock_id
    done = run_cli("force-unlock", lock_id, cwd=sample_repo)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Removed lock {lock_id} from {state}.\n"
    assert not info.exists() and not state.with_name("local.json.lock").exists()
    again = run_cli("force-unlock", lock_id, cwd=sample_repo)
    assert again.returncode == 1 and "has no recorded lock to remove" in again.stderr


def test_halt_show_and_clear(sample_repo: Path) -> None:
    assert run_cli("halt", "show", cwd=sample_repo).stdout == "Not halted.\n"
    Halt(sample_repo / ".reconciler" / "halt" / "local.json", "local").set(
        429, "GET /api/3.03/workorderlines", "Too Many Requests"
    )
    shown = run_cli("halt", "show", cwd=sample_repo)
    assert shown.returncode == 0
    info = json.loads(shown.stdout)
    assert (info["status"], info["request"], info["reason"]) == (
        429,
        "GET /api/3.03/workorderlines",
        "Too Many Requests",
    )
    plan = run_cli("plan", cwd=sample_repo)  # halted: the plan says so and plans from the state alone
    assert "planning from the state file alone: requests to target 'local' are halted since" in plan.stderr
    cleared = run_cli("halt", "clear", cwd=sample_repo)
    assert cleared.stdout == "Cleared the halt on 'local'.\n"
    assert run_cli("halt", "clear", cwd=sample_repo).stdout == "Not halted.\n"
    assert run_cli("halt", "show", cwd=sample_repo).stdout == "Not halted.\n"


# ----------------------------------------------------------------------------- ci comment


class FakeGitHub:
    """The three calls of GitHub's issue-comments API that `ci comment` makes, on 127.0.0.1."""

    def __init__(self, comments: list[dict[str, Any]] | None = None, refuse: int | None = None) -> None:
        self.comments = comments or []
        self.requests: list[tuple[str, str, dict[str, Any] | None, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                fake.requests.append((self.command, self.path, body, self.headers.get("Authorization", "")))
                if fake.refuse:
                    self._answer(fake.refuse, {"message": "Resource not accessible by integration"})
                    return
                path = self.path.split("?")[0]
                if self.command == "GET" and path == "/repos/acme/prod-data/issues/12/comments":
                    page = int(re.search(r"[?&]page=(\d+)", self.path).group(1))
                    self._answer(200, fake.comments[(page - 1) * 100 : page * 100])
                elif self.command == "POST" and path == "/repos/acme/prod-data/issues/12/comments":
                    fake.comments.append({"id": 900 + len(fake.comments), "body": body["body"]})
                    self._answer(201, fake.comments[-1])
                elif self.command == "PATCH" and path.startswith("/repos/acme/prod-data/issues/comments/"):
                    comment = next(c for c in fake.comments if c["id"] == int(path.rsplit("/", 1)[1]))
                    comment["body"] = body["body"]
                    self._answer(200, comment)
                else:
                    self._answer(404, {"message": "Not Found"})

            do_GET = do_POST = do_PATCH = _handle

        self.refuse = refuse
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeGitHub:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def ci_comment(root: Path, github: FakeGitHub, *extra: str, env: dict[str, str] | None = None):
    return run_cli(
        "ci",
        "comment",
        "--pr",
        "12",
        "--body-file",
        "plan.md",
        *extra,
        cwd=root,
        env={
            "GITHUB_TOKEN": "ghs-test-token",
            "GITHUB_REPOSITORY": "acme/prod-data",
            "GITHUB_API_URL": github.url,
            **(env or {}),
        },
    )


def test_ci_comment_creates_then_updates_the_one_plan_comment(tmp_path: Path) -> None:
    (tmp_path / "plan.md").write_text("**Plan: 1 to create, 0 to update.**\n", encoding="utf-8")
    others = [{"id": i, "body": f"a review comment {i}"} for i in range(150)]  # two pages of other comments
    with FakeGitHub(comments=others) as github:
        created = ci_comment(tmp_path, github, "--sha", "0123456789abcdef0123", "--run-url", "https://ci/run/7")
        assert created.returncode == 0, created.stderr
        assert created.stdout == "Plan comment created on #12.\n"
        mine = github.comments[-1]
        assert mine["body"].startswith("<!-- ") and "**Plan: 1 to create, 0 to update.**" in mine["body"]
        assert "for commit 0123456789ab" in mine["body"] and "[workflow run](https://ci/run/7)" in mine["body"]
        assert all(auth == "Bearer ghs-test-token" for *_, auth in github.requests)
        (tmp_path / "plan.md").write_text("**Plan: 0 to create, 1 to update.**\n", encoding="utf-8")
        updated = ci_comment(tmp_path, github)
        assert updated.returncode == 0 and updated.stdout == "Plan comment updated on #12.\n", updated.stderr
        assert len(github.comments) == 151 and "1 to update" in github.comments[-1]["body"]
        assert [r[0] for r in github.requests] == ["GET", "GET", "POST", "GET", "GET", "PATCH"]


def test_ci_comment_errors(tmp_path: Path) -> None:
    (tmp_path / "plan.md").write_text("plan\n", encoding="utf-8")
    with FakeGitHub(refuse=403) as github:
        refused = ci_comment(tmp_path, github)
        assert refused.returncode == 1 and "GitHub refused listing comments: HTTP 403" in refused.stderr
        assert "pull-requests: write" in refused.stderr and "Traceback" not in refused.stderr
        missing = ci_comment(tmp_path, github, env={"GITHUB_TOKEN": ""})
        assert missing.returncode == 1 and "GITHUB_TOKEN and GITHUB_REPOSITORY must be set" in missing.stderr


# ----------------------------------------------------------------------------- operator, drift


def test_operator_logout_ends_the_session(repo: Repo) -> None:
    assert repo.run("apply", "--auto-approve").returncode == 0
    login = repo.run("operator", "login", "--username", "demo", "--password", "demo")
    assert login.returncode == 0, login.stderr
    token = login.stdout.strip()
    laser = str(repo.emulator.workstation("LASER"))
    out = repo.run("operator", "logout", env={"EPOPTIA_OPERATOR_TOKEN": token})
    assert out.returncode == 0 and out.stdout == "Logged out.\n", out.stderr
    refused = repo.run("station", "start", "--workstation", laser, "--line", "600000", "--token", token)
    assert refused.returncode == 1 and "Epoptia refused the operator's token" in refused.stderr, refused.stderr
    assert "log in again with `reconciler operator login`" in refused.stderr
    missing = repo.run("operator", "logout")
    assert missing.returncode == 1 and "--token" in missing.stderr


def test_drift_as_json(repo: Repo) -> None:
    assert repo.run("apply", "--auto-approve").returncode == 0
    assert json.loads(repo.run("drift", "--format", "json").stdout) == []
    row = {
        "workorderline_id": "600001",
        "comments": "άλλαξε στο Epoptia",
        "workorder": {"id": "WO-0"},
        "client": {"name": "Πελάτης"},
        "product": {"name": "Προφίλ"},
        "quantity": 11,
    }
    answer = repo.emulator.write(Op.UPSERT_LINES, [row])[0]
    assert answer["result"] == "updated", answer
    drift = repo.run("drift", "--format", "json", "--detailed-exitcode")
    assert drift.returncode == 2, drift.stderr
    assert json.loads(drift.stdout) == [
        {
            "cause": "owned",
            "kind": "WorkOrderLine",
            "id": "600001",
            "message": "line 600001 was changed in Epoptia",
            "changes": [{"path": "comments", "before": None, "after": "άλλαξε στο Epoptia"}],
        }
    ]
    assert repo.run("drift", "--format", "json").returncode == 0  # without --detailed-exitcode


# ----------------------------------------------------------------------------- the interactive confirm


def in_terminal(repo: Repo, answer: str, *args: str) -> tuple[int, str]:
    """Run `reconciler apply` with a pseudo-terminal as its standard streams; answer its question."""
    main, secondary = pty.openpty()
    env = {**os.environ, KEY_ENV: repo.emulator.key, "NO_COLOR": "1", "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", *args],
        cwd=repo.root,
        env=env,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        close_fds=True,
    )
    os.close(secondary)
    seen, answered = b"", False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        if not answered and b"Enter a value: " in seen:
            os.write(main, answer.encode() + b"\r")
            answered = True
        if proc.poll() is not None and not ready:
            break
    if proc.poll() is None:
        proc.kill()  # never answered: fail on what the screen shows, not on a timeout
    code = proc.wait(timeout=60)
    os.close(main)
    return code, seen.decode("utf-8", errors="replace").replace("\r\n", "\n")


def test_apply_asks_on_a_terminal_and_anything_but_yes_changes_nothing(repo: Repo) -> None:
    code, screen = in_terminal(repo, "y")
    assert "Plan: 5 to create" in screen, screen
    assert "Do you want to apply these changes to 'test'? Only 'yes' approves.\nEnter a value: " in screen, screen
    assert code == 1 and "Cancelled; nothing was applied." in screen, screen
    assert repo.emulator.stored("lines") == {}


def test_apply_asks_on_a_terminal_and_yes_applies(repo: Repo) -> None:
    code, screen = in_terminal(repo, "yes")
    assert code == 0 and "Apply complete: Epoptia matches the plan." in screen, screen
    assert set(repo.emulator.stored("lines")) == {"600000", "600001"}


# ----------------------------------------------------------------------------- internal errors


CRASH = textwrap.dedent("""
    from reconciler.cli import plans
    def broken(*args, **kwargs):
        raise RuntimeError("a bug planted by the test")
    plans.plan_target = broken
    from reconciler.cli import main
    main()
""")


def test_a_bug_exits_3_and_leaves_the_traceback_in_a_file(sample_repo: Path, tmp_path: Path) -> None:
    crash_dir = tmp_path / "tmp"
    crash_dir.mkdir()
    env = {**os.environ, "TMPDIR": str(crash_dir), "NO_COLOR": "1"}
    env.pop("RECONCILER_DEBUG", None)
    done = subprocess.run(
        [sys.executable, "-c", CRASH, "plan", "--no-refresh"],
        cwd=sample_repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3
    assert done.stderr.startswith("Internal error: this is a bug in the reconciler, not in your data.\n")
    assert "Traceback" not in done.stderr and "planted" not in done.stderr
    logs = list(crash_dir.glob("reconciler-crash-*.log"))
    assert len(logs) == 1 and f"the traceback is in {logs[0]}; please report it" in done.stderr
    text = logs[0].read_text(encoding="utf-8")
    assert "argv: ['plan', '--no-refresh']" in text and "RuntimeError: a bug planted by the test" in text
    debug = subprocess.run(
        [sys.executable, "-c", CRASH, "plan"],
        cwd=sample_repo,
        capture_output=True,
        text=True,
        env={**env, "RECONCILER_DEBUG": "1"},
        timeout=60,
    )
    assert debug.returncode == 3 and "Traceback" in debug.stderr and "a bug planted by the test" in debug.stderr


def test_a_bug_exits_3_even_where_the_traceback_file_cannot_be_written(sample_repo: Path) -> None:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("RECONCILER_DEBUG", None)
    no_file = (
        "import tempfile\ndef full(**kwargs):\n    raise OSError(28, 'No space left on device')\n"
        "tempfile.mkstemp = full\n" + CRASH
    )
    done = subprocess.run(
        [sys.executable, "-c", no_file, "plan"], cwd=sample_repo, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 3
    assert "run again with RECONCILER_DEBUG=1 to see the traceback" in done.stderr


# ----------------------------------------------------------------------------- corrupt state, bad plan files


def test_a_corrupt_state_entry_is_named_with_the_backup(repo: Repo) -> None:
    assert repo.run("apply", "--auto-approve").returncode == 0
    repo.edit("manifests/factory.yaml", "quantity: 10", "quantity: 11")
    assert repo.run("apply", "--auto-approve").returncode == 0  # so that a backup exists
    state = repo.root / "state" / "test.json"
    text = state.read_text(encoding="utf-8")
    # Still in the layout the store indexes line by line, but an entry's facts lack a required field.
    broken = re.sub(r',"observed_at":"[^"]*"', "", text, count=1)
    assert broken != text
    state.write_text(broken, encoding="utf-8")
    plan = repo.run("plan")
    assert plan.returncode == 1 and "Traceback" not in plan.stderr
    assert re.search(
        rf"state file {re.escape(str(state))} is corrupt: .* at resources\.WorkOrderLine/60000\d\."
        r"observed\.observed_at",
        plan.stderr,
    ), plan.stderr
    assert f"the previous version is kept at {state}.backup" in plan.stderr


def test_a_state_entry_that_is_not_an_object_is_named(repo: Repo) -> None:
    assert repo.run("apply", "--auto-approve").returncode == 0
    state = repo.root / "state" / "test.json"
    data = json.loads(state.read_text(encoding="utf-8"))
    data["resources"]["WorkOrderLine/600001"] = ["not", "an", "entry"]
    state.write_text(json.dumps(data), encoding="utf-8")
    plan = repo.run("plan")
    assert plan.returncode == 1 and "Traceback" not in plan.stderr
    assert f"state file {state} is corrupt: " in plan.stderr and "resources.WorkOrderLine/600001" in plan.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is not a plan: invalid JSON"),
        (b"Plan: 3 to create\n", "is not a plan: invalid JSON"),
        (b"\xff\xfe\x00garbage", "is not a plan: invalid JSON"),
        (b"[1, 2, 3]", "has plan format version None"),
        (b'{"format_version": 2, "target": 5}', "is not a valid plan: "),
        (b"[" * 100_000, "is not a plan: invalid JSON"),
    ],
)
def test_plan_files_that_are_not_plans(sample_repo: Path, content: bytes, message: str) -> None:
    (sample_repo / "bad.json").write_bytes(content)
    for command in (["show", "bad.json"], ["apply", "bad.json", "--auto-approve"]):
        result = run_cli(*command, cwd=sample_repo)
        assert result.returncode == 1, result.stderr
        assert f"Error: plan file bad.json {message}" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and "Internal error" not in result.stderr
    missing = run_cli("show", "no-such-plan.json", cwd=sample_repo)
    assert missing.returncode == 1 and "cannot read plan file no-such-plan.json" in missing.stderr
