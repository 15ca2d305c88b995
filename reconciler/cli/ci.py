"""Steps of the GitHub workflows: the plan comment and the state commit."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..errors import ReconcilerError
from . import EXIT_OK, Obj
from .options import target_option


@click.group()
def ci() -> None:
    """Steps of the GitHub workflows (plan comment, state commit), for .github/actions."""


@ci.command("comment")
@click.option("--pr", "pr", required=True, type=int, help="Pull request number.")
@click.option("--body-file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--sha", default=None, help="Commit the plan was made for.")
@click.option("--run-url", default=None, help="Link to the workflow run.")
def ci_comment(pr: int, body_file: Path, sha: str | None, run_url: str | None) -> int:
    """Create or update THE plan comment of a pull request (GITHUB_TOKEN, GITHUB_REPOSITORY)."""
    from ..gitops import GitHub, comment_body

    token, repository = os.environ.get("GITHUB_TOKEN"), os.environ.get("GITHUB_REPOSITORY")
    if not token or not repository:
        raise ReconcilerError("GITHUB_TOKEN and GITHUB_REPOSITORY must be set", hint="run this from a GitHub workflow")
    body = comment_body(body_file.read_text(encoding="utf-8"), sha=sha, run_url=run_url)
    github = GitHub(os.environ.get("GITHUB_API_URL", "https://api.github.com"), repository, token)
    click.echo(f"Plan comment {github.upsert_comment(pr, body)} on #{pr}.")
    return EXIT_OK


@ci.command("commit-state")
@target_option
@click.pass_obj
def ci_commit_state(obj: Obj, target: str | None) -> int:
    """Commit the target's state file, with a message naming the merged pull request."""
    from ..gitops import commit_state

    context = obj.context(target)
    message = commit_state(context.root, context.state_store.path, context.target_name)
    click.echo(message.splitlines()[0] if message else "State unchanged; nothing to commit.")
    return EXIT_OK
