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

import json
import re

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
    head = (
        f'{{\n  "format_version": {state.format_version},\n  "lineage": {json.dumps(state.lineage)},\n'
        f'  "serial": {state.serial},\n  "resources": {{\n'
    ).encode()
    lines = [
        b"    " + json.dumps(addr, ensure_ascii=False).encode() + b": " + state.resources[addr].model_dump_json().encode()
        for addr in sorted(state.resources)
    ]
    return head + b",\n".join(lines) + (b"\n" if lines else b"") + _FOOTER


def index_lines(raw: bytes) -> tuple[str | None, int, dict[str, IndexEntry], dict[str, tuple[int, int]]] | None:
    """Index a file in the layout above without parsing its payloads; None if it is not in that layout."""
    head = _HEADER.match(raw)
    if head is None or not raw.endswith(_FOOTER):
        return None
    lineage = json.loads(head.group(1))
    index: dict[str, IndexEntry] = {}
    spans: dict[str, tuple[int, int]] = {}
    position, end = head.end(), len(raw) - len(_FOOTER)
    loads = json.loads
    while position < end:
        newline = raw.index(b"\n", position)
        match = _ENTRY.fullmatch(raw, position, newline)
        if match is None:
            return None
        addr_raw = match.group(1)
        addr = loads(addr_raw) if b"\\" in addr_raw else addr_raw[1:-1].decode()
        parent_raw = match.group(4)
        parent = None if parent_raw == b"null" else (
            loads(parent_raw) if b"\\" in parent_raw else parent_raw[1:-1].decode()
        )
        started = match.group(8) == b"true"
        status = match.group(7)
        launched = started or (status is not None and status not in (b'"standby"', b'""'))
        index[addr] = IndexEntry(match.group(3).decode(), parent, match.group(5) == b"true", started, launched)
        spans[addr] = match.span(2)
        position = newline + 1
    return lineage, int(head.group(2)), index, spans


