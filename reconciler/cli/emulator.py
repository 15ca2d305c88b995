"""The built-in emulator as a server of its own."""

from __future__ import annotations

import click

from ..errors import ReconcilerError


@click.group()
def emulator() -> None:
    """A local Epoptia for trying the reconciler without an account."""


@emulator.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8303, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@click.option(
    "--db",
    default=".reconciler/emulator.sqlite",
    show_default=True,
    help="SQLite file for the emulator's data (':memory:' keeps nothing).",
)
@click.option("--api-key", default=None, help="Key the emulator accepts (default: a new random key).")
@click.option("--admin-key", default=None, help="Key for the /_emulator/ routes (default: a new random key).")
@click.option(
    "--read-shape",
    type=click.Choice(["confirmed", "rich"]),
    default="confirmed",
    show_default=True,
    help="What the list of lines returns: the fields confirmed on a live tenant, or more.",
)
@click.option(
    "--list-ids",
    type=click.Choice(["erp", "epoptia"]),
    default="erp",
    show_default=True,
    help="Which ids the list carries: the ERP ids sent, or Epoptia's own.",
)
@click.option(
    "--results",
    type=click.Choice(["rows", "none"]),
    default="rows",
    show_default=True,
    help="Whether write answers carry per-row results.",
)
@click.option(
    "--disable",
    "disabled",
    multiple=True,
    metavar="OPERATION",
    help="Answer this operation as an unknown command, as a tenant without it would. Repeatable.",
)
def emulator_serve(
    host: str,
    port: int,
    db: str,
    api_key: str | None,
    admin_key: str | None,
    read_shape: str,
    list_ids: str,
    results: str,
    disabled: tuple[str, ...],
) -> int:
    """Serve the emulator until Ctrl-C; prints its URL and the keys it accepts."""
    from pydantic import ValidationError

    from ..emulator.options import EmulatorOptions
    from ..emulator.server import new_api_key, serve

    try:
        options = EmulatorOptions(
            read_shape=read_shape,
            list_ids=list_ids,
            results=results,
            disabled_operations=frozenset(disabled),
            **({"admin_key": admin_key} if admin_key else {}),
        )
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        raise ReconcilerError(f"emulator option {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    try:
        serve(db, host, port, api_key or new_api_key(), options=options, announce=lambda line: click.echo(line))
    except OSError as error:
        raise ReconcilerError(
            f"cannot serve the emulator on {host}:{port}: {error.strerror}",
            hint="pick another --port, or 0 for a free one",
        ) from None
    return 0
