"""plan, show, apply."""

from __future__ import annotations

from pathlib import Path

import click

from ..commands.apply import BLOCKED_HINT, ApplyRequest, ApplyStatus, apply_target
from ..commands.plan import PlanRequest, plan_target
from ..planning import Plan, RefreshScope, Selection
from ..render import Format, render
from ..render.report import render_report
from . import EXIT_CHANGES, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, Obj
from .options import (
    adopt_option,
    exclude_option,
    format_option,
    mass_delete_option,
    only_option,
    read_plan,
    refresh_only_option,
    target_option,
    write_plan,
)
from .terminal import TerminalHooks, use_color


def plan_exit_code(plan: Plan, *, detailed_exitcode: bool, skip_blocked: bool) -> int:
    if plan.blocked and not skip_blocked:
        click.echo(
            f"Error: {len(plan.blocked)} blocked action(s): production has started on what they change.\n"
            f"  hint: {BLOCKED_HINT}",
            err=True,
        )
        return EXIT_ERROR
    if detailed_exitcode and plan.runnable:
        return EXIT_CHANGES
    return EXIT_OK


@click.command()
@target_option
@format_option
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also save the plan as JSON, for `reconciler show` and `reconciler apply PLANFILE`.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 when there are none.")
@only_option
@exclude_option
@mass_delete_option
@click.option("--skip-blocked", is_flag=True, help="Do not fail on blocked actions; they will be skipped.")
@click.option("--refresh", "refresh", type=click.Choice(["targeted", "full"]), default="targeted", show_default=True,
              help="Read the pages that hold what the plan touches, or every page (all drift).")
@click.option("--no-refresh", is_flag=True, help="Plan from the state file alone (where Epoptia is out of reach).")
@adopt_option
@refresh_only_option
@click.pass_obj
def plan(obj: Obj, target: str | None, fmt: str, out: Path | None, detailed_exitcode: bool,
         only: tuple[str, ...], exclude: tuple[str, ...], allow_mass_delete: bool, skip_blocked: bool,
         refresh: str, no_refresh: bool, adopt: bool, refresh_only: bool) -> int:
    """Show what apply would change in Epoptia."""
    context = obj.context(target)
    scope = RefreshScope.NONE if no_refresh else RefreshScope(refresh)
    if refresh_only and scope is RefreshScope.TARGETED:
        scope = RefreshScope.FULL  # recording what Epoptia has means reading all of it
    request = PlanRequest(selection=Selection(only=only, exclude=exclude), allow_mass_delete=allow_mass_delete,
                          refresh=scope, adopt=adopt, refresh_only=refresh_only)
    with TerminalHooks() as hooks:
        outcome = plan_target(context, request, hooks)
    if out is not None:
        write_plan(out, outcome.plan)
    click.echo(render(outcome.plan, Format(fmt), color=use_color()), nl=False)
    return plan_exit_code(outcome.plan, detailed_exitcode=detailed_exitcode, skip_blocked=skip_blocked)


@click.command()
@click.argument("planfile", type=click.Path(dir_okay=False, path_type=Path))
@format_option
def show(planfile: Path, fmt: str) -> int:
    """Render a plan saved with `plan --out`."""
    click.echo(render(read_plan(planfile), Format(fmt), color=use_color()), nl=False)
    return EXIT_OK


@click.command()
@click.argument("planfile", required=False, type=click.Path(dir_okay=False, path_type=Path))
@target_option
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation (CI).")
@click.option("--skip-blocked", is_flag=True, help="Apply everything else and leave blocked actions undone.")
@only_option
@exclude_option
@mass_delete_option
@click.option("--ignore-window", is_flag=True, help="Apply even outside the target's apply windows.")
@click.option("--refresh", "refresh", type=click.Choice(["targeted", "full"]), default="targeted", show_default=True,
              help="Read the pages that hold what the plan touches, or every page.")
@adopt_option
@refresh_only_option
@click.pass_obj
def apply(obj: Obj, planfile: Path | None, target: str | None, auto_approve: bool, skip_blocked: bool,
          only: tuple[str, ...], exclude: tuple[str, ...], allow_mass_delete: bool, ignore_window: bool,
          refresh: str, adopt: bool, refresh_only: bool) -> int:
    """Make Epoptia match the manifests (or carry out a saved plan), and record it in the state."""
    saved = read_plan(planfile) if planfile is not None else None
    context = obj.context(target if target is not None or saved is None else saved.target)
    request = ApplyRequest(saved_plan=saved, auto_approve=auto_approve, skip_blocked=skip_blocked,
                           selection=Selection(only=only, exclude=exclude), allow_mass_delete=allow_mass_delete,
                           ignore_window=ignore_window, adopt=adopt, refresh_only=refresh_only,
                           refresh=RefreshScope(refresh))
    with TerminalHooks() as hooks:
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
    command = "reconciler apply" + (f" --target {context.target_name}" if target or saved else "") + (
        " --skip-blocked" if skip_blocked else "")
    click.echo(render_report(report, command), nl=False)
    if report.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if report.complete or (skip_blocked and report.only_blocked_left) else EXIT_ERROR
