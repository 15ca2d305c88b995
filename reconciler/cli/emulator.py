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
@click.option("--db", default=".reconciler/emulator.sqlite", show_default=True,
              help="SQLite file for the emulator's data (':memory:' keeps nothing).")
@click.option("--api-key", default=None, help="Key the emulator accepts (default: a new random key).")
def emulator_serve(host: str, port: int, db: str, api_key: str | None) -> None:
    """Serve the emulator until Ctrl-C; prints its URL and the API key it accepts."""
    from ..emulator.server import new_api_key, serve

    try:
        serve(db, host, port, api_key or new_api_key(), announce=lambda line: click.echo(line))
    except OSError as error:
        raise ReconcilerError(f"cannot serve the emulator on {host}:{port}: {error.strerror}",
                              hint="pick another --port, or 0 for a free one") from None
