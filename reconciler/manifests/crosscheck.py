"""Identity and references across files: duplicates, dangling names, named routings."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Callable, NamedTuple

from ..errors import SourceError
from ..resources import DesiredResource, Kind, combine_digests
from ..words import did_you_mean
from .cache import Payloads
from .messages import KIND_NOUNS
from .parse import Entry, Source
from .positions import Locator

_KINDS = {kind.value: kind for kind in Kind}


class Parsed(NamedTuple):
    """One file's validated entries, and where their payloads come from."""

    file: str
    entries: list[Entry]
    payloads: Payloads


Pending = tuple[Source, str, bool]


def _with_routing(base: Callable[[], dict[str, Any]], routing: Callable[[], dict[str, Any]], name: str) -> dict[str, Any]:
    return {**base(), "routing": {"name": name, "steps": routing()["steps"]}}


def cross_check(
    parsed: list[Parsed],
) -> tuple[tuple[dict[str, DesiredResource], dict[str, DesiredResource]], list[Pending]]:
    """Resources and routings by address, and the problems found (without positions yet).

    Works on the plain cache entries and builds each DesiredResource once, with
    its final digest: a line that uses a named routing is digested together with
    that routing, so editing the routing changes (and is planned on) every line
    that uses it.
    """
    pending: list[Pending] = []
    first_seen: dict[str, tuple[str, Entry, Payloads, int]] = {}
    for file, entries, payloads in parsed:
        for index, entry in enumerate(entries):
            addr = f"{entry[0]}/{entry[1]}"
            if addr in first_seen:
                noun = KIND_NOUNS[_KINDS[entry[0]]]
                pending.append(
                    (
                        Source(file, entry[6], entry[7] + ("id",)),
                        f"duplicate {noun} id {entry[1]!r}; it is already declared at {first_seen[addr][0]} "
                        "(ids are unique per kind)",
                        False,
                    )
                )
                continue
            first_seen[addr] = (file, entry, payloads, index)

    def build(file: str, entry: Entry, dig: str, load: Callable[[], dict[str, Any]]) -> DesiredResource:
        kind, erp_id, _, archived, parent, refs, document, path = entry
        return DesiredResource(_KINDS[kind], erp_id, dig, archived, parent, refs, file, document, path, load)

    routing_kind = Kind.ROUTING.value
    routings: dict[str, DesiredResource] = {}
    for file, entry, payloads, index in first_seen.values():
        if entry[0] == routing_kind:
            routings[entry[1]] = build(file, entry, entry[2], partial(payloads.get, index))

    ids_by_kind: dict[str, set[str]] | None = None
    resources: dict[str, DesiredResource] = {}
    for addr, (file, entry, payloads, index) in first_seen.items():
        if entry[0] == routing_kind:
            continue
        dig, load = entry[2], partial(payloads.get, index)
        for ref_kind, ref_id, ref_path in entry[5]:
            target: Any
            if ref_kind == routing_kind:
                target = routings.get(ref_id)
                if target is not None:
                    dig = combine_digests(dig, target.digest)
                    load = partial(_with_routing, load, target.load, ref_id)
            else:
                target = first_seen.get(f"{ref_kind}/{ref_id}")
            if target is None:
                if ids_by_kind is None:
                    ids_by_kind = {}
                    for e in first_seen.values():
                        ids_by_kind.setdefault(e[1][0], set()).add(e[1][1])
                kind = _KINDS[ref_kind]
                pending.append(
                    (
                        Source(file, entry[6], ref_path),
                        f"{KIND_NOUNS[_KINDS[entry[0]]]} {entry[1]!r} refers to {KIND_NOUNS[kind]} {ref_id!r}, "
                        f"which no manifest declares{did_you_mean(ref_id, ids_by_kind.get(ref_kind, ()))}",
                        False,
                    )
                )
        resources[addr] = build(file, entry, dig, load)
    return (resources, routings), pending


def locate(pending: list[Pending], paths: dict[str, Path]) -> list[SourceError]:
    """Positions for cross-file problems; only files with a problem are read again, in round-trip mode."""
    out = []
    locators: dict[str, Locator] = {}
    for source, message, at_key in pending:
        if source.file not in locators:
            locators[source.file] = Locator(paths[source.file].read_text(encoding="utf-8"))
        line, column = locators[source.file].position(source.document, source.path, at_key)
        out.append(SourceError(source.file, line, column, message))
    return out
