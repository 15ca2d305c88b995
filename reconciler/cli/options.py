"""Options several commands share, and reading/writing plan files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from ..errors import PlanError
from ..fsio import atomic_write

target_option = click.option("--target", "-t", help="Target from reconciler.yaml (default: its default_target).")
format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
    help="How to print the result.",
)
only_option = click.option(
    "--only",
    multiple=True,
    metavar="KIND/ID",
    help="Only these resources (globs allowed; a work order includes its lines). Repeatable.",
)
exclude_option = click.option(
    "--exclude", multiple=True, metavar="KIND/ID", help="Leave these resources out. Repeatable."
)
mass_delete_option = click.option(
    "--allow-mass-delete", is_flag=True, help="Allow more deletions than the target's limit."
)

adopt_option = click.option(
    "--adopt",
    is_flag=True,
    help="Take over lines and work orders Epoptia has but the state does not know (a lost or new state file).",
)
ignore_window_option = click.option(
    "--ignore-window", is_flag=True, help="Apply even outside the target's apply windows."
)


def refresh_option(help: str) -> Any:
    """``--refresh targeted|full``: how much of Epoptia a command reads before it plans."""
    return click.option(
        "--refresh",
        "refresh",
        type=click.Choice(["targeted", "full"]),
        default="targeted",
        show_default=True,
        help=help,
    )


refresh_only_option = click.option(
    "--refresh-only",
    is_flag=True,
    help="Send nothing; record what Epoptia has as the state (drift and progress then count from now).",
)


def read_plan(path: Path) -> Any:
    from ..planning import Plan

    try:
        text = path.read_bytes()
    except OSError as error:
        raise PlanError(f"cannot read plan file {path}: {error.strerror}") from None
    return Plan.from_json(text, source=f"plan file {path}")


def write_plan(path: Path, plan: Any) -> None:
    try:
        atomic_write(path, plan.to_json().encode("utf-8"), durable=False)
    except OSError as error:
        raise PlanError(f"cannot write plan file {path}: {error.strerror}") from None


def shown(path: Path) -> str:
    return os.path.relpath(path)
