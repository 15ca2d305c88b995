"""The `reconciler` command line: options in, stages called, exit code out.

Exit codes follow Terraform's -detailed-exitcode: 0 no changes, 2 changes
(only with --detailed-exitcode), 1 errors or blocked actions. Usage mistakes
exit 1 too, never 2, so that CI can never read a typo as 'changes pending'.
"""

from __future__ import annotations

import gc
import os
import sys
import traceback
from pathlib import Path

import click

from . import __version__
from .context import Context
from .errors import PlanError, ReconcilerError
from .planning import Plan, Selection
from .render import Format, render

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_INTERRUPTED = 0, 1, 2, 130


def _use_color(stream=None) -> bool:
    stream = stream or sys.stdout
    return stream.isatty() and "NO_COLOR" not in os.environ


class _Obj:
    """What the group's options leave for the commands."""

    def __init__(self, config: Path | None) -> None:
        self.config = config

    def context(self, target: str | None) -> Context:
        return Context.open(self.config, target)


target_option = click.option("--target", "-t", help="Target from reconciler.yaml (default: its default_target).")
format_option = click.option(
    "--format", "fmt", type=click.Choice([f.value for f in Format]), default=Format.TEXT.value, show_default=True,
    help="How to print the plan.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconciler")
@click.option("--config", "-c", type=click.Path(dir_okay=False, path_type=Path),
              help="Path to reconciler.yaml (default: found in this folder or above).")
@click.pass_context
def cli(ctx: click.Context, config: Path | None) -> None:
    """Declarative, GitOps-style reconciler for Epoptia MES master data."""
    ctx.obj = _Obj(config)


@cli.command()
@target_option
@click.pass_obj
def validate(obj: _Obj, target: str | None) -> None:
    """Check the manifests and reconciler.yaml; no state, no network."""
    context = obj.context(target)
    desired = context.load_desired()
    counts: dict[str, int] = {}
    for res in desired.resources.values():
        counts[res.kind.value] = counts.get(res.kind.value, 0) + 1
    parts = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    click.echo(f"Valid: {len(desired.files)} files, {parts}, {len(desired.routings)} Routing.")


def _finish_plan(plan: Plan, *, detailed_exitcode: bool, skip_blocked: bool) -> int:
    if plan.blocked and not skip_blocked:
        click.echo(
            f"Error: {len(plan.blocked)} blocked action(s): production has started on what they change.\n"
            "  hint: change the manifests as each advice says, or apply the rest with --skip-blocked",
            err=True,
        )
        return EXIT_ERROR
    if detailed_exitcode and plan.runnable:
        return EXIT_CHANGES
    return EXIT_OK


@cli.command()
@target_option
@format_option
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also save the plan as JSON, for `reconciler show` and `reconciler apply PLANFILE`.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 when there are none.")
@click.option("--only", multiple=True, metavar="KIND/ID",
              help="Plan only these resources (globs allowed; a work order includes its lines). Repeatable.")
@click.option("--exclude", multiple=True, metavar="KIND/ID", help="Leave these resources out. Repeatable.")
@click.option("--allow-mass-delete", is_flag=True, help="Allow more deletions than the target's limit.")
@click.option("--skip-blocked", is_flag=True, help="Do not fail on blocked actions; they will be skipped.")
@click.pass_obj
def plan(obj: _Obj, target: str | None, fmt: str, out: Path | None, detailed_exitcode: bool,
         only: tuple[str, ...], exclude: tuple[str, ...], allow_mass_delete: bool, skip_blocked: bool) -> None:
    """Show what apply would change in Epoptia."""
    context = obj.context(target)
    the_plan = context.plan(selection=Selection(only=only, exclude=exclude), allow_mass_delete=allow_mass_delete)
    if out is not None:
        _write_plan(out, the_plan)
    click.echo(render(the_plan, Format(fmt), color=_use_color()), nl=False)
    sys.exit(_finish_plan(the_plan, detailed_exitcode=detailed_exitcode, skip_blocked=skip_blocked))


@cli.command()
@click.argument("planfile", type=click.Path(dir_okay=False, path_type=Path))
@format_option
def show(planfile: Path, fmt: str) -> None:
    """Render a plan saved with `plan --out`."""
    try:
        text = planfile.read_bytes()
    except OSError as error:
        raise PlanError(f"cannot read plan file {planfile}: {error.strerror}") from None
    the_plan = Plan.from_json(text, source=f"plan file {planfile}")
    click.echo(render(the_plan, Format(fmt), color=_use_color()), nl=False)


@cli.command("force-unlock")
@click.argument("lock_id")
@target_option
@click.pass_obj
def force_unlock(obj: _Obj, lock_id: str, target: str | None) -> None:
    """Remove the state lock of a run that died. Only when you are sure it is dead."""
    context = obj.context(target)
    context.state_store.force_unlock(lock_id)
    click.echo(f"Removed lock {lock_id} from {context.state_store.path}.")


@cli.group()
def emulator() -> None:
    """A local Epoptia for trying the reconciler without an account."""


@emulator.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8303, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@click.option("--db", default=".reconciler/emulator.sqlite", show_default=True,
              help="SQLite file for the emulator's data (':memory:' keeps nothing).")
@click.option("--api-key", default=None, help="Key the emulator accepts (default: a new random key).")
def emulator_serve(host: str, port: int, db: str, api_key: str | None) -> None:
    """Serve the emulator until Ctrl-C; prints its URL and the API key it accepts."""
    from .emulator.server import new_api_key, serve

    try:
        serve(db, host, port, api_key or new_api_key(), announce=lambda line: click.echo(line))
    except OSError as error:
        raise ReconcilerError(f"cannot serve the emulator on {host}:{port}: {error.strerror}",
                              hint="pick another --port, or 0 for a free one") from None


def _write_plan(path: Path, the_plan: Plan) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(the_plan.to_json(), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as error:
        raise PlanError(f"cannot write plan file {path}: {error.strerror}") from None


def main(argv: list[str] | None = None) -> None:
    """Entry point: no traceback reaches a user for anything they can fix."""
    # A plan builds hundreds of thousands of small, acyclic objects (parsed YAML,
    # index entries); with the default threshold the cyclic collector rescans the
    # growing heap over and over, which doubled load times at 100,000 lines.
    # Cycles are still collected, only less often.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    try:
        cli.main(args=argv, prog_name="reconciler", standalone_mode=False)
    except ReconcilerError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as error:
        error.show()
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except SystemExit:
        raise
    except Exception:
        if os.environ.get("RECONCILER_DEBUG"):
            traceback.print_exc()
        else:
            click.echo(
                "Internal error: this is a bug in the reconciler, not in your data.\n"
                "  hint: run again with RECONCILER_DEBUG=1 and report the traceback",
                err=True,
            )
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_OK)
