"""Where in a YAML file a problem is: (document, path) -> line and column.

The fast parse keeps no positions. They are needed only when something is
wrong: the offending file's parser events are then streamed once, in C, and
only the marks of the nodes on the asked paths are kept. Nothing is composed
or built, so placing one problem at the end of a 50 MB file costs one event
pass, not a round-trip parse of the whole file (minutes, gigabytes).

A path that cannot be followed all the way (a key that is not there, a list
too short, a value behind an alias or a merge key) is placed at the deepest
node it reaches, as a person would look for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from _ruamel_yaml import CParser  # type: ignore[import-not-found]  # ruamel.yaml.clib, as the fast loader
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

Path = tuple[str | int, ...]
Query = tuple[int, Path, bool]  # (document, path, at the key rather than the value)
_UNKNOWN = (1, 1)


class _Frame:
    """An open mapping or sequence: its path, and where the next node goes."""

    __slots__ = ("expect_key", "index", "is_map", "key", "path")

    def __init__(self, is_map: bool, path: Path | None) -> None:
        self.is_map = is_map
        self.path = path  # None inside a complex key: nothing there is on any asked path
        self.key: Any = None
        self.expect_key = True
        self.index = 0


def _marks(
    text: str, wanted: dict[int, set[Path]], keys: dict[int, set[Path]]
) -> tuple[dict[tuple[int, Path], tuple[int, int]], dict[tuple[int, Path], tuple[int, int]]]:
    """One pass over the events: the marks of the asked nodes (and of asked keys), first occurrence wins."""
    nodes: dict[tuple[int, Path], tuple[int, int]] = {}
    key_marks: dict[tuple[int, Path], tuple[int, int]] = {}
    last_document = max([*wanted, *keys], default=-1)
    parser = CParser(text.encode("utf-8"))
    document = -1
    stack: list[_Frame] = []
    try:
        while True:
            event = parser.get_event()
            cls = event.__class__
            if cls is StreamEndEvent:
                break
            if cls is DocumentStartEvent:
                document += 1
                if document > last_document:
                    break
                continue
            if cls is DocumentEndEvent:
                continue
            if isinstance(event, CollectionEndEvent):
                stack.pop()
                _advance(stack)
                continue
            if not isinstance(event, NodeEvent):
                continue
            path: Path | None
            if not stack:
                path = ()
            else:
                frame = stack[-1]
                if frame.path is None:
                    path = None
                elif frame.is_map and frame.expect_key:
                    # A key: kept as its text, as the composed node's value was compared.
                    if isinstance(event, ScalarEvent):
                        frame.key = event.value
                        asked = (*frame.path, event.value)
                        if asked in keys.get(document, ()) and (document, asked) not in key_marks:
                            key_marks[(document, asked)] = _mark(event)
                        frame.expect_key = False
                        continue
                    if cls is AliasEvent:
                        frame.key, frame.expect_key = None, False
                        continue
                    path = None  # a mapping or a list as a key
                    frame.key = None
                elif frame.is_map:
                    path = (*frame.path, frame.key) if frame.key is not None else None
                else:
                    path = (*frame.path, frame.index)
            if path is not None and path in wanted.get(document, ()) and (document, path) not in nodes:
                nodes[(document, path)] = _mark(event)
            if cls is MappingStartEvent or cls is SequenceStartEvent:
                stack.append(_Frame(cls is MappingStartEvent, path))
            else:
                _advance(stack)
    except (YAMLError, RecursionError, MemoryError):
        pass  # what was reached is kept; the rest is placed at the deepest node found
    return nodes, key_marks


def _advance(stack: list[_Frame]) -> None:
    """A node is complete: its parent expects the next key, or the next item."""
    if not stack:
        return
    frame = stack[-1]
    if frame.is_map:
        if frame.expect_key:  # the node just completed was a complex key: its value comes next
            frame.expect_key = False
        else:
            frame.expect_key, frame.key = True, None
    else:
        frame.index += 1


def _mark(event: Any) -> tuple[int, int]:
    return event.start_mark.line + 1, event.start_mark.column + 1


class Locator:
    """Turns (document, path) queries on one file's text into lines and columns, in one pass."""

    def __init__(self, text: str) -> None:
        self._text = text

    def positions(self, queries: Sequence[Query]) -> list[tuple[int, int]]:
        wanted: dict[int, set[Path]] = {}
        keys: dict[int, set[Path]] = {}
        for document, path, at_key in queries:
            prefixes = wanted.setdefault(document, set())
            prefixes.update(tuple(path[:n]) for n in range(len(path) + 1))
            if at_key and path:
                keys.setdefault(document, set()).add(tuple(path))
        nodes, key_marks = _marks(self._text, wanted, keys)
        out = []
        for document, path, at_key in queries:
            found = key_marks.get((document, tuple(path))) if at_key and path else None
            if found is None:
                found = next(
                    (
                        nodes[(document, tuple(path[:n]))]
                        for n in range(len(path), -1, -1)
                        if (document, tuple(path[:n])) in nodes
                    ),
                    _UNKNOWN,
                )
            out.append(found)
        return out

    def position(self, document: int, path: Iterable[str | int], at_key: bool = False) -> tuple[int, int]:
        return self.positions([(document, tuple(path), at_key)])[0]
