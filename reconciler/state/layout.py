"""The state file's layout: plain JSON with one resource per line.

    {
      "format_version": 1,
      "lineage": "…",
      "serial": 12,
      "resources": {
        "Client/C-1001": {"digest":"…","parent":null,"archived":false,"observed":null,"payload":{…}},
        …
      }
    }

Any JSON tool reads it; a pull request that changes three lines of production
data shows three changed lines of state, and a plan can index the file line by
line without parsing the payloads.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from .values import IndexEntry, State

_HEADER = re.compile(
    rb'\A\{\n  "format_version": 1,\n  "lineage": (null|"[0-9a-f-]+"),\n  "serial": (\d+),\n  "resources": \{\n'
)
_ENTRY = re.compile(
    rb'    ("(?:[^"\\]|\\.)*"): (\{"digest":"((?:drift:)?[0-9a-f]+)","parent":(null|"(?:[^"\\]|\\.)*"),'
    rb'"archived":(true|false),"observed":(null|\{"status":("(?:[^"\\]|\\.)*"),"started":(true|false)).*\}),?'
)
_FOOTER = b"  }\n}\n"


def serialise(state: State) -> bytes:
    return b"".join(
        serialise_entries(
            state.format_version,
            state.lineage,
            state.serial,
            sorted(state.resources),
            lambda addr: state.resources[addr].model_dump_json().encode(),
        )
    )


def serialise_entries(
    format_version: int, lineage: str | None, serial: int, addresses: Iterable[str], entry_json: Callable[[str], bytes]
) -> Iterator[bytes]:
    """The file above in pieces, one entry at a time (``addresses`` sorted; ``entry_json`` gives each
    entry's JSON), so a state of 100,000 lines is written without being held whole."""
    yield (
        f'{{\n  "format_version": {format_version},\n  "lineage": {json.dumps(lineage)},\n'
        f'  "serial": {serial},\n  "resources": {{\n'
    ).encode()
    first = True
    for addr in addresses:
        key = json.dumps(addr, ensure_ascii=False).encode()
        yield (b"" if first else b",\n") + b"    " + key + b": " + entry_json(addr)
        first = False
    yield (b"" if first else b"\n") + _FOOTER


def header(raw: bytes) -> tuple[str | None, int] | None:
    """(lineage, serial) from the start of a file in the layout above, or None."""
    head = _HEADER.match(raw)
    return (json.loads(head.group(1)), int(head.group(2))) if head else None


def index_lines(
    source: bytes | BinaryIO, check: Callable[[str, bytes], None] | None = None
) -> tuple[str | None, int, dict[str, IndexEntry], dict[str, tuple[int, int]]] | None:
    """Index a file in the layout above without parsing its payloads; None if it is not in that layout.

    ``source`` is the file's bytes, or the file itself, read line by line (a 100 MB state is then
    never held whole). ``check(addr, entry_json)`` sees each entry as it is read.
    """
    fh = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    head_raw = b"".join(fh.readline() for _ in range(5))
    head = _HEADER.match(head_raw)
    if head is None or head.end() != len(head_raw):
        return None
    lineage = json.loads(head.group(1))
    index: dict[str, IndexEntry] = {}
    spans: dict[str, tuple[int, int]] = {}
    position = len(head_raw)
    loads = json.loads
    while True:
        line = fh.readline()
        if line == _FOOTER[:4]:  # "  }\n": the footer, which must end the file
            if fh.readline() != _FOOTER[4:] or fh.read(1):
                return None
            break
        match = _ENTRY.fullmatch(line, 0, len(line) - 1) if line.endswith(b"\n") else None
        if match is None:
            return None
        addr_raw = match.group(1)
        addr = loads(addr_raw) if b"\\" in addr_raw else addr_raw[1:-1].decode()
        if addr in index:
            return None  # an address twice: not a file this module wrote; the whole parse names the problem
        parent_raw = match.group(4)
        parent = (
            None if parent_raw == b"null" else (loads(parent_raw) if b"\\" in parent_raw else parent_raw[1:-1].decode())
        )
        started = match.group(8) == b"true"
        status = match.group(7)
        launched = started or (status is not None and status not in (b'"standby"', b'""'))
        index[addr] = IndexEntry(match.group(3).decode(), parent, match.group(5) == b"true", started, launched)
        start, end = match.span(2)
        spans[addr] = (position + start, position + end)
        if check is not None:
            check(addr, line[start:end])
        position += len(line)
    return lineage, int(head.group(2)), index, spans
