"""How far the emulator may go beyond what EPOPTIA_API.md confirms: every such liberty is an option, off by default.

The emulator once answered more than a real tenant does, and the product leaned on it.
So the defaults here are the poorest tenant the docs allow (confirmed read shape, ERP ids
in the list, a results row per written row), and everything richer or stranger is asked for.
"""

from __future__ import annotations

import secrets
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..epoptia.profile import Operation

ReadShape = Literal["confirmed", "rich"]
ListIds = Literal["erp", "epoptia"]
WriteAnswers = Literal["rows", "none"]


def new_admin_key() -> str:
    return "emu-admin-" + secrets.token_hex(16)


class EmulatorOptions(BaseModel):
    """What kind of tenant the emulator plays. Frozen: one server, one tenant."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # confirmed: exactly the fields EPOPTIA_API.md has seen on a live list; rich: every stored field.
    read_shape: ReadShape = "confirmed"
    # Whether listed lines and work orders carry the ERP ids we sent or Epoptia's own integer ids;
    # which one a real tenant does for API-created lines is unknown.
    list_ids: ListIds = "erp"
    # rows: {"results": [one per row]}; none: {"ok": true}, a tenant whose write answers say nothing.
    results: WriteAnswers = "rows"
    # Operations this tenant does not have: they answer the command-not-found 400.
    disabled_operations: frozenset[Operation] = frozenset()
    # Needed in the X-Emulator-Admin header of every /_emulator/ request.
    admin_key: str = Field(default_factory=new_admin_key, min_length=8, max_length=200, pattern=r"^[\x21-\x7e]+$")

    def updated(self, **changes: Any) -> EmulatorOptions:
        """A copy with ``changes``, validated (model_copy alone would skip validation)."""
        return EmulatorOptions.model_validate({**self.model_dump(), **changes})

    def argv(self) -> list[str]:
        """Command-line flags of ``python -m reconciler.emulator`` that give these options."""
        flags = [
            "--read-shape",
            self.read_shape,
            "--list-ids",
            self.list_ids,
            "--results",
            self.results,
            "--admin-key",
            self.admin_key,
        ]
        for operation in sorted(self.disabled_operations, key=lambda op: op.value):
            flags += ["--disable", operation.value]
        return flags


def resolve(options: EmulatorOptions | None, changes: dict[str, Any]) -> EmulatorOptions:
    """The options a server runs with: ``options`` (or the defaults) with keyword ``changes`` on top."""
    base = options if options is not None else EmulatorOptions()
    return base.updated(**changes) if changes else base
