"""`reconciler import`: manifests and a managed state for what a tenant already has."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..clock import timestamp
from ..context import Context
from ..epoptia.errors import CommandNotFoundError
from ..epoptia.profile import Operation
from ..errors import ImportRefused, ReconcilerError
from ..importer import managed_state, manifests_from_tenant, write_into_place
from .hooks import Hooks
from .plan import read_tenant


@dataclass(frozen=True)
class ImportRequest:
    out: Path


@dataclass(frozen=True)
class ImportOutcome:
    counts: dict[str, int]
    out: Path
    state_path: Path
    unexpressed: tuple[tuple[str, str], ...]  # (line id, what could not be written as a manifest)


def import_from_tenant(context: Context, request: ImportRequest, hooks: Hooks) -> ImportOutcome:
    store = context.state_store
    with store.lock("import"):
        current = store.read()
        if current.resources:
            raise ImportRefused(
                f"state {store.path} already manages {len(current.resources)} resources",
                hint="import is for a target the reconciler does not manage yet",
            )
        with context.connect() as client:
            tenant = read_tenant(client, hooks)
            templates = None
            if context.profile.endpoint(Operation.WORKFLOW_TEMPLATES).enabled:
                try:
                    templates = client.workflow_templates()
                except CommandNotFoundError as error:
                    hooks.notice(
                        f"Warning: the workflow templates could not be read ({error.message}); "
                        "lines are imported with their routing steps"
                    )
        imported = manifests_from_tenant(tenant, templates, context.profile)
        if not imported.files:
            raise ImportRefused(
                "Epoptia's list holds no line that can be written as a manifest", hint="nothing was written"
            )
        staging = write_into_place(imported, request.out)
        try:
            state = managed_state(staging, tenant, context.profile, current.lineage, timestamp())
            if request.out.exists():
                request.out.rmdir()  # empty, as write_into_place checked
            os.replace(staging, request.out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        try:
            store.write(state)
        except ReconcilerError:
            shutil.rmtree(request.out, ignore_errors=True)  # no manifests without the state that manages them
            raise
    return ImportOutcome(
        counts=imported.counts, out=request.out, state_path=store.path, unexpressed=tuple(imported.unexpressed)
    )
