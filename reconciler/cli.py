"""The `reconciler` command line: options in, stages called, exit code out.

Exit codes follow Terraform's -detailed-exitcode: 0 no changes, 2 changes
(only with --detailed-exitcode), 1 errors or blocked actions. Usage mistakes
exit 1 too, never 2, so that CI can never read a typo as 'changes pending'.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import traceback
from contextlib import contextmanager
from pathlib import Path

import click

from . import __version__
from .apply import Executor, recover
from .epoptia.mapping import line_id_of
from .clock import timestamp
from .context import Context
from .epoptia.errors import HaltedError, UnreachableError
from .errors import PlanError, ReconcilerError
from .planning import Plan, Selection
from .planning.staleness import stale_reasons
from .refresh import Refresh
from .render import Format, render
from .render.describe import drift_sections
from .render.report import render_report
from .state import Snapshot

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_INTERRUPTED = 0, 1, 2, 130
BLOCKED_HINT = "change the manifests as each advice says, or apply the rest with --skip-blocked"


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
            f"  hint: {BLOCKED_HINT}",
            err=True,
        )
        return EXIT_ERROR
    if detailed_exitcode and plan.runnable:
        return EXIT_CHANGES
    return EXIT_OK


def _refreshed(context: Context, offline_ok: bool) -> tuple[Snapshot, Refresh | None]:
    """The state, with what Epoptia really has laid over it; offline if Epoptia cannot be reached."""
    snapshot = context.state_store.snapshot()
    try:
        with context.connect() as client:
            wire = list(client.list_lines())
    except (UnreachableError, HaltedError) as error:
        if not offline_ok:
            raise
        click.echo(f"Warning: could not read Epoptia, planning from the state file alone: {error.message}", err=True)
        return snapshot, None
    return context.refresh(snapshot, wire)


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
@click.option("--refresh/--no-refresh", default=True, show_default=True,
              help="Read what Epoptia really has before planning (skip it where Epoptia is out of reach).")
@click.pass_obj
def plan(obj: _Obj, target: str | None, fmt: str, out: Path | None, detailed_exitcode: bool,
         only: tuple[str, ...], exclude: tuple[str, ...], allow_mass_delete: bool, skip_blocked: bool,
         refresh: bool) -> None:
    """Show what apply would change in Epoptia."""
    context = obj.context(target)
    desired = context.load_desired()  # manifests first: a broken file fails before any request
    snapshot, refreshed = _refreshed(context, offline_ok=True) if refresh else (context.state_store.snapshot(), None)
    the_plan = context.plan(selection=Selection(only=only, exclude=exclude), allow_mass_delete=allow_mass_delete,
                            desired=desired, state=snapshot, refreshed=refreshed)
    if out is not None:
        _write_plan(out, the_plan)
    click.echo(render(the_plan, Format(fmt), color=_use_color()), nl=False)
    sys.exit(_finish_plan(the_plan, detailed_exitcode=detailed_exitcode, skip_blocked=skip_blocked))


@cli.command()
@click.argument("planfile", required=False, type=click.Path(dir_okay=False, path_type=Path))
@target_option
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation (CI).")
@click.option("--skip-blocked", is_flag=True, help="Apply everything else and leave blocked actions undone.")
@click.option("--only", multiple=True, metavar="KIND/ID", help="Apply only these resources. Repeatable.")
@click.option("--exclude", multiple=True, metavar="KIND/ID", help="Leave these resources out. Repeatable.")
@click.option("--allow-mass-delete", is_flag=True, help="Allow more deletions than the target's limit.")
@click.option("--ignore-window", is_flag=True, help="Apply even outside the target's apply windows.")
@click.pass_obj
def apply(obj: _Obj, planfile: Path | None, target: str | None, auto_approve: bool, skip_blocked: bool,
          only: tuple[str, ...], exclude: tuple[str, ...], allow_mass_delete: bool, ignore_window: bool) -> None:
    """Make Epoptia match the manifests (or carry out a saved plan), and record it in the state."""
    context = obj.context(target)
    saved = _read_plan(planfile) if planfile is not None else None
    if saved is not None and saved.target != context.target_name and target is None:
        context = obj.context(saved.target)
    window = context.window_check()
    if not window.allowed and not ignore_window:
        raise ReconcilerError(f"refusing to apply to {context.target_name!r}: {window.message}",
                              hint="wait for the window, or pass --ignore-window if this change cannot wait")
    desired = context.load_desired() if saved is None else None
    store = context.state_store
    with store.lock("apply"), context.connect() as client:
        wire = list(client.list_lines())
        state = store.read()
        resources = dict(state.resources)
        for note in recover(context.journal, resources, wire, context.profile):
            click.echo(f"Recovered: {note}", err=True)
        if resources != state.resources:
            state = store.write(state.model_copy(update={"resources": resources}))
        view, refreshed = context.refresh(state.snapshot(), wire)
        if saved is not None:
            reasons = stale_reasons(saved, view, context.target_name)
            if reasons:
                raise PlanError(
                    "the saved plan is stale:\n" + "\n".join(f"  - {r}" for r in reasons),
                    hint="make a new plan with `reconciler plan --out PLANFILE` and review it again",
                )
            the_plan = saved
        else:
            the_plan = context.plan(selection=Selection(only=only, exclude=exclude),
                                    allow_mass_delete=allow_mass_delete, desired=desired, state=view,
                                    refreshed=refreshed)
        click.echo(render(the_plan, Format.TEXT, color=_use_color()), nl=False)
        if the_plan.blocked and not skip_blocked:
            raise PlanError(
                f"{len(the_plan.blocked)} blocked action(s); nothing was applied", hint=BLOCKED_HINT,
            )
        if not the_plan.runnable:
            click.echo("Nothing to apply.")
            sys.exit(EXIT_OK)
        if not auto_approve:
            if not sys.stdin.isatty():
                raise ReconcilerError("refusing to ask for confirmation: standard input is not a terminal",
                                      hint="review the plan above and run again with --auto-approve")
            if not click.confirm(f"Apply these changes to {context.target_name!r}?", default=False):
                click.echo("Cancelled; nothing was applied.")
                sys.exit(EXIT_ERROR)
        # What the refresh saw becomes part of the state, whatever happens next.
        current = view.to_state()
        interrupted = _Interrupt()
        with interrupted, _progress(len(the_plan.runnable)) as on_batch:
            executor = Executor(client, store, context.journal, interrupted=interrupted.is_set, on_batch=on_batch,
                                known_lines=[line_id_of(w) for w in wire])
            report, _ = executor.run(the_plan, current, skip_blocked=skip_blocked)
    command = "reconciler apply" + (f" --target {context.target_name}" if target or saved else "") + (
        " --skip-blocked" if skip_blocked else "")
    click.echo(render_report(report, command), nl=False)
    if report.interrupted:
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(EXIT_OK if report.complete or (skip_blocked and _only_blocked_left(report)) else EXIT_ERROR)


def _only_blocked_left(report) -> bool:
    return not (report.failed or report.mismatches or report.stopped_by) and all(
        reason.startswith("blocked") for _, reason in report.not_attempted)


class _Interrupt:
    """Ctrl-C during an apply: let the request in flight finish, then stop between batches."""

    def __init__(self) -> None:
        self._set = False
        self._previous = None

    def is_set(self) -> bool:
        return self._set

    def __enter__(self) -> "_Interrupt":
        def handler(signum, frame) -> None:
            if self._set:
                raise KeyboardInterrupt  # a second Ctrl-C means now
            self._set = True
            click.echo("\nInterrupted: finishing the request in flight, then saving the state...", err=True)

        self._previous = signal.signal(signal.SIGINT, handler)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self._previous)


@contextmanager
def _progress(total: int):
    """A progress bar on a terminal; plain lines in CI logs."""
    done = 0
    if sys.stderr.isatty():
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("Applying", total=total)

            def on_batch(operation: str, rows: int, failed: int) -> None:
                bar.update(task, advance=rows)

            yield on_batch
        return

    def plain(operation: str, rows: int, failed: int) -> None:
        nonlocal done
        done += rows
        click.echo(f"{operation}: {rows} rows sent, {failed} failed ({done} rows so far)", err=True)

    yield plain


def _read_plan(path: Path) -> Plan:
    try:
        text = path.read_bytes()
    except OSError as error:
        raise PlanError(f"cannot read plan file {path}: {error.strerror}") from None
    return Plan.from_json(text, source=f"plan file {path}")


@cli.group()
def halt() -> None:
    """The halt that a 403 or 429 from Epoptia puts on every request."""


@halt.command("show")
@target_option
@click.pass_obj
def halt_show(obj: _Obj, target: str | None) -> None:
    """Say whether requests to the target are halted, and why."""
    info = obj.context(target).halt.read()
    click.echo("Not halted." if info is None else json.dumps(info, indent=2, ensure_ascii=False))


@halt.command("clear")
@target_option
@click.pass_obj
def halt_clear(obj: _Obj, target: str | None) -> None:
    """Allow requests again, once you know Epoptia is not blocking this address."""
    context = obj.context(target)
    cleared = context.halt.clear()
    click.echo(f"Cleared the halt on {context.target_name!r}." if cleared else "Not halted.")


@cli.command()
@target_option
@click.pass_obj
def workflows(obj: _Obj, target: str | None) -> None:
    """List Epoptia's workflow templates (manifests name them in `workflow:`)."""
    with obj.context(target).connect() as client:
        for template in client.workflow_templates():
            click.echo(f"{template.get('id')}\t{template.get('name')}")


@cli.command()
@click.argument("action", type=click.Choice(["start", "pause", "cancel", "complete"]))
@click.option("--workstation", "workstation_id", required=True, type=int, help="Workstation id.")
@click.option("--quantity", type=float, help="Pieces made since the last report (complete).")
@click.option("--line", "line_id", help="Work order line id (needs --token of a logged-in operator).")
@click.option("--token", envvar="EPOPTIA_OPERATOR_TOKEN", help="Operator token (or $EPOPTIA_OPERATOR_TOKEN).")
@target_option
@click.pass_obj
def station(obj: _Obj, action: str, workstation_id: int, quantity: float | None, line_id: str | None,
            token: str | None, target: str | None) -> None:
    """Control a workstation, as a PLC or the shop-floor software would."""
    with obj.context(target).connect() as client:
        result = client.control(action, workstation_id, quantity=quantity, line_id=line_id, operator_token=token)
    click.echo(json.dumps(result, ensure_ascii=False))


from .relay.command import relay_command  # noqa: E402  (temporary: to be wired under `station`)

cli.add_command(relay_command, "station-relay")


@cli.group()
def operator() -> None:
    """Operator sessions for workstation actions on named lines."""


@operator.command("login")
@click.option("--username", required=True)
@click.option("--password", required=True, prompt=True, hide_input=True)
@target_option
@click.pass_obj
def operator_login(obj: _Obj, username: str, password: str, target: str | None) -> None:
    """Log an operator in; prints the token to pass as --token or $EPOPTIA_OPERATOR_TOKEN."""
    with obj.context(target).connect() as client:
        click.echo(client.login(username, password))


@operator.command("logout")
@click.option("--token", envvar="EPOPTIA_OPERATOR_TOKEN", required=True)
@target_option
@click.pass_obj
def operator_logout(obj: _Obj, token: str, target: str | None) -> None:
    """End an operator session."""
    with obj.context(target).connect() as client:
        client.logout(token)
    click.echo("Logged out.")


@cli.command()
@click.argument("planfile", type=click.Path(dir_okay=False, path_type=Path))
@format_option
def show(planfile: Path, fmt: str) -> None:
    """Render a plan saved with `plan --out`."""
    the_plan = _read_plan(planfile)
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


@cli.command()
@target_option
@format_option
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when something drifted, 0 when nothing did.")
@click.pass_obj
def drift(obj: _Obj, target: str | None, fmt: str, detailed_exitcode: bool) -> None:
    """What changed in Epoptia outside the reconciler (for a nightly job); changes nothing."""
    context = obj.context(target)
    snapshot, refreshed = _refreshed(context, offline_ok=False)
    # A plan of no resources: the state as the refresh saw it, with only the drift to show.
    report = Plan(target=context.target_name, lineage=snapshot.lineage, serial=snapshot.serial,
                  created_at=timestamp(), refreshed=True,
                  drift=refreshed.drift if refreshed else (), unchanged=len(snapshot))
    if Format(fmt) is Format.JSON:
        click.echo(json.dumps([d.model_dump(mode="json") for d in report.drift], indent=2, ensure_ascii=False))
    elif not report.drift:
        click.echo(f"No drift: Epoptia matches the state of {context.target_name!r}.")
    else:
        for heading, lines in drift_sections(report):
            click.echo(heading)
            click.echo("\n".join(f"  {line}" for line in lines))
    sys.exit(EXIT_CHANGES if detailed_exitcode and report.drift else EXIT_OK)


@cli.command("import")
@target_option
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the manifests into (usually the manifests folder of reconciler.yaml).")
@click.pass_obj
def import_(obj: _Obj, target: str | None, out: Path) -> None:
    """Write manifests (and a state) for what the tenant already has; the first plan after it is empty."""
    from .importer import ImportRefused, import_tenant, managed_state

    context = obj.context(target)
    store = context.state_store
    with store.lock("import"):
        current = store.read()
        if current.resources:
            raise ImportRefused(f"state {store.path} already manages {len(current.resources)} resources",
                                hint="import is for a target the reconciler does not manage yet")
        with context.connect() as client:
            wire = list(client.list_lines())
            templates = client.workflow_templates()
        counts = import_tenant(wire, templates, context.profile, out)
        store.write(managed_state(out, wire, current.lineage))
    click.echo("Imported: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()) + f" into {out}.")
    click.echo(f"State written to {os.path.relpath(store.path)}.")
    if out.resolve() != context.manifests_dir.resolve():
        click.echo(f"Point `manifests:` in reconciler.yaml at {out} to plan against these manifests.")


@cli.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of stdout.")
def schema(out: Path | None) -> None:
    """Print the JSON Schema of manifest documents, for editors (yaml-language-server)."""
    from .editor import manifest_schema

    text = json.dumps(manifest_schema(), indent=2, ensure_ascii=False) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {out}.")


@cli.command()
@click.option("--check", is_flag=True, help="Only report files that need formatting; exit 1 if any.")
@target_option
@click.pass_obj
def fmt(obj: _Obj, check: bool, target: str | None) -> None:
    """Format the manifests in one style, keeping comments, order and quotes."""
    from .editor import format_tree

    context = obj.context(target)
    changed = format_tree(context.manifests_dir, check=check)
    for path in changed:
        click.echo(os.path.relpath(path))
    if check and changed:
        click.echo(f"{len(changed)} file(s) need formatting; run `reconciler fmt`.", err=True)
        sys.exit(EXIT_ERROR)


@cli.group()
def ci() -> None:
    """Steps of the GitHub workflows (plan comment, state commit), for .github/actions."""


@ci.command("comment")
@click.option("--pr", "pr", required=True, type=int, help="Pull request number.")
@click.option("--body-file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--sha", default=None, help="Commit the plan was made for.")
@click.option("--run-url", default=None, help="Link to the workflow run.")
def ci_comment(pr: int, body_file: Path, sha: str | None, run_url: str | None) -> None:
    """Create or update THE plan comment of a pull request (GITHUB_TOKEN, GITHUB_REPOSITORY)."""
    from .gitops import GitHub, comment_body

    token, repository = os.environ.get("GITHUB_TOKEN"), os.environ.get("GITHUB_REPOSITORY")
    if not token or not repository:
        raise ReconcilerError("GITHUB_TOKEN and GITHUB_REPOSITORY must be set", hint="run this from a GitHub workflow")
    body = comment_body(body_file.read_text(encoding="utf-8"), sha=sha, run_url=run_url)
    github = GitHub(os.environ.get("GITHUB_API_URL", "https://api.github.com"), repository, token)
    click.echo(f"Plan comment {github.upsert_comment(pr, body)} on #{pr}.")


@ci.command("commit-state")
@target_option
@click.pass_obj
def ci_commit_state(obj: _Obj, target: str | None) -> None:
    """Commit the target's state file, with a message naming the merged pull request."""
    from .gitops import commit_state

    context = obj.context(target)
    message = commit_state(context.root, context.state_store.path, context.target_name)
    click.echo(message.splitlines()[0] if message else "State unchanged; nothing to commit.")


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
