"""Pull-request comments: one per purpose, found again by a hidden marker, and the PR of a merge commit."""

from __future__ import annotations

import re

from ..render.markdown import GITHUB_COMMENT_LIMIT, MARKER
from .errors import GitOpsError

PLAN_MARKER = MARKER  # the plan of the pull request, updated on every push
APPLY_MARKER = "<!-- epoptia-reconciler-apply -->"  # what the apply on merge did with it


def comment_body(
    markdown: str, *, sha: str | None = None, run_url: str | None = None, marker: str = PLAN_MARKER
) -> str:
    body = markdown if marker in markdown else f"{marker}\n{markdown}"
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


_PR = (re.compile(r"^Merge pull request #(\d+)"), re.compile(r"\(#(\d+)\)\s*$", re.MULTILINE))


def title(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else ""


def pull_request_of(head_message: str) -> int | None:
    """The PR a merge commit came from: 'Merge pull request #12 ...' or a squash '... (#12)'."""
    first = title(head_message)
    for pattern in _PR:
        match = pattern.search(first)
        if match:
            return int(match.group(1))
    return None
