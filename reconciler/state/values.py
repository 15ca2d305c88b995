"""State values: what the state records per resource, and the read-only view plans are made from.

Per resource: the normalised payload last applied, its digest, and the
production facts last observed. Nothing here reads or writes a file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NamedTuple

from pydantic import Field, field_validator, model_validator

from ..frozen import FrozenValue
from ..resources import DesiredResource, Kind, digest, fingerprint, update_fingerprint

STATE_FORMAT_VERSION: Literal[1] = 1


class _Frozen(FrozenValue):
    """Frozen, and light (see ``FrozenValue``): a run may parse 100,000 entries."""


class StepProgress(_Frozen):
    """One routing step as the shop floor reports it."""

    workstation: str | None = None
    job_task: str | None = None
    status: str = "not_started"
    qty_done: float = 0


class Observed(_Frozen):
    """Production facts of a line, owned by the shop floor and never 'fixed' by a plan."""

    status: str
    started: bool
    archived: bool = False
    steps: tuple[StepProgress, ...] = ()
    observed_at: str
    page: int | None = None  # the page of the list it was last seen on, to read it again cheaply

    @property
    def launched(self) -> bool:
        """Launched into production: released (any status but standby) or started; deleting is then refused."""
        return self.started or self.status not in ("standby", "")

    def fingerprint(self) -> str:
        # When and where it was seen do not matter for staleness, only what was seen.
        return digest(self.model_dump(mode="json", exclude={"observed_at", "page"}))

    def progress(self) -> tuple[StepProgress | None, float]:
        """The furthest step that has work on it, and its quantity done."""
        furthest = None
        for step in self.steps:
            if step.status != "not_started" or step.qty_done > 0:
                furthest = step
        return furthest, (furthest.qty_done if furthest else 0)


def drift_digest(payload: dict[str, Any]) -> str:
    """The digest of an entry that holds what Epoptia has after a change made there.

    Its prefix keeps it from ever equalling a manifest's digest, so the plan puts
    the manifests' values back. The state index below recognises it.
    """
    return "drift:" + digest(payload)


class ResourceState(_Frozen):
    # Field order is the file's order: the fields a plan needs for every resource
    # come first on each line, so Snapshot can index them without parsing payloads.
    digest: str
    parent: str | None = None
    archived: bool = False
    observed: Observed | None = None
    payload: dict[str, Any]
    # Epoptia's own id of the line or work order, where a write answer or the list told it.
    epoptia_id: str | None = None

    @property
    def started(self) -> bool:
        return bool(self.observed and self.observed.started)

    @property
    def launched(self) -> bool:
        return bool(self.observed and self.observed.launched)

    @classmethod
    def applied(cls, resource: DesiredResource, observed: Observed | None = None) -> ResourceState:
        """What the state records once ``resource`` has been written to Epoptia."""
        return cls(
            payload=resource.payload,
            digest=resource.digest,
            archived=resource.archived,
            parent=resource.parent,
            observed=observed,
        )


_KINDS = frozenset(kind.value for kind in Kind)


def address_problem(addr: str) -> str | None:
    """What is wrong with a resource address read from a state file (``Kind/id``); None when it is fine.

    Every later step splits addresses into a kind it knows and an id: one edited by hand must stop the
    read with the file's name, not fail deep in a plan.
    """
    kind, slash, erp_id = addr.partition("/")
    if not slash or not erp_id:
        return f"address {addr[:80]!r} is not Kind/id"
    if kind not in _KINDS:
        return f"address {addr[:80]!r} has an unknown kind {kind[:40]!r}"
    return None


class State(_Frozen):
    format_version: Literal[1] = STATE_FORMAT_VERSION
    lineage: str | None = None
    serial: int = 0
    resources: dict[str, ResourceState] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _without_seal(cls, data: Any) -> Any:
        # The file's checksum is a fact of its bytes, and its summary one of the entries (see layout): neither is
        # part of the state it holds.
        if isinstance(data, dict) and (isinstance(data.get("checksum"), str) or isinstance(data.get("summary"), dict)):
            return {key: value for key, value in data.items() if key not in ("checksum", "summary")}
        return data

    @field_validator("resources")
    @classmethod
    def _addresses(cls, value: dict[str, ResourceState]) -> dict[str, ResourceState]:
        for addr in value:
            problem = address_problem(addr)
            if problem is not None:
                raise ValueError(problem)
        return value

    def snapshot(self) -> Snapshot:
        index = {addr: IndexEntry.of(res) for addr, res in self.resources.items()}
        return Snapshot(
            self.lineage,
            self.serial,
            index,
            self.resources.__getitem__,
            fingerprint=fingerprint((a, e.digest, e.archived) for a, e in index.items()),
        )


class IndexEntry(NamedTuple):
    """What a plan needs to know of every resource in the state, cheaply."""

    digest: str
    parent: str | None
    archived: bool
    started: bool
    launched: bool

    @classmethod
    def of(cls, res: ResourceState) -> IndexEntry:
        return cls(res.digest, res.parent, res.archived, res.started, res.launched)


class Snapshot:
    """A read-only view of one state file for planning.

    The index (digest, parent, archived, started) covers every resource; the full
    entry, with its payload and production facts, is parsed and validated only
    when asked for. At 100,000 lines that is the difference between a plan that
    parses 50 MB of JSON and one that reads a few entries.
    """

    def __init__(
        self,
        lineage: str | None,
        serial: int,
        index: dict[str, IndexEntry] | Callable[[], dict[str, IndexEntry]],
        load: Callable[[str], ResourceState],
        *,
        fingerprint: str | None = None,
        size: int | None = None,
        rows: Callable[[], dict[str, Any]] | None = None,
        row: Callable[[str], Any] | None = None,
        raw: Callable[[str], bytes] | None = None,
    ) -> None:
        self.lineage = lineage
        self.serial = serial
        self._index = index
        self._rows = rows
        self._row = row  # one row by address (None if absent) without decoding them all, where the store can
        self._load = load
        self._raw = raw  # an entry's JSON as the state file holds it, where there is a file to take it from
        self._loaded: dict[str, ResourceState] = {}
        # What every resource is, in one value (see resources.fingerprint); None when not known.
        self.fingerprint = fingerprint
        self._size = size

    @property
    def index(self) -> dict[str, IndexEntry]:
        """Every resource, cheaply; decoded on first use (a plan that changes nothing may never need it)."""
        if callable(self._index):
            self._index = self._index()
        return self._index

    @property
    def rows(self) -> dict[str, Any]:
        """The index as plain rows, in IndexEntry's field order, for loops over every resource."""
        if self._rows is not None and callable(self._index):
            return self._rows()
        return self.index

    def __len__(self) -> int:
        return self._size if self._size is not None and callable(self._index) else len(self.index)

    def __contains__(self, addr: object) -> bool:
        if self._row is not None and callable(self._index) and isinstance(addr, str):
            return self._row(addr) is not None
        return addr in self.rows

    def entry(self, addr: str) -> IndexEntry | None:
        """One resource's index entry, without building the index of all of them."""
        if not callable(self._index):
            return self._index.get(addr)
        row = self._row(addr) if self._row is not None else self.rows.get(addr)
        return IndexEntry(*row[:5]) if row is not None else None

    def __getitem__(self, addr: str) -> ResourceState:
        if addr not in self:
            raise KeyError(addr)
        if addr not in self._loaded:
            self._loaded[addr] = self._load(addr)
        return self._loaded[addr]

    def get(self, addr: str) -> ResourceState | None:
        return self[addr] if addr in self else None  # noqa: SIM401 (a Snapshot is not a dict: no .get to call)

    def peek(self, addr: str) -> ResourceState:
        """One entry, parsed for the caller and not kept: for passes over every resource, which would
        otherwise hold all of them (at 100,000 lines, gigabytes)."""
        found = self._loaded.get(addr)
        if found is not None:
            return found
        if addr not in self:
            raise KeyError(addr)
        return self._load(addr)

    def entry_json(self, addr: str) -> bytes:
        """One entry as the state file's line holds it: the file's own bytes where they are at hand."""
        if self._raw is not None:
            return self._raw(addr)
        return self.peek(addr).model_dump_json().encode()

    def overlay(self, changes: dict[str, ResourceState | None], serial: int | None = None) -> Snapshot:
        """This snapshot with some entries replaced (or removed, for None): e.g. what a refresh saw.

        Its index is built only if asked for, and its fingerprint and size follow from the changes:
        a refresh that changed no digest still plans nothing without looking at a single entry.
        """
        size = len(self)
        gone: list[tuple[str, str, bool]] = []
        came: list[tuple[str, str, bool]] = []
        for addr, res in changes.items():
            before = self.entry(addr)
            if before is not None:
                gone.append((addr, before.digest, before.archived))
            if res is not None:
                came.append((addr, res.digest, res.archived))
            size += (res is not None) - (before is not None)
        value = update_fingerprint(self.fingerprint, gone, came) if self.fingerprint is not None else None

        def index() -> dict[str, IndexEntry]:
            out = dict(self.index)
            for addr, res in changes.items():
                if res is None:
                    out.pop(addr, None)
                else:
                    out[addr] = IndexEntry.of(res)
            return out

        def load(addr: str) -> ResourceState:
            replaced = changes.get(addr)
            return replaced if replaced is not None else self.peek(addr)

        def raw(addr: str) -> bytes:
            replaced = changes.get(addr)
            return replaced.model_dump_json().encode() if replaced is not None else self.entry_json(addr)

        return Snapshot(
            self.lineage, self.serial if serial is None else serial, index, load, raw=raw, fingerprint=value, size=size
        )

    def to_state(self) -> State:
        return State(lineage=self.lineage, serial=self.serial, resources={addr: self[addr] for addr in self.index})
