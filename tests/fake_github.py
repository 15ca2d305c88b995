"""A GitHub for tests: a bare repository as `origin`, the REST API on 127.0.0.1, and a runner for composite actions.

- The bare repository refuses every push to `main` (a pre-receive hook, as branch
  protection with "require a pull request" does), except the merges this class
  makes itself, standing in for the merge button.
- The API serves what the workflows call: issue comments, the pull requests of a
  commit, a pull request, artifacts (listed by name, downloaded by a redirect to
  storage, as GitHub does). A read-only token (a fork's) is refused writes with 403.
- ``run_action`` runs a composite action of this repository the way a runner
  does: each `run:` step with bash, its `env:` and `if:` evaluated, outputs
  through $GITHUB_OUTPUT, one job summary. `uses:` steps are stood in for:
  setup-python and the cache do nothing, the install step is skipped (the test's
  own environment has the reconciler), upload-artifact stores the files here.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import threading
import zipfile
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
WRITE_TOKEN, READ_TOKEN = "ghs-write-token", "ghs-fork-read-only-token"
MERGE_ENV = "FAKE_GITHUB_MERGE_BUTTON"

_HOOK = f"""#!/bin/sh
# Branch protection of main: only the merge button (the test's merges) may update it.
while read old new ref; do
  if [ "$ref" = "refs/heads/main" ] && [ -z "${MERGE_ENV}" ]; then
    echo "$ref" >> "$(dirname "$0")/../refused.log"
    echo "error: GH006: Protected branch update failed for refs/heads/main: changes must be made through a PR." >&2
    exit 1
  fi
done
exit 0
"""


@dataclass
class PullRequest:
    number: int
    branch: str
    head: str
    title: str
    fork: bool = False
    merge_commit: str | None = None


@dataclass
class Artifact:
    id: int
    name: str
    head_sha: str
    run_id: int
    files: dict[str, bytes]
    created_at: str


@dataclass
class StepResult:
    id: str | None
    code: int | None  # None: skipped
    stdout: str = ""
    stderr: str = ""


@dataclass
class ActionRun:
    steps: list[StepResult]
    outputs: dict[str, dict[str, str]]
    summary: str

    @property
    def failed(self) -> bool:
        return any(s.code not in (None, 0) for s in self.steps)

    def step(self, id_: str) -> StepResult:
        return next(s for s in self.steps if s.id == id_)

    def log(self) -> str:
        return "\n".join(f"--- {s.id} exit {s.code}\n{s.stdout}\n{s.stderr}" for s in self.steps)


class _Api(BaseHTTPRequestHandler):
    hub: FakeGitHub

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        auth = self.headers.get("Authorization")
        self.hub.requests.append((method, parts.path, auth))
        if parts.path.startswith("/_blob/"):  # storage: no token may come along
            if auth:
                self.hub.leaked_auth.append(parts.path)
            artifact = self.hub.artifacts[int(parts.path.rsplit("/", 1)[1])]
            return self._send(200, _zip(artifact.files), {"Content-Type": "application/zip"})
        token = (auth or "").removeprefix("Bearer ")
        if token not in (WRITE_TOKEN, READ_TOKEN):
            return self._send(401, {"message": "Bad credentials"})
        prefix = f"/repos/{self.hub.repository}"
        if not parts.path.startswith(prefix):
            return self._send(404, {"message": "Not Found"})
        status, answer, headers = self.hub.route(
            method,
            parts.path[len(prefix) :],
            parse_qs(parts.query),
            body,
            writable=token == WRITE_TOKEN,
            port=self.server.server_address[1],
        )
        self._send(status, answer, headers)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


class FakeGitHub:
    def __init__(self, tmp: Path, repository: str = "acme/factory") -> None:
        self.tmp, self.repository = tmp, repository
        self.origin = tmp / "origin.git"
        self.admin = tmp / "admin"
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.pulls: dict[int, PullRequest] = {}
        self.artifacts: dict[int, Artifact] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self.leaked_auth: list[str] = []
        self._ids = iter(range(1000, 10**6))
        self._runs = iter(range(7000, 10**6))
        self._lock = threading.Lock()
        self.git("init", "-q", "--bare", "-b", "main", str(self.origin), cwd=tmp)
        hook = self.origin / "hooks" / "pre-receive"
        hook.write_text(_HOOK)
        hook.chmod(0o755)
        self.git("clone", "-q", str(self.origin), str(self.admin), cwd=tmp)
        self.git("symbolic-ref", "HEAD", "refs/heads/main")
        handler = type("Api", (_Api,), {"hub": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------ the API

    def route(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, *, writable: bool, port: int
    ) -> tuple[int, Any, dict[str, str] | None]:
        with self._lock:
            if m := re.fullmatch(r"/issues/(\d+)/comments", path):
                number = int(m.group(1))
                if method == "GET":
                    page, per_page = int(query.get("page", ["1"])[0]), int(query.get("per_page", ["30"])[0])
                    rows = self.comments.get(number, [])
                    return 200, rows[(page - 1) * per_page : page * per_page], None
                if not writable:
                    return 403, {"message": "Resource not accessible by integration"}, None
                comment = {"id": next(self._ids), "body": body["body"]}
                self.comments.setdefault(number, []).append(comment)
                return 201, comment, None
            if m := re.fullmatch(r"/issues/comments/(\d+)", path):
                if not writable:
                    return 403, {"message": "Resource not accessible by integration"}, None
                for rows in self.comments.values():
                    for comment in rows:
                        if comment["id"] == int(m.group(1)):
                            comment["body"] = body["body"]
                            return 200, comment, None
                return 404, {"message": "Not Found"}, None
            if m := re.fullmatch(r"/commits/([0-9a-f]{40})/pulls", path):
                return 200, [self._pull_json(p) for p in self.pulls.values() if p.merge_commit == m.group(1)], None
            if m := re.fullmatch(r"/pulls/(\d+)", path):
                pull = self.pulls.get(int(m.group(1)))
                return (200, self._pull_json(pull), None) if pull else (404, {"message": "Not Found"}, None)
            if path == "/actions/artifacts":
                name = query.get("name", [None])[0]
                rows = [self._artifact_json(a) for a in self.artifacts.values() if name in (None, a.name)]
                return 200, {"total_count": len(rows), "artifacts": rows}, None
            if m := re.fullmatch(r"/actions/artifacts/(\d+)/zip", path):
                return 302, None, {"Location": f"http://127.0.0.1:{port}/_blob/{m.group(1)}"}
        return 404, {"message": "Not Found"}, None

    def _pull_json(self, pull: PullRequest) -> dict[str, Any]:
        repo = f"stranger/{self.repository.split('/')[1]}" if pull.fork else self.repository
        return {
            "number": pull.number,
            "title": pull.title,
            "merge_commit_sha": pull.merge_commit,
            "merged_at": "2026-11-25T10:00:00Z" if pull.merge_commit else None,
            "head": {"sha": pull.head, "ref": pull.branch, "repo": {"full_name": repo}},
        }

    def _artifact_json(self, artifact: Artifact) -> dict[str, Any]:
        return {
            "id": artifact.id,
            "name": artifact.name,
            "expired": False,
            "created_at": artifact.created_at,
            "workflow_run": {"id": artifact.run_id, "head_sha": artifact.head_sha},
            "archive_download_url": f"{self.url}/repos/{self.repository}/actions/artifacts/{artifact.id}/zip",
        }

    def comment(self, pr: int, marker: str) -> str | None:
        return next((c["body"] for c in self.comments.get(pr, []) if marker in c["body"]), None)

    # ------------------------------------------------------------------ git, as people and the merge button use it

    def git(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            ["git", *args],
            cwd=cwd or self.admin,
            capture_output=True,
            text=True,
            env={
                **os.environ,
                "GIT_AUTHOR_NAME": "Person",
                "GIT_AUTHOR_EMAIL": "p@acme.example",
                "GIT_COMMITTER_NAME": "Person",
                "GIT_COMMITTER_EMAIL": "p@acme.example",
                **(env or {}),
            },
        )
        assert result.returncode == 0, (args, result.stderr)
        return result.stdout.strip()

    def push_main(self, files: dict[str, str], message: str) -> str:
        """A commit on main by an administrator (the initial setup, before protection rules mattered)."""
        born = subprocess.run(["git", "rev-parse", "-q", "--verify", "HEAD"], cwd=self.admin, capture_output=True)
        if born.returncode == 0:
            self.git("fetch", "-q", "origin")
            self.git("checkout", "-q", "-B", "main", "origin/main")
        for rel, text in files.items():
            path = self.admin / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        self.git("push", "-q", "origin", "main", env={MERGE_ENV: "1"})
        return self.git("rev-parse", "HEAD")

    def open_pr(self, branch: str, edits: dict[str, tuple[str, str]], title: str, *, fork: bool = False) -> PullRequest:
        """A pull request from ``branch`` off main's tip: ``edits`` maps a file to (old text, new text)."""
        self.git("checkout", "-q", "-B", branch, "origin/main" if self._has_origin_main() else "main")
        for rel, (old, new) in edits.items():
            path = self.admin / rel
            text = path.read_text(encoding="utf-8")
            assert old in text, (rel, old)
            path.write_text(text.replace(old, new, 1), encoding="utf-8")
        self.git("commit", "-q", "-am", title)
        self.git("push", "-q", "origin", branch)
        number = max(self.pulls, default=0) + 1
        pull = PullRequest(number, branch, self.git("rev-parse", "HEAD"), title, fork)
        self.pulls[number] = pull
        return pull

    def _has_origin_main(self) -> bool:
        self.git("fetch", "-q", "origin")
        return bool(self.git("branch", "-r", "--list", "origin/main"))

    def pr_merge_ref(self, pull: PullRequest) -> str:
        """refs/pull/N/merge: the pull request merged into main's tip now, which a pull_request run checks out."""
        self.git("fetch", "-q", "origin")
        self.git("checkout", "-q", "--detach", "origin/main")
        self.git("merge", "-q", "--no-ff", "-m", f"Merge {pull.head[:12]} into main", pull.head)
        sha = self.git("rev-parse", "HEAD")
        self.git("push", "-q", "-f", "origin", f"{sha}:refs/pull/{pull.number}/merge")
        return sha

    def merge(self, pull: PullRequest) -> str:
        """The merge button: a merge commit on main, pushed past the protection."""
        self.git("fetch", "-q", "origin")
        self.git("checkout", "-q", "-B", "main", "origin/main")
        self.git(
            "merge",
            "-q",
            "--no-ff",
            "-m",
            f"Merge pull request #{pull.number} from acme/{pull.branch}\n\n{pull.title}",
            pull.head,
        )
        self.git("push", "-q", "origin", "main", env={MERGE_ENV: "1"})
        pull.merge_commit = self.git("rev-parse", "HEAD")
        return pull.merge_commit

    def refused_pushes(self) -> list[str]:
        log = self.origin / "refused.log"
        return log.read_text().split() if log.exists() else []

    def checkout(self, ref: str, dest: Path) -> Path:
        """What actions/checkout does (full history, so the apply can walk main)."""
        self.git("clone", "-q", "--no-checkout", str(self.origin), str(dest), cwd=self.tmp)
        if ref.startswith("refs/"):
            self.git("fetch", "-q", "origin", f"+{ref}:refs/checkout", cwd=dest)
            ref = "refs/checkout"
        self.git("checkout", "-q", "--detach", "origin/main" if ref == "main" else ref, cwd=dest)
        return dest

    # ------------------------------------------------------------------ the runner

    def run_action(
        self,
        name: str,
        workspace: Path,
        *,
        inputs: dict[str, str],
        event: str,
        pull: PullRequest | None = None,
        env: dict[str, str] | None = None,
        skip: tuple[str, ...] = ("deps", "install"),
    ) -> ActionRun:
        action_dir = ROOT / ".github" / "actions" / name
        action = YAML(typ="safe").load((action_dir / "action.yml").read_text(encoding="utf-8"))
        run_id = next(self._runs)
        token = READ_TOKEN if pull is not None and pull.fork else WRITE_TOKEN
        pr_event = None
        if pull is not None:
            head_repo = f"stranger/{self.repository.split('/')[1]}" if pull.fork else self.repository
            pr_event = {"number": pull.number, "head": {"sha": pull.head, "repo": {"full_name": head_repo}}}
        github = {
            "token": token,
            "repository": self.repository,
            "server_url": "https://github.example",
            "run_id": str(run_id),
            "event_name": event,
            "event": {"pull_request": pr_event} if pr_event else {},
        }
        given = {**{k: str(v.get("default", "")) for k, v in action["inputs"].items()}, **inputs}
        context: dict[str, Any] = {"github": github, "steps": {}}
        context["inputs"] = {k: _substitute(v, context) for k, v in given.items()}
        summary = self.tmp / f"summary-{run_id}.md"
        summary.touch()
        base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "EPOPTIA_", "RECONCILER_"))}
        base.update(
            {
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                "NO_COLOR": "1",
                "GITHUB_REPOSITORY": self.repository,
                "GITHUB_API_URL": self.url,
                "GITHUB_SERVER_URL": "https://github.example",
                "GITHUB_RUN_ID": str(run_id),
                "GITHUB_JOB": name,
                "GITHUB_EVENT_NAME": event,
                "GITHUB_ACTION_PATH": str(action_dir),
                "GITHUB_WORKFLOW_REF": f"{self.repository}/.github/workflows/epoptia-{name}.yml@refs/heads/main",
                "GITHUB_STEP_SUMMARY": str(summary),
                "RUNNER_OS": "Linux",
                "RECONCILER_QUEUE_POLL": "0.1",
                **(env or {}),
            }
        )
        results: list[StepResult] = []
        failed = False
        for step in action["runs"]["steps"]:
            sid = step.get("id")
            condition = str(step.get("if", "")).strip()
            if (condition != "always()" and failed) or sid in skip:
                results.append(StepResult(sid, None))
                continue
            if condition not in ("", "always()"):
                raise AssertionError(f"the test runner does not evaluate if: {condition}")
            if "uses" in step:
                if "upload-artifact" in step["uses"]:
                    self._upload(step, context, workspace, pull, run_id)
                results.append(StepResult(sid, 0))
                continue
            output = self.tmp / f"output-{run_id}-{len(results)}"
            output.touch()
            step_env = {
                **base,
                **{k: _substitute(str(v), context) for k, v in (step.get("env") or {}).items()},
                "GITHUB_OUTPUT": str(output),
            }
            cwd = workspace / _substitute(str(step.get("working-directory", ".")), context)
            done = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                cwd=cwd,
                env=step_env,
                capture_output=True,
                text=True,
                timeout=180,
            )
            results.append(StepResult(sid, done.returncode, done.stdout, done.stderr))
            failed = failed or done.returncode != 0
            if sid:
                context["steps"][sid] = {
                    "outputs": dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
                }
        outputs = {sid: value["outputs"] for sid, value in context["steps"].items()}
        return ActionRun(results, outputs, summary.read_text(encoding="utf-8"))

    def _upload(
        self, step: dict[str, Any], context: dict[str, Any], workspace: Path, pull: PullRequest | None, run_id: int
    ) -> None:
        name = _substitute(step["with"]["name"], context)
        pattern = _substitute(step["with"]["path"], context).removeprefix("./")
        files = {p.name: p.read_bytes() for p in sorted(workspace.glob(pattern)) if p.is_file()}
        if files and name:
            artifact_id = next(self._ids)
            self.artifacts[artifact_id] = Artifact(
                artifact_id,
                name,
                pull.head if pull else "",
                run_id,
                files,
                f"2026-11-25T10:{len(self.artifacts):02d}:00Z",
            )


_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _lookup(token: str, context: dict[str, Any]) -> Any:
    if token.startswith("'") and token.endswith("'"):
        return token[1:-1]
    value: Any = context
    for part in token.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _evaluate(expression: str, context: dict[str, Any]) -> str:
    for operator in ("!=", "=="):
        if operator in expression:
            left, right = (_lookup(side.strip(), context) for side in expression.split(operator, 1))
            return _text((left != right) if operator == "!=" else (left == right))
    return _text(_lookup(expression, context))


def _substitute(text: str, context: dict[str, Any]) -> str:
    return _EXPRESSION.sub(lambda m: _evaluate(m.group(1), context), text)
