"""force-unlock and halt: what a person does about a run that died or a tenant that said stop."""

from __future__ import annotations

import json

import click

from . import EXIT_OK, Obj
from .options import target_option


@click.command("force-unlock")
@click.argument("lock_id")
@target_option
@click.pass_obj
def force_unlock(obj: Obj, lock_id: str, target: str | None) -> int:
    """Remove the state lock of a run that died. Only when you are sure it is dead."""
    context = obj.context(target)
    context.state_store.force_unlock(lock_id)
    click.echo(f"Removed lock {lock_id} from {context.state_store.path}.")
    return EXIT_OK


@click.group()
def halt() -> None:
    """The halt that a 403 or 429 from Epoptia puts on every request."""


@halt.command("show")
@target_option
@click.pass_obj
def halt_show(obj: Obj, target: str | None) -> int:
    """Say whether requests to the target are halted, and why."""
    info = obj.context(target).halt.read()
    click.echo("Not halted." if info is None else json.dumps(info, indent=2, ensure_ascii=False))
    return EXIT_OK


@halt.command("clear")
@target_option
@click.pass_obj
def halt_clear(obj: Obj, target: str | None) -> int:
    """Allow requests again, once you know Epoptia is not blocking this address."""
    context = obj.context(target)
    cleared = context.halt.clear()
    click.echo(f"Cleared the halt on {context.target_name!r}." if cleared else "Not halted.")
    return EXIT_OK
