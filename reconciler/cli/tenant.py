"""Commands that talk to the tenant: drift, import, workflows, station, operator."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from ..commands.doctor import Finding
from ..commands.doctor import doctor as doctor_of_target
from ..commands.drift import drift_of_target
from ..commands.imports import ImportRequest, import_from_tenant
from ..render.describe import drift_sections
from ..secrets import register
from . import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, Obj
from .options import format_option, target_option
from .terminal import TerminalHooks


@click.command()
@target_option
@format_option
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when something drifted, 0 when nothing did.")
@click.pass_obj
def drift(obj: Obj, target: str | None, fmt: str, detailed_exitcode: bool) -> int:
    """What changed in Epoptia outside the reconciler (for a nightly job); changes nothing."""
    context = obj.context(target)
    with TerminalHooks() as hooks:
        outcome = drift_of_target(context, hooks)
    if fmt == "json":
        click.echo(json.dumps([d.model_dump(mode="json") for d in outcome.drift], indent=2, ensure_ascii=False))
    elif not outcome.drift:
        click.echo(f"No drift: Epoptia matches the state of {context.target_name!r}.")
    else:
        for heading, lines in drift_sections(outcome.drift):
            click.echo(heading)
            click.echo("\n".join(f"  {line}" for line in lines))
    return EXIT_CHANGES if detailed_exitcode and outcome.drift else EXIT_OK


@click.command("import")
@target_option
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the manifests into (usually the manifests folder of reconciler.yaml).",
)
@click.pass_obj
def import_(obj: Obj, target: str | None, out: Path) -> int:
    """Write manifests (and a state) for what the tenant already has; the first plan after it is empty."""
    context = obj.context(target)
    with TerminalHooks() as hooks:
        outcome = import_from_tenant(context, ImportRequest(out=out), hooks)
    click.echo("Imported: " + ", ".join(f"{n} {kind}" for kind, n in outcome.counts.items()) + f" into {out}.")
    click.echo(f"State written to {os.path.relpath(outcome.state_path)}.")
    if outcome.unexpressed:
        click.echo(
            f"Not expressed as manifests ({len(outcome.unexpressed)}); these stay as Epoptia has them, unmanaged:"
        )
        for line_id, why in outcome.unexpressed:
            click.echo(f"  {line_id}: {why}")
    if out.resolve() != context.manifests_dir.resolve():
        click.echo(f"Point `manifests:` in reconciler.yaml at {out} to plan against these manifests.")
    return EXIT_OK


@click.command()
@target_option
@click.pass_obj
def workflows(obj: Obj, target: str | None) -> int:
    """List Epoptia's workflow templates (manifests name them in `workflow:`)."""
    with obj.context(target).connect() as client:
        for template in client.workflow_templates():
            click.echo(f"{template.get('id')}\t{template.get('name')}")
    return EXIT_OK


@click.group()
def station() -> None:
    """Control a workstation, as a PLC or the shop-floor software would; relay a machine's counts."""


def _control(action: str, help_: str, quantity: bool = False) -> click.Command:
    @click.option("--workstation", required=True, help="Workstation name (as in the manifests) or Epoptia id.")
    @click.option("--line", "line_id", help="Work order line id (needs --token of a logged-in operator).")
    @click.option("--token", envvar="EPOPTIA_OPERATOR_TOKEN", help="Operator token (or $EPOPTIA_OPERATOR_TOKEN).")
    @target_option
    @click.pass_obj
    def command(
        obj: Obj,
        workstation: str,
        line_id: str | None,
        token: str | None,
        target: str | None,
        quantity: float | None = None,
    ) -> int:
        context = obj.context(target)
        if token:
            register(token)
        workstation_id = context.workstation_id(workstation)
        with context.connect() as client:
            result = client.control(action, workstation_id, quantity=quantity, line_id=line_id, operator_token=token)
        click.echo(json.dumps(result, ensure_ascii=False))
        return EXIT_OK

    if quantity:
        command = click.option(
            "--quantity",
            type=click.FloatRange(min=0, min_open=True),
            required=True,
            help="Pieces made since the last report.",
        )(command)
    return station.command(action, help=help_)(command)


_control("start", "Start the line at a workstation (an operator's action).")
_control("pause", "Pause the workstation's running step.")
_control("cancel", "Cancel the workstation's running step.")
_control("complete", "Report pieces made at a workstation (the machine scenario).", quantity=True)


def _relay() -> None:
    from ..relay.command import relay_command

    station.add_command(relay_command)


_relay()


@click.group()
def operator() -> None:
    """Operator sessions for workstation actions on named lines."""


@operator.command("login")
@click.option("--username", required=True)
@click.option("--password", required=True, prompt=True, hide_input=True)
@target_option
@click.pass_obj
def operator_login(obj: Obj, username: str, password: str, target: str | None) -> int:
    """Log an operator in; prints the token to pass as --token or $EPOPTIA_OPERATOR_TOKEN."""
    register(password)
    with obj.context(target).connect() as client:
        click.echo(client.login(username, password))
    return EXIT_OK


@operator.command("logout")
@click.option("--token", envvar="EPOPTIA_OPERATOR_TOKEN", required=True)
@target_option
@click.pass_obj
def operator_logout(obj: Obj, token: str, target: str | None) -> int:
    """End an operator session."""
    register(token)
    with obj.context(target).connect() as client:
        client.logout(token)
    click.echo("Logged out.")
    return EXIT_OK


_MARKS = {Finding.OK: "ok", Finding.NOTE: "note", Finding.MISSING: "MISSING", Finding.FAILED: "FAILED"}


@click.command()
@target_option
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when the target needs profile overrides.")
@click.pass_obj
def doctor(obj: Obj, target: str | None, detailed_exitcode: bool) -> int:
    """Check a target: reachability, the key, the list, and which operations the tenant answers."""
    import io

    from ruamel.yaml import YAML

    context = obj.context(target)
    with TerminalHooks() as hooks:
        outcome = doctor_of_target(context, hooks)
    width = max(len(c.what) for c in outcome.checks)
    click.echo(f"Target {context.target_name!r} ({context.target.endpoint}):")
    for check in outcome.checks:
        click.echo(f"  {_MARKS[check.finding]:<7} {check.what:<{width}}  {check.detail}")
    if outcome.failed:
        return EXIT_ERROR
    if not outcome.overrides:
        click.echo("\nThe wire profile of this target needs no change.")
        return EXIT_OK
    yaml = YAML()
    yaml.default_flow_style = None
    text = io.StringIO()
    yaml.dump({"profile": outcome.overrides}, text)
    click.echo(f"\nPaste this under `targets: {context.target_name}:` in reconciler.yaml:\n")
    click.echo("".join(f"    {line}\n" for line in text.getvalue().splitlines()), nl=False)
    return EXIT_CHANGES if detailed_exitcode else EXIT_OK
