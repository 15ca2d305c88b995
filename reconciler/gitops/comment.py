"""What the plan and apply workflows do besides planning and applying.

- The plan goes to ONE pull-request comment, found again by a hidden marker and
  updated on every push, rather than a new comment each time.
- After an apply on the main branch, the state file is committed back with a
  message that names the pull request that was merged.
Kept here, not in shell inside the actions, so that it is tested.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx

from .errors import ReconcilerError
from .render.markdown import GITHUB_COMMENT_LIMIT, MARKER


class GitOpsError(ReconcilerError):
    """GitHub or git refused what a workflow step asked."""


def comment_body(markdown: str, *, sha: str | None = None, run_url: str | None = None) -> str:
    body = markdown if MARKER in markdown else f"{MARKER}\n{markdown}"
    footer = []
    if sha:
        footer.append(f"for commit {sha[:12]}")
    if run_url:
        footer.append(f"[workflow run]({run_url})")
    if footer:
        body = body.rstrip("\n") + "\n\n<sub>Updated " + " · ".join(footer) + "</sub>\n"
    if len(body) > GITHUB_COMMENT_LIMIT:
        raise GitOpsError(f"the comment is {len(body)} characters, over GitHub's limit of {GITHUB_COMMENT_LIMIT}")
    return body


class GitHub:
    def __init__(self, api_url: str, repository: str, token: str, transport: httpx.BaseTransport | None = None) -> None:
        self.repository = repository
        self._http = httpx.Client(
            base_url=api_url.rstrip("/"), transport=transport, timeout=30,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                     "X-GitHub-Api-Version": "2022-11-28"},
        )

    def _check(self, response: httpx.Response, what: str) -> httpx.Response:
        if response.status_code >= 300:
            raise GitOpsError(f"GitHub refused {what}: HTTP {response.status_code} {response.text[:200]}",
                              hint="the workflow needs `permissions: pull-requests: write`")
        return response

    def upsert_comment(self, pr: int, body: str) -> str:
        """Update the plan comment of this pull request, or create it; returns 'updated' or 'created'."""
        page = 1
        while True:
            response = self._check(self._http.get(f"/repos/{self.repository}/issues/{pr}/comments",
                                                  params={"per_page": 100, "page": page}), "listing comments")
            comments = response.json()
            for comment in comments:
                if MARKER in (comment.get("body") or ""):
                    self._check(self._http.patch(f"/repos/{self.repository}/issues/comments/{comment['id']}",
                                                 json={"body": body}), "updating the plan comment")
                    return "updated"
            if len(comments) < 100:
                break
            page += 1
        self._check(self._http.post(f"/repos/{self.repository}/issues/{pr}/comments", json={"body": body}),
                    "creating the plan comment")
        return "created"


_PR = (re.compile(r"^Merge pull request #(\d+)"), re.compile(r"\(#(\d+)\)\s*$", re.MULTILINE))


def _title(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else ""


def pull_request_of(head_message: str) -> int | None:
    """The PR a merge commit came from: 'Merge pull request #12 ...' or a squash '... (#12)'."""
    first = _title(head_message)
    for pattern in _PR:
        match = pattern.search(first)
        if match:
            return int(match.group(1))
    return None


def state_commit_message(target: str, head_message: str, sha: str) -> str:
    pr = pull_request_of(head_message)
    title = _title(head_message) or sha[:12]
    origin = f"#{pr}" if pr is not None else f"commit {sha[:12]}"
    return f"reconciler: state of {target!r} after applying {origin}\n\nApplied for: {title}\n[skip ci]\n"


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if result.returncode != 0:
        raise GitOpsError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def commit_state(repo: Path, state_path: Path, target: str) -> str | None:
    """Commit the state file if it changed; returns the new commit's message, or None.

    Only the state itself: git history is its backup, the local .backup file is not needed there.
    """
    if not state_path.exists():
        return None
    _git(repo, "add", "--", str(state_path))
    if not _git(repo, "diff", "--cached", "--name-only").strip():
        return None
    head_message = _git(repo, "log", "-1", "--format=%B")
    sha = _git(repo, "rev-parse", "HEAD").strip()
    message = state_commit_message(target, head_message, sha)
    _git(repo, "commit", "-m", message)
    return message
