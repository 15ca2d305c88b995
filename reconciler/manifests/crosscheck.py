"""Identity and references across files: duplicates, dangling names, named routings.

The result is an index: per address, just what the planner needs to tell an
unchanged resource (kind, id, final digest, archived, parent) and where the
resource is declared, so the full ``DesiredResource`` is built only for the
few resources a plan looks at. A line that uses a named routing is digested
together with that routing, so editing the routing changes (and is planned
on) every line that uses it.

The index of a run is cached. When only work-order files changed since the
cached one, it is updated from those files alone instead of being rebuilt:
work orders are referred to by nobody but their own lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from ..errors import SourceError
from ..resources import DesiredEntry, DesiredResource, Kind, combine_digests
from ..words import did_you_mean
from .cache import Payloads, Recent
from .messages import KIND_NOUNS
from .parse import Source
from .positions import Locator

_KINDS = {kind.value: kind for kind in Kind}
_ROUTING = Kind.ROUTING.value
_REFERRED = {Kind.CLIENT.value, Kind.PRODUCT.value, Kind.ROUTING.value}  # kinds others name
_LINE_PREFIX = f"{Kind.WORK_ORDER_LINE.value}/"

# index value: [kind, id, digest, archived, parent, file, position in the file's entries]
IndexRow = list[Any]
# routing value: [digest, file, position]
RoutingRow = list[Any]


class FileParts:
    """One manifest file's validated entries (decoded only when needed, and let go with ``recent``
    when other files were used since, if they can be decoded again) and payloads."""

    __slots__ = ("__weakref__", "_entries", "_load_entries", "_recent", "key", "name", "payloads")

    def __init__(
        self,
        name: str,
        key: str,
        payloads: Payloads,
        entries: list[Any] | None = None,
        load_entries: Callable[[], list[Any]] | None = None,
        recent: Recent | None = None,
    ) -> None:
        self.name, self.key, self.payloads = name, key, payloads
        self._entries, self._load_entries, self._recent = entries, load_entries, recent

    @property
    def entries(self) -> list[Any]:
        if self._entries is None:
            assert self._load_entries is not None
            self._entries = self._load_entries()
        if self._recent is not None:
            self._recent.used(self)
        return self._entries

    def forget(self) -> None:
        if self._load_entries is not None:
            self._entries = None


Pending = tuple[Source, str, bool]


def full_check(
    files: list[FileParts], *, assume: frozenset[str] = frozenset(), references: bool = True
) -> tuple[dict[str, IndexRow], dict[str, RoutingRow], list[Pending]]:
    """The index of every file's entries, and the problems found (without positions yet).

    ``assume``: addresses of items that are declared but failed validation, and
    ``references`` False when a file did not parse at all: a reference to what
    may be there is then not reported too (one broken item gives one error).
    """
    pending: list[Pending] = []
    first_seen: dict[str, tuple[str, int]] = {}  # address -> (file, position) of its first declaration
    routings: dict[str, RoutingRow] = {}
    # One pass builds every row as if all its references resolve, and notes what they name: a file's
    # entries are decoded once (a second pass decoded 10,000 files again at 100,000 lines).
    index: dict[str, IndexRow] = {}
    named: set[str] = set()  # addresses referred to, routings aside
    routed: list[tuple[str, str]] = []  # (address, routing id) of rows digested with a named routing
    for parts in files:
        for position, entry in enumerate(parts.entries):
            addr = f"{entry[0]}/{entry[1]}"
            if addr in first_seen:
                pending.append(_duplicate(parts.name, entry, first_seen[addr][0]))
                continue
            first_seen[addr] = (parts.name, position)
            if entry[0] == _ROUTING:
                routings[entry[1]] = [entry[2], parts.name, position]
                continue
            index[addr] = [entry[0], entry[1], entry[2], entry[3], entry[4], parts.name, position]
            for ref_kind, ref_id, _ in entry[5]:
                if ref_kind == _ROUTING:
                    routed.append((addr, ref_id))
                else:
                    named.add(f"{ref_kind}/{ref_id}")
    known: set[str] = set(first_seen) | assume
    if named <= known and all(rid in routings for _, rid in routed):
        for addr, rid in routed:
            index[addr][2] = combine_digests(index[addr][2], routings[rid][0])
        return index, routings, pending
    # A reference dangles: each entry again, to name every one that does, where it is.
    index = {}
    unchecked: list[Pending] = []
    for parts in files:
        for position, entry in enumerate(parts.entries):
            addr = f"{entry[0]}/{entry[1]}"
            if entry[0] == _ROUTING or first_seen[addr] != (parts.name, position):
                continue
            row = _indexed(parts.name, position, entry, known, routings, pending if references else unchecked)
            if row is not None:
                index[addr] = row
    return index, routings, pending


def _indexed(
    file: str,
    position: int,
    entry: Any,
    known: set[str] | Mapping[str, Any],
    routings: Mapping[str, RoutingRow],
    pending: list[Pending],
) -> IndexRow | None:
    """One entry's index row, its references checked; None (and a problem) if one dangles."""
    digest = entry[2]
    ok = True
    names: Mapping[str, Any]
    for ref_kind, ref_id, ref_path in entry[5]:
        if ref_kind == _ROUTING:
            target = routings.get(ref_id)
            if target is not None:
                digest = combine_digests(digest, target[0])
                continue
            names = routings
        elif f"{ref_kind}/{ref_id}" in known:
            continue
        if ref_kind == _ROUTING and f"{_ROUTING}/{ref_id}" in known:
            continue  # a routing that failed validation: its own error says so
        else:
            names = {a.partition("/")[2]: None for a in known if a.startswith(ref_kind + "/")}
        ok = False
        pending.append(
            (
                Source(file, entry[6], tuple(ref_path)),
                f"{KIND_NOUNS[_KINDS[entry[0]]]} {entry[1]!r} refers to {KIND_NOUNS[_KINDS[ref_kind]]} {ref_id!r}, "
                f"which no manifest declares{did_you_mean(ref_id, names)}",
                False,
            )
        )
    return [entry[0], entry[1], digest, entry[3], entry[4], file, position] if ok else None


def _duplicate(file: str, entry: Any, first: str) -> Pending:
    noun = KIND_NOUNS[_KINDS[entry[0]]]
    return (
        Source(file, entry[6], (*entry[7], "id")),
        f"duplicate {noun} id {entry[1]!r}; it is already declared at {first} (ids are unique per kind)",
        False,
    )


Moved = tuple[list[tuple[str, str, bool]], list[tuple[str, str, bool]]]  # (address, digest, archived) gone, came


def update_check(
    previous: dict[str, Any], files: list[FileParts]
) -> tuple[dict[str, IndexRow], dict[str, RoutingRow], list[Pending], Moved] | None:
    """The previous index, brought up to date from the files that changed; None when a full check is needed.

    Possible when the changed, added and removed files hold only work orders,
    before and after: nobody else refers to those, and what they refer to
    (clients, products, routings) did not change. Also returns the rows of the
    changed files as they were and as they are, for the fingerprint to be
    updated from them (``previous["index"]`` is updated in place: at 100,000
    lines a copy and a comparison of the whole index were most of a one-file plan).
    """
    old_keys: dict[str, str] = previous["files"]
    index: dict[str, IndexRow] = previous["index"]
    routings: dict[str, RoutingRow] = previous["routings"]
    now = {parts.name: parts for parts in files}
    changed = {name for name, parts in now.items() if old_keys.get(name) != parts.key}
    changed |= set(old_keys) - set(now)
    if not changed:
        return index, routings, [], ([], [])
    if any(row[1] in changed for row in routings.values()):
        return None
    for name in changed & set(now):
        if any(entry[0] in _REFERRED for entry in now[name].entries):
            return None
    went = [(addr, row) for addr, row in index.items() if row[5] in changed]
    if any(row[0] in _REFERRED for _, row in went):
        return None
    for addr, _ in went:
        del index[addr]
    kept = index
    pending: list[Pending] = []
    came: list[tuple[str, str, bool]] = []
    for name in sorted(changed & set(now)):
        for position, entry in enumerate(now[name].entries):
            addr = f"{entry[0]}/{entry[1]}"
            if addr in kept:
                pending.append(_duplicate(name, entry, kept[addr][5]))
                continue
            row = _indexed(name, position, entry, kept, routings, pending)
            if row is not None:
                kept[addr] = row
                came.append((addr, row[2], row[3]))
    return kept, routings, pending, ([(addr, row[2], row[3]) for addr, row in went], came)


class LazyResources(Mapping[str, DesiredResource]):
    """DesiredResource by address, built when first asked for from the index and the file it lives in.

    What others refer to (work orders, clients, products, routings) is kept once built; a line is
    asked for once per plan, so it is built each time and not kept: at 100,000 lines to create,
    keeping them took 100 MB.
    """

    def __init__(self, rows: Mapping[str, Any], build: Callable[[str], DesiredResource]) -> None:
        self._rows, self._build = rows, build
        self._built: dict[str, DesiredResource] = {}

    def __getitem__(self, addr: str) -> DesiredResource:
        found = self._built.get(addr)
        if found is None:
            if addr not in self._rows:
                raise KeyError(addr)
            found = self._build(addr)
            if not addr.startswith(_LINE_PREFIX):
                self._built[addr] = found
        return found

    def __contains__(self, addr: object) -> bool:
        return addr in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


def _with_routing(
    base: Callable[[], dict[str, Any]], routing: Callable[[], dict[str, Any]], name: str
) -> dict[str, Any]:
    return {**base(), "routing": {"name": name, "steps": routing()["steps"]}}


def resource_builders(
    index: dict[str, IndexRow], routings: dict[str, RoutingRow], files: dict[str, FileParts]
) -> tuple[Callable[[str], DesiredResource], Callable[[str], DesiredResource]]:
    """Builders of full resources (by address) and of routings (by id), for the lazy mappings."""

    def routing(rid: str) -> DesiredResource:
        digest, file, position = routings[rid]
        parts = files[file]
        entry = parts.entries[position]
        return DesiredResource(
            Kind.ROUTING,
            rid,
            digest,
            False,
            None,
            (),
            file,
            entry[6],
            tuple(entry[7]),
            partial(parts.payloads.get, position),
        )

    def resource(addr: str) -> DesiredResource:
        kind, erp_id, digest, archived, parent, file, position = index[addr]
        parts = files[file]
        entry = parts.entries[position]
        load: Callable[[], dict[str, Any]] = partial(parts.payloads.get, position)
        references = tuple((k, i, tuple(p)) for k, i, p in entry[5])
        for ref_kind, ref_id, _ in references:
            if ref_kind == _ROUTING:
                load = partial(_with_routing, load, routing(ref_id).load, ref_id)
        return DesiredResource(
            _KINDS[kind], erp_id, digest, archived, parent, references, file, entry[6], tuple(entry[7]), load
        )

    return resource, routing


def entries_index(index: dict[str, IndexRow]) -> dict[str, DesiredEntry]:
    return {addr: DesiredEntry(*row[:5]) for addr, row in index.items()}


def locate(pending: list[Pending], paths: dict[str, Path]) -> list[SourceError]:
    """Positions for cross-file problems; only files with a problem are read again, each in one event pass."""
    by_file: dict[str, list[Pending]] = {}
    for problem in pending:
        by_file.setdefault(problem[0].file, []).append(problem)
    places: dict[int, tuple[int, int]] = {}
    for file, problems in by_file.items():
        found = Locator(paths[file].read_text(encoding="utf-8")).positions(
            [(source.document, source.path, at_key) for source, _, at_key in problems]
        )
        places.update((id(problem), place) for problem, place in zip(problems, found, strict=True))
    return [
        SourceError(source.file, *places[id(problem)], message)
        for problem in pending
        for source, message, _ in (problem,)
    ]
