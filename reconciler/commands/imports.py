"""`reconciler import`: manifests and a managed state for what a tenant already has."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..context import Context
from ..errors import ImportRefused
from ..importer import import_tenant, managed_state
from .hooks import Hooks
from .plan import read_lines


@dataclass(frozen=True)
class ImportRequest:
    out: Path


@dataclass(frozen=True)
class ImportOutcome:
    counts: dict[str, int]
    out: Path
    state_path: Path


def import_from_tenant(context: Context, request: ImportRequest, hooks: Hooks) -> ImportOutcome:
    store = context.state_store
    with store.lock("import"):
        current = store.read()
        if current.resources:
            raise ImportRefused(f"state {store.path} already manages {len(current.resources)} resources",
                                hint="import is for a target the reconciler does not manage yet")
        with context.connect() as client:
            wire = read_lines(client, hooks)
            templates = client.workflow_templates()
        counts = import_tenant(wire, templates, context.profile, request.out)
        store.write(managed_state(request.out, wire, current.lineage))
    return ImportOutcome(counts=counts, out=request.out, state_path=store.path)
