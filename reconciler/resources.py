"""The resources a factory declares in its manifests.

The pydantic models here are the manifest schema: they validate what a person
wrote and are frozen, so a validated resource cannot drift afterwards. Each model
knows its identity (kind and ERP id) and produces a *normalised payload*: a plain,
JSON-ready dict in one canonical form, which is what the state records, what the
planner compares and what the Epoptia client maps onto the wire. Every field of
Epoptia's documented line payload has a home here; the mapping to Epoptia's own
field names lives in ``reconciler.epoptia``, not here.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, Literal, NamedTuple

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    Tag,
    WithJsonSchema,
    model_validator,
)


class Kind(str, enum.Enum):
    """Resource kinds, spelt as in the manifests' ``kind:``."""

    CLIENT = "Client"
    PRODUCT = "Product"
    ROUTING = "Routing"
    WORK_ORDER = "WorkOrder"
    WORK_ORDER_LINE = "WorkOrderLine"

    def __str__(self) -> str:
        return self.value


_KINDS = {kind.value: kind for kind in Kind}  # Kind(value), without the enum's slow call


# Kinds a person may write as a document; lines only ever appear inside a work order.
DOCUMENT_KINDS = (Kind.CLIENT, Kind.PRODUCT, Kind.ROUTING, Kind.WORK_ORDER)


def address(kind: Kind | str, erp_id: str) -> str:
    """The stable name of a resource in plans, state and selectors: ``Kind/id``."""
    # The value, not the enum formatted: called for every resource, and Enum.__format__ is slow.
    return f"{kind.value if type(kind) is Kind else kind}/{erp_id}"


def split_address(addr: str) -> tuple[Kind, str]:
    kind, _, erp_id = addr.partition("/")
    found = _KINDS.get(kind)
    return (found if found is not None else Kind(kind)), erp_id


def _erp_id(value: Any) -> Any:
    # ERP ids are often numeric (131319) but are identities, not numbers: keep them
    # as text so JSON round trips are exact. A YAML integer with a leading zero
    # (0412) is refused by the loader, so the text a person wrote is never lost.
    if isinstance(value, bool):
        raise ValueError("an id is text or a whole number, not true/false")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("an id written as a number is a whole number 0 or more; quote it if it is text")
        return str(value)
    if isinstance(value, float):
        raise ValueError("an id is text or a whole number; quote it if it has a decimal point")
    return value


def _clean_id(value: str) -> str:
    # An id is compared exactly on every plan: a trailing space, a line break or an invisible
    # zero-width character would make a resource that never converges.
    # isprintable() is False for every blank but the plain space, so this is every space, at C speed.
    if "/" in value or " " in value or not value.isprintable():
        raise ValueError("an id has no spaces, line breaks, control or invisible characters, and no '/'")
    return value


_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn"}


def _visible(allowed: str) -> Callable[[str], str]:
    """Text without control or invisible characters (other than ``allowed``, e.g. line breaks in comments)."""

    def check(value: str) -> str:
        # isprintable() is False for every invisible category (and for blanks other than a space),
        # so the common, clean value is passed at C speed and only the rest is looked at closely.
        bad = (
            None
            if value.isprintable()
            else next((c for c in value if c not in allowed and unicodedata.category(c) in _INVISIBLE), None)
        )
        if bad is not None:
            raise ValueError(f"contains an invisible or control character (U+{ord(bad):04X}); remove it")
        if value and not allowed and value.isspace():
            raise ValueError("is only blanks; write a name, or leave the field out")
        return value

    return check


ErpId = Annotated[
    str,
    BeforeValidator(_erp_id),
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(_clean_id),
    # The schema says what the validator accepts: ids are often written as numbers.
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[^\s/]+$"},
                {"type": "integer", "minimum": 0},
            ]
        }
    ),
]
Text = Annotated[str, StringConstraints(max_length=4000), AfterValidator(_visible("\n\t"))]
Name = Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(_visible(""))]


def _not_a_number(value: Any) -> Any:
    # YAML reads 86400 as a number; a due day is a date, never seconds since 1970.
    if (isinstance(value, (int, float)) and not isinstance(value, bool)) or isinstance(value, bool):
        raise ValueError("is not a date; write it as YYYY-MM-DD")
    return value


Day = Annotated[dt.date, BeforeValidator(_not_a_number)]
# Numbers travel as JSON numbers: kept well inside what every JSON reader takes exactly (2**53).
MAX_AMOUNT = 10**12
Quantity = Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT)]  # a whole number: true, "24" and 24.0 are refused


def _scalar_text(value: Any) -> Any:
    # Custom field values are free text in Epoptia; YAML turns 60 or 1.5 into numbers.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def _tidy_number(value: int | float) -> int | float:
    # One spelling per number, so 4 and 4.0 never show as a change or a new digest.
    return int(value) if isinstance(value, float) and value.is_integer() else value


Amount = Annotated[
    StrictInt | StrictFloat, Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False), AfterValidator(_tidy_number)
]
Percent = Annotated[StrictInt | StrictFloat, Field(ge=0, le=100, allow_inf_nan=False), AfterValidator(_tidy_number)]

FieldValue = Annotated[
    str,
    BeforeValidator(_scalar_text),
    StringConstraints(max_length=4000),
    WithJsonSchema({"type": ["string", "number", "boolean"]}),
]
CustomFields = dict[Name, FieldValue]


def compact(value: dict[str, Any]) -> dict[str, Any]:
    """Canonical form: empty values (None, "", [], {}) are left out.

    "No comments" and an empty comment mean the same to Epoptia, so they must
    have one spelling, or a digest would change where nothing did. Nested models
    compact their own dumps, so one level is enough here. (Hot on a cold plan:
    a truthy value, the common case, is kept without further tests.)
    """
    return {k: v for k, v in value.items() if v or not (v is None or v == "" or v == [] or v == {})}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False, populate_by_name=True)

    def _dump(self, exclude: set[str]) -> dict[str, Any]:
        data = compact(self.model_dump(mode="json", exclude=exclude, exclude_none=True))
        for key, value in data.items():
            # Lists of nested models (steps, BOM items, files) hold dicts with empties of their own.
            if isinstance(value, list) and value and isinstance(value[0], dict):
                data[key] = [compact(item) for item in value]
        return data


class ClientType(str, enum.Enum):
    CLIENT = "client"
    SUPPLIER = "supplier"
    BOTH = "both"


class LineStatus(str, enum.Enum):
    """The production status a manifest may ask for (archive is its own field)."""

    STANDBY = "standby"
    PRODUCTION = "production"


class BomItem(_Model):
    item: Name
    quantity: Amount
    unit: Name | None = None


class FileRef(_Model):
    name: Name
    url: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    type: Name | None = None


class RoutingStep(_Model):
    workstation: Name | None = None
    job_task: Name | None = None
    bom: tuple[BomItem, ...] = ()
    custom_fields: CustomFields = Field(default_factory=dict)


class Routing(_Model):
    """A named routing that several lines can share by name.

    Epoptia refuses a routing that repeats a workstation without distinct job
    tasks (rule 5). That is checked when a routing is about to be sent, not
    here: a line imported as Epoptia runs it may repeat one, and stays valid as
    long as its routing is not changed.
    """

    kind: Literal["Routing"] = "Routing"
    id: ErpId
    description: Text = ""
    steps: Annotated[tuple[RoutingStep, ...], Field(min_length=1)]

    def payload(self) -> dict[str, Any]:
        return self._dump({"kind", "id"})


class Client(_Model):
    kind: Literal["Client"] = "Client"
    id: ErpId
    name: Name
    type: ClientType | None = None
    email: Name | None = None
    city: Name | None = None
    phone: Name | None = None
    vat_number: Name | None = None
    vat_rate: Percent | None = None
    comments: Text = ""

    def payload(self) -> dict[str, Any]:
        return self._dump({"kind", "id"})


class Product(_Model):
    kind: Literal["Product"] = "Product"
    id: ErpId
    name: Annotated[str, StringConstraints(min_length=1, max_length=150), AfterValidator(_visible(""))]
    code: Name | None = None
    active: StrictBool | None = None
    workflow: Name | None = None
    comments: Text = ""

    def payload(self) -> dict[str, Any]:
        return self._dump({"kind", "id"})


def _routing_form(value: Any) -> str:
    # One error for a bad routing, not one per union member.
    return "steps" if isinstance(value, (list, tuple)) else "name"


class WorkOrderLine(_Model):
    id: ErpId
    product: ErpId
    quantity: Quantity
    code: Name | None = None
    description: Text | None = None
    target_day: Day | None = None
    status: LineStatus | None = None  # sent only when set: otherwise the shop floor runs it
    comments: Text = ""
    over_under_percentage: Percent | None = None
    tags: tuple[Name, ...] = ()
    files: tuple[FileRef, ...] = ()
    bom: tuple[BomItem, ...] = ()
    custom_fields: CustomFields = Field(default_factory=dict)
    workflow: Name | None = None
    # The name of a Routing document, or the steps written inline.
    routing: (
        Annotated[
            Annotated[Name, Tag("name")] | Annotated[tuple[RoutingStep, ...], Field(min_length=1), Tag("steps")],
            Discriminator(_routing_form),
        ]
        | None
    ) = None
    archived: StrictBool = False

    @model_validator(mode="after")
    def _one_way_to_run(self) -> WorkOrderLine:
        if self.workflow is not None and self.routing is not None:
            raise ValueError(
                "a line names either a workflow or a routing, never both (Epoptia refuses "
                "erp_routing together with workflow_id); remove one of them"
            )
        return self

    def payload(self, work_order: str) -> dict[str, Any]:
        """The normalised payload; a named routing is kept by name and expanded later."""
        data = self._dump({"id", "archived", "routing"})
        data["workorder"] = work_order
        if isinstance(self.routing, str):
            data["routing"] = {"name": self.routing}
        elif self.routing is not None:
            data["routing"] = {"steps": [s._dump(set()) for s in self.routing]}
        return data


class WorkOrder(_Model):
    kind: Literal["WorkOrder"] = "WorkOrder"
    id: ErpId
    client: ErpId
    code: Name | None = None
    comments: Text = ""
    files: tuple[FileRef, ...] = ()
    lines: Annotated[tuple[WorkOrderLine, ...], Field(min_length=1)]

    def payload(self) -> dict[str, Any]:
        return self._dump({"kind", "id", "lines"})


MODELS: dict[Kind, type[_Model]] = {
    Kind.CLIENT: Client,
    Kind.PRODUCT: Product,
    Kind.ROUTING: Routing,
    Kind.WORK_ORDER: WorkOrder,
}


def canonical_json(value: Any) -> bytes:
    """One spelling per value: sorted keys, no spaces, real UTF-8 (Greek stays readable)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def digest(value: Any) -> str:
    return hashlib.blake2b(canonical_json(value), digest_size=16).hexdigest()


def row_hash(addr: str, dig: str, archived: bool) -> int:
    return int.from_bytes(hashlib.blake2b(f"{addr}\0{dig}\0{int(bool(archived))}".encode(), digest_size=16).digest())


_FINGERPRINT_MOD = 2**128


def fingerprint(rows: Iterable[tuple[str, str, bool]], *, start: int = 0) -> str:
    """One value for a whole set of (address, digest, archived): equal on both sides means nothing to plan.

    A sum of per-row hashes, so it does not depend on order and can be updated
    by what changed (``update_fingerprint``) instead of recomputed.
    """
    return f"{(start + sum(row_hash(*row) for row in rows)) % _FINGERPRINT_MOD:032x}"


def update_fingerprint(
    value: str, removed: Iterable[tuple[str, str, bool]], added: Iterable[tuple[str, str, bool]]
) -> str:
    return fingerprint(added, start=int(value, 16) - sum(row_hash(*row) for row in removed))


def combine_digests(*parts: str) -> str:
    return hashlib.blake2b("|".join(parts).encode(), digest_size=16).hexdigest()


# (kind name, id, path inside the document): a name one resource uses for another.
# Plain tuples, because they are rebuilt from the parse cache for every resource.
Reference = tuple[str, str, tuple[str | int, ...]]


class DesiredResource(NamedTuple):
    """One validated resource as the planner sees it.

    Built for every resource on every run, so it is a light, immutable tuple:
    the payload (normalised, named routing expanded) is produced by ``load``
    only when asked for, which the planner does only for resources whose digest
    changed. ``digest`` already covers the expanded payload.
    """

    kind: Kind
    id: str
    digest: str
    archived: bool
    parent: str | None
    references: tuple[Reference, ...]
    file: str
    document: int
    path: tuple[str | int, ...]
    load: Callable[[], dict[str, Any]]

    @property
    def payload(self) -> dict[str, Any]:
        return self.load()

    @property
    def address(self) -> str:
        return address(self.kind, self.id)


class DesiredEntry(NamedTuple):
    """What the planner needs of every wanted resource, cheaply: enough to tell that it did not change."""

    kind: str  # a Kind value
    id: str
    digest: str  # covers the full payload, a named routing's steps included
    archived: bool
    parent: str | None


# The manifests as they were at some earlier fingerprints, and per fingerprint the addresses whose index
# rows changed since (added, removed or different): what a plan against a state that matches one of those
# earlier versions has to look at, and all it has to look at.
Since = Mapping[str, frozenset[str]]


class Desired:
    """Everything the manifests ask for, validated and with references resolved.

    ``index`` holds every resource cheaply (decoded on first use); ``resources``
    gives the full DesiredResource of an address, built on first use, so a plan
    of 100,000 unchanged lines never builds one. Routings are a manifest-only
    convenience: they are expanded into the lines that use them and never exist
    in Epoptia on their own, so they are kept apart from the resources the
    planner compares. ``fingerprint`` sums the index up (see ``fingerprint``).
    """

    def __init__(
        self,
        index: Mapping[str, DesiredEntry] | Callable[[], Mapping[str, DesiredEntry]],
        resources: Mapping[str, DesiredResource],
        routings: Mapping[str, DesiredResource],
        files: tuple[str, ...],
        *,
        fingerprint: str | None = None,
        size: int | None = None,
        unreadable: int | None = None,
        rows: Mapping[str, Any] | None = None,
        since: Since | None = None,
    ) -> None:
        self._index = index
        self._rows = rows
        self.since = since
        self.resources = resources
        self.routings = routings
        self.files = files
        self.fingerprint = fingerprint
        self._size = size
        self._unreadable = unreadable

    @property
    def index(self) -> Mapping[str, DesiredEntry]:
        if callable(self._index):
            self._index = self._index()
        return self._index

    @property
    def rows(self) -> Mapping[str, Any]:
        """The index as plain rows, in DesiredEntry's field order, for loops over every resource."""
        if self._rows is None:
            return self.index
        return self._rows() if callable(self._rows) else self._rows

    def __len__(self) -> int:
        return self._size if self._size is not None and callable(self._index) else len(self.index)

    def __contains__(self, addr: object) -> bool:
        return addr in self.rows

    def entry(self, addr: str) -> DesiredEntry | None:
        """One resource's index entry, without building the index of all of them."""
        if self._rows is None or not callable(self._index):
            return self.index.get(addr)
        row = self.rows.get(addr)
        return DesiredEntry(*row[:5]) if row is not None else None

    @property
    def unreadable(self) -> int:
        """How many are clients and products, which Epoptia gives no read of."""
        if self._unreadable is None:
            self._unreadable = sum(
                1 for entry in self.index.values() if entry.kind in (Kind.CLIENT.value, Kind.PRODUCT.value)
            )
        return self._unreadable
