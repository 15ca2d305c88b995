"""The plan: a plain, immutable, serialisable value.

Nothing here decides or renders anything. The planner builds a ``Plan``, the
renderers show it, the executor carries it out, and ``Plan.to_json`` /
``Plan.from_json`` give it a stable, versioned document other tools can read.

Field comments below are contracts: a field said to be "for display" must
never steer what apply does.
"""

from __future__ import annotations

import enum
import json
from typing import Any, Literal

from pydantic import ValidationError

from ..errors import PlanError
from ..frozen import FrozenValue
from ..resources import Kind, address
from ..windows import WindowCheck

# 2: Action.verb (was .action), Drift.cause/.kind (were .kind/.kind_of_resource), Plan.window (was apply_window).
PLAN_FORMAT_VERSION: Literal[2] = 2


class Verb(str, enum.Enum):
    """What an action does to one resource."""

    CREATE = "create"
    UPDATE = "update"
    ARCHIVE = "archive"
    DELETE = "delete"
    FORGET = "forget"  # drop from state only: Epoptia has no delete for it, or keeps it as history
    ADOPT = "adopt"  # record in the state as Epoptia has it, sending nothing (it exists, the state lost it)


class BlockReason(str, enum.Enum):
    """Stable codes for refused changes, for people and for scripts."""

    STARTED_CLIENT = "started-client"
    STARTED_QUANTITY = "started-quantity"
    STARTED_WORKFLOW = "started-workflow"
    STARTED_ROUTING = "started-routing"
    STARTED_PRODUCT = "started-product"
    STARTED_WORK_ORDER = "started-work-order"
    STARTED_STATUS = "started-status"
    STARTED_DELETE = "started-delete"
    ARCHIVED_RESTORE = "archived-restore"
    REPEATED_WORKSTATION = "repeated-workstation"  # rule 5: Epoptia refuses the routing as written
    OPERATION_UNAVAILABLE = "operation-unavailable"  # the target does not answer what this needs
    EXISTS_UNMANAGED = "exists-in-epoptia"  # Epoptia has it, the state does not: adopt, never create twice
    NO_LINE_TO_CARRY = "no-line-to-carry"  # a new work order travels on its lines, and none of them can go


class _Value(FrozenValue):
    """Frozen, and light (see ``FrozenValue``): a plan or report may hold 100,000 of them."""


class FieldChange(_Value):
    path: str
    before: Any = None
    after: Any = None


class Blocked(_Value):
    reason: BlockReason
    message: str  # for display
    advice: str  # for display


class RoutingChange(_Value):
    """A line's routing steps before and after, for a reader to see the whole route change (display only)."""

    before: tuple[dict[str, Any], ...] = ()
    after: tuple[dict[str, Any], ...] = ()


class Label(_Value):
    """How a production planner knows a line or work order: for display only, never read by apply.

    "the 200 profiles for Κατασκευαστική Αιγαίου due 4 December", not "WorkOrderLine/131319".
    """

    work_order: str | None = None
    client: str | None = None  # the client's name (its id when the name is not known)
    product: str | None = None  # the product's name, or the line's description
    quantity: int | float | None = None
    due: str | None = None  # target day, YYYY-MM-DD
    workstations: tuple[str, ...] = ()  # the line's route, by workstation


class Action(_Value):
    verb: Verb
    kind: Kind
    id: str
    parent: str | None = None
    changes: tuple[FieldChange, ...] = ()
    # What the executor sends for create and update: the desired payload, with any
    # blocked field kept at its applied value so that skipping the block is safe.
    payload: dict[str, Any] | None = None
    blocked: Blocked | None = None
    routing: RoutingChange | None = None
    # The digest the state records once this action is done (create and update).
    digest: str | None = None
    # Fingerprints of what the plan was made from, so a saved plan can tell
    # whether the objects it touches moved since (None: did not exist / unknown).
    prior_digest: str | None = None
    observed_fingerprint: str | None = None
    # Whether the line had started when planned (None: not a line, or not known).
    # Read by staleness only, to say "started since this plan was made".
    prior_started: bool | None = None
    # For display only: what the line or work order is, in a planner's words.
    label: Label | None = None

    @property
    def address(self) -> str:
        return address(self.kind, self.id)


class DriftCause(str, enum.Enum):
    OWNED = "owned"  # a field the repository owns was changed in Epoptia: the plan puts it back
    MISSING = "missing"  # a managed line is gone from Epoptia: the plan creates it again if still wanted
    PROGRESS = "progress"  # the shop floor moved on: information only, never "fixed"


class Drift(_Value):
    """What a refresh found changed in Epoptia since the state last recorded it."""

    cause: DriftCause
    kind: Kind
    id: str
    message: str  # for display
    changes: tuple[FieldChange, ...] = ()

    @property
    def address(self) -> str:
        return address(self.kind, self.id)


class RefreshScope(str, enum.Enum):
    """How much of Epoptia a plan read before it was made."""

    NONE = "none"  # planned from the state file alone
    TARGETED = "targeted"  # the pages holding the lines the plan touches (none, when it touches none)
    FULL = "full"  # every page: all drift is seen


class Summary(_Value):
    create: int = 0
    update: int = 0
    archive: int = 0
    delete: int = 0
    forget: int = 0
    adopt: int = 0
    blocked: int = 0
    unchanged: int = 0


class Plan(_Value):
    format_version: Literal[2] = PLAN_FORMAT_VERSION
    target: str
    lineage: str | None
    serial: int
    created_at: str
    only: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    actions: tuple[Action, ...] = ()
    unchanged: int = 0
    # Of the unchanged, how many Epoptia cannot show (clients and products, which have no read;
    # everything when it was not read): the state vouches for them, not Epoptia. For display.
    unverified: int = 0
    # How much of Epoptia was read before planning, and what it showed.
    refresh: RefreshScope = RefreshScope.NONE
    pages_read: int = 0
    drift: tuple[Drift, ...] = ()
    # Whether an apply would be allowed when the plan was made (None: the target has no windows).
    # Apply checks the windows again when it runs; this is for the reviewer.
    window: WindowCheck | None = None
    # Archived lines whose manifests changed (e.g. a shared routing): history, left as they ran. For display.
    history: tuple[str, ...] = ()
    # A refresh-only plan changes nothing in Epoptia: applying it records what the refresh saw as the state.
    refresh_only: bool = False

    @property
    def refreshed(self) -> bool:
        return self.refresh is not RefreshScope.NONE

    @property
    def summary(self) -> Summary:
        counts = {verb.value: 0 for verb in Verb}
        blocked = 0
        for action in self.actions:
            if action.blocked is not None:
                blocked += 1
            else:
                counts[action.verb.value] += 1
        return Summary(**counts, blocked=blocked, unchanged=self.unchanged)

    @property
    def blocked(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.blocked is not None)

    @property
    def runnable(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.blocked is None)

    def to_json(self, indent: int | None = 2) -> str:
        summary = self.summary.model_dump()
        body = self.model_dump(mode="json")
        # The summary is derived, but written out for readers of the JSON; it is
        # dropped again on reading so it can never disagree with the actions.
        return json.dumps(
            {"format_version": body.pop("format_version"), "summary": summary, **body},
            indent=indent,
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str | bytes, source: str = "plan file") -> Plan:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as error:
            raise PlanError(
                f"{source} is not a plan: invalid JSON ({str(error)[:200]})",
                hint="save a plan with `reconciler plan --out FILE`",
            ) from None
        if not isinstance(data, dict) or data.get("format_version") != PLAN_FORMAT_VERSION:
            version = data.get("format_version") if isinstance(data, dict) else None
            raise PlanError(
                f"{source} has plan format version {version!r}; this reconciler reads version {PLAN_FORMAT_VERSION}",
                hint="make the plan again with this version of the reconciler",
            )
        data.pop("summary", None)
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise PlanError(f"{source} is not a valid plan: {first['msg']} at {where}") from None
