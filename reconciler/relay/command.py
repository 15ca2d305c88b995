"""`reconciler station relay`: the click command; it parses options and calls the runner."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import ReconcilerError
from .clock import Clock, FileClock, SystemClock
from .config import RelayConfig
from .log import JsonLog
from .sender import EpoptiaSender, MappingDirectory, WorkstationDirectory
from .spool import Spool
from .status import read_status, render_status


def relay_config(context: Any) -> RelayConfig:
    return getattr(context.target, "relay", None) or RelayConfig()


def spool_path(context: Any, config: RelayConfig) -> Path:
    if config.spool:
        path = Path(config.spool)
        return path if path.is_absolute() else context.root / path
    return context.work_dir / "relay" / f"{context.target_name}.sqlite"


def directory_for(context: Any, config: RelayConfig) -> WorkstationDirectory:
    # The target's workstation map (and the built-in emulator's own), with the relay's own names on top.
    return MappingDirectory({**context.workstation_ids(), **config.workstations})


@click.command("relay")
@click.option("--target", "-t", help="Target from reconciler.yaml (default: its default_target).")
@click.option(
    "--input",
    "inputs",
    multiple=True,
    type=click.Choice(["stdin", "mqtt"]),
    help="Where counts come from (repeatable). Default: mqtt when relay.mqtt is configured, else stdin.",
)
@click.option("--ack", is_flag=True, help="Write `ok N` on stdout once input lines up to N are safe in the spool.")
@click.option(
    "--status", "show_status", is_flag=True, help="Show the spool: pending sums, last sends, errors; then exit."
)
@click.option("--json", "as_json", is_flag=True, help="With --status: print JSON.")
@click.option(
    "--resolve",
    metavar="BATCH:applied|resend",
    help="Settle a batch the relay could not: it arrived in Epoptia (applied) or must be sent again (resend).",
)
@click.option(
    "--clock-file",
    type=click.Path(dir_okay=False, path_type=Path),
    hidden=True,
    help="Tests: read the time from this file instead of the system clock.",
)
def relay_command(
    target: str | None,
    inputs: tuple[str, ...],
    ack: bool,
    show_status: bool,
    as_json: bool,
    resolve: str | None,
    clock_file: Path | None,
) -> None:
    """Relay a machine's piece counts to Epoptia as sums, per workstation, without losing or doubling one.

    Counts come one per line on standard input (JSON or `workstation,quantity` CSV) or from an MQTT
    broker; stop and alarm events send the running sum at once. Each sum goes when the period
    elapses or the threshold is reached, whichever comes first.
    """
    context = click.get_current_context().obj.context(target)
    config = relay_config(context)
    path = spool_path(context, config)
    if show_status:
        status = read_status(path, context.halt.read())
        click.echo(json.dumps(status, indent=2, ensure_ascii=False) if as_json else render_status(status), nl=False)
        return
    if resolve is not None:
        _resolve(path, resolve)
        return
    clock: Clock = FileClock(clock_file) if clock_file else SystemClock()
    chosen = inputs or (("mqtt",) if config.mqtt else ("stdin",))
    if "mqtt" in chosen and config.mqtt is None:
        raise ReconcilerError(
            f"target {context.target_name!r} has no relay.mqtt settings",
            hint="add relay: {mqtt: {host: ..., topics: [...]}} to the target in reconciler.yaml",
        )
    log = JsonLog(clock.now)
    directory = directory_for(context, config)

    def make_sources(deliveries):
        from .sources import MqttSource, StdinSource

        sources: list[StdinSource | MqttSource] = []
        if "stdin" in chosen:
            sources.append(StdinSource(sys.stdin.fileno(), deliveries, config.fields, sys.stdout if ack else None))
        if "mqtt" in chosen and config.mqtt is not None:  # checked above: mqtt is chosen only when configured
            sources.append(
                MqttSource(
                    config.mqtt, config.mqtt.client_id or f"reconciler-relay-{context.target_name}", deliveries, log
                )
            )
        return sources

    from .runner import run

    with context.connect() as client:
        run(
            spool_path=path,
            config=config,
            sender=EpoptiaSender(client),
            directory=directory,
            clock=clock,
            halt=context.halt,
            timeout=context.target.timeout,
            log=log,
            make_sources=make_sources,
        )


def _resolve(path: Path, spec: str) -> None:
    number, _, verdict = spec.partition(":")
    if not number.isdigit() or verdict not in ("applied", "resend"):
        raise ReconcilerError(
            f"--resolve {spec!r}: expected BATCH:applied or BATCH:resend", hint="e.g. --resolve 12:applied"
        )
    spool = Spool(path)
    try:
        import time

        batch = spool.resolve(int(number), verdict == "applied", time.time())
    except LookupError as error:
        raise ReconcilerError(
            str(error), hint="`reconciler station relay --status` lists the unknown batches"
        ) from None
    finally:
        spool.close()
    click.echo(
        f"Batch {batch.id} ({batch.quantity:g} at workstation {batch.ws}): "
        + ("recorded as arrived." if verdict == "applied" else "back to pending; it goes with the next send.")
    )
