"""apply: carry out the plan (or a saved, reviewed one) and report what was done."""

from __future__ import annotations

from pathlib import Path

import click

from ..commands.apply import ApplyRequest, ApplyStatus, apply_target
from ..planning import RefreshScope, Selection
from ..render.report import render_report
from . import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, Obj
from .options import (
    adopt_option,
    exclude_option,
    ignore_window_option,
    mass_delete_option,
    only_option,
    read_plan,
    refresh_only_option,
    refresh_option,
    target_option,
)
from .terminal import TerminalHooks


@click.command()
@click.argument("planfile", required=False, type=click.Path(dir_okay=False, path_type=Path))
@target_option
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation (CI).")
@click.option("--skip-blocked", is_flag=True, help="Apply everything else and leave blocked actions undone.")
@only_option
@exclude_option
@mass_delete_option
@ignore_window_option
@refresh_option("Read the pages that hold what the plan touches, or every page.")
@adopt_option
@refresh_only_option
@click.pass_obj
def apply(
    obj: Obj,
    planfile: Path | None,
    target: str | None,
    auto_approve: bool,
    skip_blocked: bool,
    only: tuple[str, ...],
    exclude: tuple[str, ...],
    allow_mass_delete: bool,
    ignore_window: bool,
    refresh: str,
    adopt: bool,
    refresh_only: bool,
) -> int:
    """Make Epoptia match the manifests (or carry out a saved plan), and record it in the state."""
    saved = read_plan(planfile) if planfile is not None else None
    context = obj.context(target if target is not None or saved is None else saved.target)
    request = ApplyRequest(
        saved_plan=saved,
        auto_approve=auto_approve,
        skip_blocked=skip_blocked,
        selection=Selection(only=only, exclude=exclude),
        allow_mass_delete=allow_mass_delete,
        ignore_window=ignore_window,
        adopt=adopt,
        refresh_only=refresh_only,
        refresh=RefreshScope(refresh),
    )
    # With --auto-approve the plan was read before (the pull request's comment, or `reconciler plan`):
    # its summary line is enough; asking for a yes shows the whole plan.
    view = "summary" if auto_approve else "full"
    with TerminalHooks(show_plan=view, protected=context.target.protected) as hooks:
        outcome = apply_target(context, request, hooks)
    if outcome.status is ApplyStatus.NOTHING_TO_APPLY:
        click.echo("Nothing to apply.")
        return EXIT_OK
    if outcome.status is ApplyStatus.REFRESHED:
        click.echo(f"Recorded what Epoptia has as the state of {context.target_name!r}; nothing was sent.")
        return EXIT_OK
    if outcome.status is ApplyStatus.CANCELLED:
        click.echo("Cancelled; nothing was applied.")
        return EXIT_ERROR
    report = outcome.report
    assert report is not None
    command = (
        "reconciler apply"
        + (f" --target {context.target_name}" if target or saved else "")
        + (" --skip-blocked" if skip_blocked else "")
    )
    click.echo(render_report(report, outcome.plan, command), nl=False)
    if report.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if report.complete or (skip_blocked and report.only_blocked_left) else EXIT_ERROR
