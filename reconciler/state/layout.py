"""The state file's layout: plain JSON with one resource per line.

    {
      "format_version": 1,
      "lineage": "…",
      "serial": 12,
      "resources": {
        "Client/C-1001": {"digest":"…","parent":null,"archived":false,"observed":null,"payload":{…}},
        …
      },
      "summary": {"count": 2, "fingerprint": "…"},
      "checksum": "sha256:…"
    }

Any JSON tool reads it; a pull request that changes three lines of production
data shows three changed lines of state, and a plan can index the file line by
line without parsing the payloads.

The checksum covers every byte before its line, as git's index ends with a
checksum of its own content. It is a seal, not a rule: a file whose bytes are
still what this module wrote needs none of its entries validated again (a cold
plan at 100,000 lines saved over a second so), while a file edited by hand, or
written before checksums, or damaged, simply has every entry validated. A
mismatch is never an error by itself.

The summary is what a plan asks of the state first: how many resources, and
their fingerprint (``resources.fingerprint``). Under the seal, it is the file's
own word, so a plan whose manifests have the same fingerprint knows there is
nothing to do without indexing a single entry (``sealed_summary``). Lines are in
address order, so a plan that looks at a few resources finds each by bisecting
the file (``find_row``): a few reads, where indexing reads every line.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO, NamedTuple

from ..resources import fingerprint, row_hash
from .values import State

_HEADER = re.compile(
    rb'\A\{\n  "format_version": 1,\n  "lineage": (null|"[0-9a-f-]+"),\n  "serial": (\d+),\n  "resources": \{\n'
)
# The start of an entry's line, up to what the index needs; the rest of the line is its JSON to the
# closing brace, checked by the checksum, or else by validating the entry.
_STRING = rb'"[^"\\]*(?:\\.[^"\\]*)*"'  # a JSON string (written so that the match runs fast)
_FACTS = rb'\{"digest":"((?:drift:)?[0-9a-f]+)","parent":(null|' + _STRING + rb'),"archived":(true|false)'
_OBSERVED = rb',"observed":(?:null|\{"status":(' + _STRING + rb'),"started":(true|false))'
_ENTRY = re.compile(rb"    (" + _STRING + rb"): " + _FACTS + _OBSERVED)
_ENTRY_FACTS = re.compile(_FACTS)  # what the summary's fingerprint is made of, at the start of an entry's JSON
_CLOSE = b"  }\n"  # the end of "resources" in a file without a checksum (written before checksums)
_CLOSE_SEALED = b"  },\n"
_SUMMARY = re.compile(rb'  "summary": \{"count": (\d+), "fingerprint": "([0-9a-f]{32})"\},\n')
_CHECKSUM = re.compile(rb'  "checksum": "sha256:([0-9a-f]{64})"\n')
_END = b"}\n"
# The end of a sealed file with a summary: the end of "resources", summary, checksum, closing brace.
_TAIL = re.compile(
    re.escape(_CLOSE_SEALED) + _SUMMARY.pattern + b"(" + _CHECKSUM.pattern + b")" + re.escape(_END) + rb"\Z"
)


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
    seal = hashlib.sha256()

    def sealed(piece: bytes) -> bytes:
        seal.update(piece)
        return piece

    yield sealed(
        (
            f'{{\n  "format_version": {format_version},\n  "lineage": {json.dumps(lineage)},\n'
            f'  "serial": {serial},\n  "resources": {{\n'
        ).encode()
    )
    first = True
    size = total = 0
    summarised, last = True, ""
    for addr in addresses:
        key = json.dumps(addr, ensure_ascii=False).encode()
        entry = entry_json(addr)
        # The summary's fingerprint is taken from the bytes written, never from what a caller believes they hold.
        # An entry not in the shape the index reads (a digest that is not hex: only tests write one), or out of
        # order, leaves the file without a summary, so that it is indexed, as it would have to be anyway.
        facts = _ENTRY_FACTS.match(entry)
        if facts is None or addr <= last:
            summarised = False
        else:
            total += row_hash(addr, facts.group(1).decode(), facts.group(3) == b"true")
        size, last = size + 1, addr
        yield sealed((b"" if first else b",\n") + b"    " + key + b": " + entry)
        first = False
    summary = (
        f'  "summary": {{"count": {size}, "fingerprint": "{fingerprint((), start=total)}"}},\n'.encode()
        if summarised
        else b""
    )
    yield (
        sealed((b"" if first else b"\n") + _CLOSE_SEALED + summary)
        + f'  "checksum": "sha256:{seal.hexdigest()}"\n'.encode()
        + _END
    )


class Summary(NamedTuple):
    """What a sealed state file says of itself (see the module docstring), and where its entries are."""

    lineage: str | None
    serial: int
    size: int  # how many resources: the file's "count"
    fingerprint: str
    start: int  # the entries' lines, in address order, are the bytes [start, end) of the file
    end: int


def sealed_summary(fd: int, size: int) -> Summary | None:
    """The summary of the file open as ``fd`` (``size`` bytes), once its checksum is found to match.

    None when the file has no summary (written before summaries), or its bytes are not what was
    written (edited by hand, damaged): then only indexing every entry tells what it holds. Reads the
    file once, a megabyte at a time, and parses none of it.
    """
    tail = os.pread(fd, min(size, 512), max(0, size - 512))
    found = _TAIL.search(tail)
    head = _HEADER.match(os.pread(fd, 512, 0))
    if found is None or head is None:
        return None
    sealed_end = size - len(tail) + found.start(3)  # the checksum covers every byte before its line
    seal = hashlib.sha256()
    position = 0
    while position < sealed_end:
        chunk = os.pread(fd, min(1 << 20, sealed_end - position), position)
        if not chunk:
            return None
        seal.update(chunk)
        position += len(chunk)
    if seal.hexdigest() != found.group(4).decode():
        return None
    lineage, serial = json.loads(head.group(1)), int(head.group(2))
    start, end = head.end(), size - len(tail) + found.start()
    return Summary(lineage, serial, int(found.group(1)), found.group(2).decode(), start, end)


def fits(fd: int, summary: Summary) -> bool:
    """Whether ``summary`` (kept from an earlier read) places the entries where this file has them:
    the header ends where they start, and "resources" closes where they end."""
    head = _HEADER.match(os.pread(fd, 512, 0))
    return head is not None and head.end() == summary.start and os.pread(fd, 5, summary.end) == _CLOSE_SEALED


def find_row(fd: int, summary: Summary, addr: str) -> tuple[bool, Row | None]:
    """One resource's row in the sealed file ``summary`` describes, found by bisecting its sorted lines:
    a few reads, where indexing would read every entry. (found, row): found False when a line is not
    in the layout (then only indexing the file tells), row None when ``addr`` is not in the file."""
    lo, hi = summary.start, summary.end
    while lo < hi:
        mid = (lo + hi) // 2
        begin = mid if mid == lo else _line_start(fd, mid, hi)  # the first line starting at or after mid
        if begin >= hi:
            hi = mid  # no line starts in [mid, hi): what is left starts before mid
            continue
        line = _line_at(fd, begin, summary.end)  # a line starting before hi may end after it
        parsed = _parse_line(line, begin)
        if parsed is None:
            return False, None
        if parsed[0] == addr:
            return True, parsed[1]
        if parsed[0] < addr:
            lo = begin + len(line)
        else:
            hi = begin
    return True, None


def _line_start(fd: int, position: int, end: int) -> int:
    """Where the first line starting at or after ``position`` starts (``end`` if none does before it)."""
    at = position - 1  # the byte before: a line starts at position if it follows a newline
    while at < end:
        chunk = os.pread(fd, min(4096, end - at), at)
        found = chunk.find(b"\n")
        if found >= 0:
            return at + found + 1
        if not chunk:
            break
        at += len(chunk)
    return end


def _line_at(fd: int, position: int, end: int) -> bytes:
    """The line starting at ``position``, with its newline (lines end before ``end``)."""
    chunk = os.pread(fd, min(4096, end - position), position)
    while chunk and b"\n" not in chunk and position + len(chunk) < end:
        more = os.pread(fd, min(len(chunk), end - position - len(chunk)), position + len(chunk))
        if not more:
            break
        chunk += more
    return chunk[: chunk.find(b"\n") + 1] if b"\n" in chunk else chunk


def _parse_line(line: bytes, position: int) -> tuple[str, Row, bool] | None:
    """An entry's line (at ``position`` in the file) as its address, its row, and whether a comma follows it
    (another entry must); None if not in the layout."""
    more = line.endswith(b"},\n")
    match = _ENTRY.match(line) if more or line.endswith(b"}\n") else None
    if match is None:
        return None
    addr_raw, digest, parent_raw, archived, status, started_raw = match.groups()
    loads = json.loads
    addr = loads(addr_raw) if b"\\" in addr_raw else addr_raw[1:-1].decode()
    parent = (
        None if parent_raw == b"null" else (loads(parent_raw) if b"\\" in parent_raw else parent_raw[1:-1].decode())
    )
    started = started_raw == b"true"
    launched = started or (status is not None and status not in (b'"standby"', b'""'))
    # The entry's JSON: from its opening brace to its closing one.
    start, end = position + match.end(1) + 2, position + len(line) - (2 if more else 1)
    return addr, [digest.decode(), parent, archived == b"true", started, launched, start, end], more


def header(raw: bytes) -> tuple[str | None, int] | None:
    """(lineage, serial) from the start of a file in the layout above, or None."""
    head = _HEADER.match(raw)
    return (json.loads(head.group(1)), int(head.group(2))) if head else None


# Per resource: IndexEntry's fields, then where the entry's JSON is in the file (start, end). Plain
# lists, which is also how the local cache keeps them: a cold plan at 100,000 lines builds no other object.
Row = list[Any]


class Indexed(NamedTuple):
    """A state file indexed line by line (see ``index_lines``)."""

    lineage: str | None
    serial: int
    rows: dict[str, Row]
    sealed: bool  # the checksum matches: the bytes are what this module wrote
    ordered: bool  # addresses in sorted order, as this module writes them


def index_lines(source: bytes | BinaryIO) -> Indexed | None:
    """Index a file in the layout above without parsing its payloads; None if it is not in that layout.

    ``source`` is the file's bytes, or the file itself, read line by line (a 100 MB state is then
    never held whole).
    """
    fh = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    head_raw = b"".join(fh.readline() for _ in range(5))
    head = _HEADER.match(head_raw)
    if head is None or head.end() != len(head_raw):
        return None
    seal = hashlib.sha256(head_raw)
    lineage = json.loads(head.group(1))
    rows: dict[str, Row] = {}
    position = len(head_raw)
    parse = _parse_line
    more = True  # the line before ended with a comma: another entry must follow
    ordered, last = True, ""
    while True:
        line = fh.readline()
        if line in (_CLOSE, _CLOSE_SEALED):
            after = fh.readline() if line == _CLOSE_SEALED else b""
            if _SUMMARY.fullmatch(after):  # sealed with the rest; what it says is not needed here
                seal.update(line + after)
                after = fh.readline()
            found = _CHECKSUM.fullmatch(after) if line == _CLOSE_SEALED else None
            if (line == _CLOSE_SEALED and found is None) or fh.readline() != _END or fh.read(1):
                return None  # the end must end the file
            if more and rows:
                return None  # a comma after the last entry
            sealed = found is not None and found.group(1).decode() == seal.hexdigest()
            return Indexed(lineage, int(head.group(2)), rows, sealed, ordered)
        if not more:
            return None  # no comma between two entries
        parsed = parse(line, position)
        if parsed is None:
            return None
        seal.update(line)
        addr, row, more = parsed
        if addr in rows:
            return None  # an address twice: not a file this module wrote; the whole parse names the problem
        ordered, last = ordered and addr > last, addr
        rows[addr] = row
        position += len(line)
