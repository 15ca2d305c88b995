"""plan and show: what apply would change, for a terminal, a pull request or a script."""

from __future__ import annotations

from pathlib import Path

import click

from ..commands.hooks import BLOCKED_HINT
from ..commands.plan import PlanRequest, plan_target
from ..planning import Plan, RefreshScope, Selection
from ..render import Format, render
from . import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, Obj
from .options import (
    adopt_option,
    exclude_option,
    format_option,
    mass_delete_option,
    only_option,
    read_plan,
    refresh_only_option,
    refresh_option,
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
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also save the plan as JSON, for `reconciler show` and `reconciler apply PLANFILE`.",
)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 when there are none.")
@only_option
@exclude_option
@mass_delete_option
@click.option("--skip-blocked", is_flag=True, help="Do not fail on blocked actions; they will be skipped.")
@refresh_option("Read the pages that hold what the plan touches, or every page (all drift).")
@click.option("--no-refresh", is_flag=True, help="Plan from the state file alone (where Epoptia is out of reach).")
@adopt_option
@refresh_only_option
@click.pass_obj
def plan(
    obj: Obj,
    target: str | None,
    fmt: str,
    out: Path | None,
    detailed_exitcode: bool,
    only: tuple[str, ...],
    exclude: tuple[str, ...],
    allow_mass_delete: bool,
    skip_blocked: bool,
    refresh: str,
    no_refresh: bool,
    adopt: bool,
    refresh_only: bool,
) -> int:
    """Show what apply would change in Epoptia."""
    context = obj.context(target)
    scope = RefreshScope.NONE if no_refresh else RefreshScope(refresh)
    if refresh_only and scope is RefreshScope.TARGETED:
        scope = RefreshScope.FULL  # recording what Epoptia has means reading all of it
    request = PlanRequest(
        selection=Selection(only=only, exclude=exclude),
        allow_mass_delete=allow_mass_delete,
        refresh=scope,
        adopt=adopt,
        refresh_only=refresh_only,
    )
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
