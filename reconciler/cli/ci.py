"""Steps of the GitHub workflows: the tenant's queue, apply on merge as reviewed, the plan comment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError
from ..planning import RefreshScope, Selection
from . import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, Obj
from .options import (
    exclude_option,
    ignore_window_option,
    mass_delete_option,
    only_option,
    refresh_option,
    target_option,
)


def _notice(message: str) -> None:
    click.echo(message, err=True)


def queue_options(function: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--state-branch",
            default="reconciler-state",
            show_default=True,
            envvar="RECONCILER_STATE_BRANCH",
            help="The branch CI keeps states, halts and the queue on.",
        ),
        click.option("--remote", default="origin", show_default=True, help="The git remote that holds it."),
        click.option(
            "--wait",
            "wait_minutes",
            type=float,
            default=60,
            show_default=True,
            help="Minutes to wait for the tenant's queue before giving up.",
        ),
        click.option(
            "--lease",
            "lease_minutes",
            type=float,
            default=120,
            show_default=True,
            help="Minutes after which this job's hold on the queue expires, should it die holding it.",
        ),
        click.option(
            "--poll",
            "poll_seconds",
            type=float,
            default=15,
            show_default=True,
            envvar="RECONCILER_QUEUE_POLL",
            help="Seconds between looks at a busy queue.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _queue(context: Any, options: dict[str, Any]) -> Any:
    from ..gitops.branch import StateBranch, TargetFiles
    from ..gitops.git import Git
    from ..gitops.queue import TenantQueue

    git = Git.at(context.root, options["remote"])
    state = context.state_store.path.resolve()
    if not state.is_relative_to(git.cwd):
        raise ConfigError(
            f"the state file {state} of target {context.target_name!r} is outside the repository {git.cwd}",
            hint="CI keeps states on a branch of the manifests repository: use a path inside it",
        )
    return TenantQueue(
        StateBranch(git, options["remote"], options["state_branch"]),
        TargetFiles(state.relative_to(git.cwd).as_posix()),
        context.target_name,
        lease_minutes=options["lease_minutes"],
        wait_minutes=options["wait_minutes"],
        poll_seconds=options["poll_seconds"],
        notice=_notice,
    )


def _queue_settings(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: kwargs.pop(k) for k in ("state_branch", "remote", "wait_minutes", "lease_minutes", "poll_seconds")}


@click.group()
def ci() -> None:
    """Steps of the GitHub workflows: the tenant's queue, apply on merge as reviewed, the plan comment."""


# ---------------------------------------------------------------------- ci run


def _target_in(args: tuple[str, ...]) -> str | None:
    for i, arg in enumerate(args):
        if arg in ("--target", "-t") and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--target="):
            return arg.split("=", 1)[1]
    return None


@ci.command("run", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option(
    "--target",
    "-t",
    "ci_target",
    default=None,
    help="Target whose queue to take (default: the command's --target, or default_target).",
)
@click.option("--job", default=None, help="What to call this job in the lease (default: the command's name).")
@click.option(
    "--read-only",
    is_flag=True,
    help="Take no lease and record nothing: only read the state branch (a plan with no key, from a fork).",
)
@queue_options
@click.argument("args", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_obj
def ci_run(
    obj: Obj, ci_target: str | None, job: str | None, read_only: bool, args: tuple[str, ...], **kwargs: Any
) -> int:
    """Run `reconciler ARGS...` in the tenant's queue, on the state branch's state and halt.

    Waits for the queue, fetches the target's state, halt and journal from the
    state branch, runs the command, then writes back what it changed (a halt a
    403/429 set, a halt cleared, the state an apply or import wrote) and frees
    the queue. Exits with the command's exit code. Example:
    `reconciler ci run -- drift --detailed-exitcode`.
    """
    from ..gitops.workspace import local_paths, run_in_queue

    settings = _queue_settings(kwargs)
    named = _target_in(args)
    if ci_target and named and ci_target != named:
        raise click.UsageError(f"--target {ci_target} for the queue, but the command names --target {named}")
    context = obj.context(ci_target or named)
    queue = _queue(context, settings)
    command = [sys.executable, "-m", "reconciler", *(["--config", str(obj.config)] if obj.config else []), *args]
    if not named and context.target_name != context.config.default_target:
        _notice(f"Note: the command runs against its own default target; pass --target {context.target_name} to it")

    def run() -> int:
        code = subprocess.run(command).returncode
        return EXIT_INTERRUPTED if code < 0 else code

    return run_in_queue(queue, local_paths(context), job or args[0], run, read_only=read_only)


# ---------------------------------------------------------------------- ci apply


@ci.command("apply")
@target_option
@click.option(
    "--approve",
    default=None,
    metavar="DIGEST",
    help="Apply the plan on main with this digest (shown where a merge was held) instead of the reviewed one.",
)
@click.option("--skip-blocked", is_flag=True, help="Apply everything else and leave blocked actions undone.")
@only_option
@exclude_option
@mass_delete_option
@ignore_window_option
@refresh_option("How much of Epoptia the plan on main reads first.")
@click.option("--main", "main", default="main", show_default=True, help="The branch merges land on.")
@queue_options
@click.pass_obj
def ci_apply(
    obj: Obj,
    target: str | None,
    approve: str | None,
    skip_blocked: bool,
    only: tuple[str, ...],
    exclude: tuple[str, ...],
    allow_mass_delete: bool,
    ignore_window: bool,
    refresh: str,
    main: str,
    **kwargs: Any,
) -> int:
    """Apply every merge not applied yet, in order, each only as it was reviewed in its pull request.

    A merge whose plan on main differs from its reviewed plan (or whose
    reviewed plan is stale or missing) is not applied: the difference goes on
    the pull request and into the job summary, with the digest to pass to
    --approve. Outside the apply windows the merges stay pending for the
    scheduled run. Exit 1 when a merge is held for a person.
    """
    from ..gitops.drain import Drain, DrainRequest
    from ..gitops.github import GitHub
    from .terminal import TerminalHooks

    settings = _queue_settings(kwargs)
    context = obj.context(target)
    queue = _queue(context, settings)
    github = GitHub.from_env()
    request = DrainRequest(
        approve=approve,
        skip_blocked=skip_blocked,
        allow_mass_delete=allow_mass_delete,
        selection=Selection(only=only, exclude=exclude),
        ignore_window=ignore_window,
        refresh=RefreshScope(refresh),
        main=main,
    )
    with TerminalHooks() as hooks:
        outcome = Drain(context, queue.branch.git, queue.branch, queue, hooks, github, _notice).run(request)
    _publish(outcome, github, main)
    return EXIT_ERROR if outcome.held else EXIT_OK


def _publish(outcome: Any, github: Any, main: str) -> None:
    from ..gitops.comment import APPLY_MARKER
    from ..gitops.drain import Status
    from ..gitops.errors import GitOpsError
    from ..gitops.words import step_markdown, summary_markdown

    summary = summary_markdown(outcome, main=main)
    click.echo(summary, nl=False)
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(summary)
    if github is None:
        return
    for step in outcome.steps:
        if step.merge.pr is None or step.status is Status.NOTHING:
            continue
        try:
            github.upsert_comment(step.merge.pr, step_markdown(step, outcome.target, main=main), marker=APPLY_MARKER)
        except GitOpsError as error:
            _notice(f"::warning::could not comment on #{step.merge.pr}: {error}")


# ---------------------------------------------------------------------- ci lease


@ci.group("lease")
def lease() -> None:
    """Who holds a tenant's queue; break the hold of a job that died."""


@lease.command("show")
@target_option
@queue_options
@click.pass_obj
def lease_show(obj: Obj, target: str | None, **kwargs: Any) -> int:
    """Say which job holds the target's queue, if any."""
    queue = _queue(obj.context(target), _queue_settings(kwargs))
    current = queue.current()
    click.echo(
        f"The queue of {queue.target!r} is free."
        if current is None
        else f"The queue of {queue.target!r} is held by {current.describe()}."
    )
    return EXIT_OK


@lease.command("break")
@click.argument("lease_id")
@target_option
@queue_options
@click.pass_obj
def lease_break(obj: Obj, lease_id: str, target: str | None, **kwargs: Any) -> int:
    """Free the queue held by a job that died. Only when you are sure it is not running."""
    queue = _queue(obj.context(target), _queue_settings(kwargs))
    broken = queue.break_lease(lease_id)
    click.echo(f"Broke lease {broken.id} of {broken.describe()}.")
    return EXIT_OK


# ---------------------------------------------------------------------- ci comment


@ci.command("comment")
@click.option("--pr", "pr", required=True, type=int, help="Pull request number.")
@click.option("--body-file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--sha", default=None, help="Commit the plan was made for.")
@click.option("--run-url", default=None, help="Link to the workflow run.")
@click.option(
    "--fork",
    "fork",
    is_flag=True,
    help="The pull request comes from a fork, whose token cannot comment: the job summary only.",
)
def ci_comment(pr: int, body_file: Path, sha: str | None, run_url: str | None, fork: bool) -> int:
    """Put the plan in the job summary, and create or update THE plan comment of a pull request."""
    from ..gitops import GitHub, comment_body
    from ..gitops.errors import GitOpsError

    body = comment_body(body_file.read_text(encoding="utf-8"), sha=sha, run_url=run_url)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(body + "\n")
    if fork:
        click.echo(f"::notice::#{pr} comes from a fork, whose token cannot comment: the plan is in the job summary.")
        return EXIT_OK
    github = GitHub.from_env()
    if github is None:
        raise GitOpsError("GITHUB_TOKEN and GITHUB_REPOSITORY must be set", hint="run this from a GitHub workflow")
    click.echo(f"Plan comment {github.upsert_comment(pr, body)} on #{pr}.")
    return EXIT_OK
