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
    counts: dict[str, int] = {}
    for entry in desired.index.values():
        counts[entry.kind] = counts.get(entry.kind, 0) + 1
    parts = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    click.echo(f"Valid: {len(desired.files)} files, {parts}, {len(desired.routings)} Routing.")
    return EXIT_OK


@click.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of stdout.")
def schema(out: Path | None) -> int:
    """Print the JSON Schema of manifest documents, for editors (yaml-language-server)."""
    from ..editor import manifest_schema

    text = json.dumps(manifest_schema(), indent=2, ensure_ascii=False) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {out}.")
    return EXIT_OK


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
