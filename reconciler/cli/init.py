"""init: start a repository of production data, ready for editors, pre-commit and the GitHub workflows."""

from __future__ import annotations

from pathlib import Path

import click

from . import EXIT_OK
from .repo import schema_text


@click.command()
@click.argument("directory", required=False, default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--endpoint",
    default=None,
    metavar="URL",
    help="Your tenant, e.g. https://acme.epoptia.io (default: only the built-in emulator).",
)
@click.option("--target", default="production", show_default=True, help="Name of the tenant's target.")
def init(directory: Path, endpoint: str | None, target: str) -> int:
    """Write reconciler.yaml, .gitignore, the JSON schemas, editor settings, pre-commit and both workflows.

    Files that exist are kept as they are, never overwritten.
    """
    from ..editor import config_schema, manifest_schema
    from ..scaffold import files

    schemas = {"manifest": schema_text(manifest_schema()), "config": schema_text(config_schema())}
    for rel, text in files(endpoint, target, schemas).items():
        path = directory / rel
        if path.exists():
            click.echo(f"kept    {rel} (it exists)")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        click.echo(f"created {rel}")
    where = "" if directory == Path(".") else f"cd {directory} && "
    key = "export EPOPTIA_API_KEY=... (made at <your tenant>/integrations); " if endpoint else ""
    click.echo(
        f"\nNext: {where}{key}reconciler import --out manifests (what the tenant has), or write "
        "manifests/ by hand; then reconciler validate and reconciler plan."
    )
    return EXIT_OK
