"""Commands on the repository alone (no state, no network): validate, schema, fmt."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from . import EXIT_ERROR, EXIT_OK, Obj
from .options import target_option


@click.command()
@target_option
@click.pass_obj
def validate(obj: Obj, target: str | None) -> int:
    """Check the manifests and reconciler.yaml; no state, no network."""
    context = obj.context(target)
    desired = context.load_desired()
    click.echo(
        validated_line(len(desired.files), [entry.kind for entry in desired.index.values()], len(desired.routings))
    )
    return EXIT_OK


_KIND_WORDS = (
    ("Client", "client"),
    ("Product", "product"),
    ("Routing", "routing"),
    ("WorkOrder", "work order"),
    ("WorkOrderLine", "line"),
)


def validated_line(files: int, kinds: list[str], routings: int) -> str:
    """'Valid: 8 files with 3 clients, 4 products, 2 routings, 4 work orders and 11 lines.'"""
    counts = {kind: kinds.count(kind) for kind, _ in _KIND_WORDS}
    counts["Routing"] = routings
    parts = [f"{counts[kind]:,} {word}{'s' if counts[kind] != 1 else ''}" for kind, word in _KIND_WORDS]
    listed = ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"Valid: {files:,} file{'s' if files != 1 else ''} with {listed}."


@click.command()
@click.argument("which", type=click.Choice(["manifest", "config"]), default="manifest")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of stdout.")
def schema(which: str, out: Path | None) -> int:
    """Print the JSON Schema of manifest documents (or of reconciler.yaml: `schema config`), for editors."""
    from ..editor import config_schema, manifest_schema

    text = schema_text(manifest_schema() if which == "manifest" else config_schema())
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {out}.")
    return EXIT_OK


def schema_text(schema: dict) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


@click.command()
@click.option("--check", is_flag=True, help="Only report files that need formatting; exit 1 if any.")
@target_option
@click.pass_obj
def fmt(obj: Obj, check: bool, target: str | None) -> int:
    """Format the manifests in one style, keeping comments, order and quotes."""
    from ..editor import format_tree

    context = obj.context(target)
    changed = format_tree(context.manifests_dir, check=check)
    for path in changed:
        click.echo(os.path.relpath(path))
    if check and changed:
        click.echo(f"{len(changed)} file(s) need formatting; run `reconciler fmt`.", err=True)
        return EXIT_ERROR
    return EXIT_OK
