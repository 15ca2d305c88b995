"""The few GitHub REST calls the workflows make: comments, the PR of a commit, plan artifacts.

The token is the workflow's GITHUB_TOKEN; what each call needs is named in the
hint of its error, so a 403 says which `permissions:` line is missing (or that
a pull request from a fork never gets it).
"""

from __future__ import annotations

import io
import os
import zipfile
from typing import Any

import httpx

from .comment import PLAN_MARKER
from .errors import GitOpsError

_NEEDS = {
    "comment": "the job needs `permissions: pull-requests: write`; a pull request from a fork never gets it "
    "(its plan goes to the job summary instead)",
    "read": "the job needs `permissions: contents: read` and `pull-requests: read`",
    "artifact": "the job needs `permissions: actions: read` to read the plan saved by the pull request's run",
}


class GitHubRefused(GitOpsError):
    def __init__(self, message: str, *, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class GitHub:
    def __init__(self, api_url: str, repository: str, token: str, transport: httpx.BaseTransport | None = None) -> None:
        self.repository = repository
        self._transport = transport
        self._http = httpx.Client(
            base_url=api_url.rstrip("/"),
            transport=transport,
            timeout=30,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
        )

    @classmethod
    def from_env(cls) -> GitHub | None:
        """The workflow's GitHub (GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL), or None outside one."""
        token, repository = os.environ.get("GITHUB_TOKEN"), os.environ.get("GITHUB_REPOSITORY")
        if not token or not repository:
            return None
        return cls(os.environ.get("GITHUB_API_URL", "https://api.github.com"), repository, token)

    def _check(self, response: httpx.Response, what: str, need: str) -> httpx.Response:
        if response.status_code >= 300:
            raise GitHubRefused(
                f"GitHub refused {what}: HTTP {response.status_code} {response.text[:200]}",
                status=response.status_code,
                hint=_NEEDS[need],
            )
        return response

    def _get(self, path: str, what: str, need: str, **params: Any) -> Any:
        return self._check(self._http.get(f"/repos/{self.repository}{path}", params=params), what, need).json()

    # ------------------------------------------------------------------ comments

    def upsert_comment(self, pr: int, body: str, marker: str = PLAN_MARKER) -> str:
        """Update the comment of this pull request that carries ``marker``, or create it: 'updated' or 'created'."""
        page = 1
        while True:
            comments = self._get(f"/issues/{pr}/comments", "listing comments", "comment", per_page=100, page=page)
            for comment in comments:
                if marker in (comment.get("body") or ""):
                    self._check(
                        self._http.patch(
                            f"/repos/{self.repository}/issues/comments/{comment['id']}", json={"body": body}
                        ),
                        "updating a comment",
                        "comment",
                    )
                    return "updated"
            if len(comments) < 100:
                break
            page += 1
        self._check(
            self._http.post(f"/repos/{self.repository}/issues/{pr}/comments", json={"body": body}),
            "creating a comment",
            "comment",
        )
        return "created"

    # ------------------------------------------------------------------ pull requests

    def pulls_of_commit(self, sha: str) -> list[dict[str, Any]]:
        """The merged pull request that brought ``sha`` to the default branch (merge, squash or rebase)."""
        return list(self._get(f"/commits/{sha}/pulls", f"the pull requests of {sha[:12]}", "read"))

    def pull(self, number: int) -> dict[str, Any]:
        return dict(self._get(f"/pulls/{number}", f"pull request #{number}", "read"))

    # ------------------------------------------------------------------ artifacts

    def artifacts(self, name: str) -> list[dict[str, Any]]:
        """Unexpired artifacts called ``name``, newest first."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            body = self._get(
                "/actions/artifacts", f"the artifacts named {name}", "artifact", name=name, per_page=100, page=page
            )
            batch = body.get("artifacts") or []
            found += [a for a in batch if not a.get("expired")]
            if len(batch) < 100:
                break
            page += 1
        return sorted(found, key=lambda a: (a.get("created_at") or "", a.get("id") or 0), reverse=True)

    def artifact_file(self, artifact_id: int, filename: str) -> bytes | None:
        """One file of an artifact's zip. GitHub answers with a redirect to storage, which is fetched
        without the token (whatever its host: the token is for GitHub's API only)."""
        response = self._http.get(f"/repos/{self.repository}/actions/artifacts/{artifact_id}/zip")
        if response.status_code in (301, 302, 303, 307, 308) and response.headers.get("Location"):
            with httpx.Client(timeout=120, transport=self._transport) as storage:
                response = storage.get(response.headers["Location"], follow_redirects=True)
        self._check(response, f"artifact {artifact_id}", "artifact")
        try:
            with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
                return archive.read(filename) if filename in archive.namelist() else None
        except zipfile.BadZipFile:
            raise GitOpsError(f"artifact {artifact_id} is not a zip archive") from None

    def close(self) -> None:
        self._http.close()
