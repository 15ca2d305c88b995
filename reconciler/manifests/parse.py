"""One manifest file -> validated cache entries and payloads, or its problems with positions.

Parsing is the hot path of a cold plan: files are parsed with the fast loader,
validated against the resource models, and turned into plain tuples that the
parse cache keeps. Problems found here get their line and column from a second,
round-trip parse of the one file that has them. A cold plan of a big
repository parses uncached files on every core (``parse_files``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from pydantic import ValidationError

from ..errors import SourceError
from ..resources import DOCUMENT_KINDS, MODELS, Kind, WorkOrder, digest
from ..words import did_you_mean
from .cache import content_key
from .messages import KIND_NOUNS, validation_problems
from .positions import Locator
from .yaml import YamlError, load_all


def yaml_problem(error: YamlError) -> str:
    """A YAML error as manifests report it: a syntax error, or a limit with what to do."""
    if error.limit is not None:
        return error.problem
    context = f" ({error.context})" if error.context else ""
    return f"YAML syntax error: {error.problem}{context}"


class Source(NamedTuple):
    """Where a resource was declared: file, document index and path inside the document."""

    file: str
    document: int
    path: tuple[str | int, ...]


# What the parse cache keeps per resource: plain tuples, which load fast.
# (kind, id, digest, archived, parent, references, document, path)
Entry = tuple[str, str, str, bool, str | None, tuple, int, tuple]


@dataclass
class FileResult:
    entries: list[Entry] = field(default_factory=list)
    payloads: list[dict[str, Any]] = field(default_factory=list)
    problems: list[SourceError] = field(default_factory=list)
    # Problems found without a position yet: (document index, path, message, point at key?)
    pending: list[tuple[int, tuple[str | int, ...], str, bool]] = field(default_factory=list)
    # Set by parse workers, which serialise entries and payloads themselves: the cache needs them so,
    # and bytes cross from a worker for less than the objects would.
    blob: bytes | None = None
    entries_blob: bytes | None = None
    # Addresses of items that failed validation but say who they are, and whether the file parsed at
    # all: other files' references to them are not reported as well (one broken item, one error).
    invalid: list[str] = field(default_factory=list)
    unparsed: bool = False
    key: str = ""  # the parse cache's key of the content parsed (see content_key)

    def serialised(self) -> tuple[bytes, bytes]:
        """(entries, payloads) as the parse cache keeps them: serialised here, unless a parse worker did."""
        if self.entries_blob is not None and self.blob is not None:
            return self.entries_blob, self.blob
        return orjson.dumps(self.entries), orjson.dumps(self.payloads)

    def add(
        self,
        kind: Kind,
        erp_id: str,
        payload: dict[str, Any],
        archived: bool,
        parent: str | None,
        references: tuple,
        source: Source,
    ) -> None:
        self.entries.append(
            (kind.value, erp_id, digest(payload), archived, parent, references, source.document, source.path)
        )
        self.payloads.append(payload)


def _validate_document(result: FileResult, file: str, index: int, doc: Any) -> None:
    if not isinstance(doc, dict):
        result.pending.append((index, (), "a manifest document must be a mapping with a 'kind:' field", False))
        return
    kind_name = doc.get("kind")
    if kind_name is None:
        kinds = ", ".join(k.value for k in DOCUMENT_KINDS)
        result.pending.append((index, (), f"document has no 'kind:'; expected one of {kinds}", False))
        return
    try:
        kind = Kind(kind_name)
        if kind not in DOCUMENT_KINDS:
            raise ValueError
    except (ValueError, TypeError):
        hint = did_you_mean(str(kind_name), [k.value for k in DOCUMENT_KINDS])
        if kind_name == Kind.WORK_ORDER_LINE.value:
            hint = "; lines are written under the 'lines:' of their WorkOrder"
        result.pending.append((index, ("kind",), f"unknown kind {kind_name!r}{hint}", False))
        return

    if "items" in doc:
        extra = sorted(set(doc) - {"kind", "items"})
        if extra:
            result.pending.append(
                (index, (extra[0],), f"a document with 'items:' holds only 'kind' and 'items', not {extra[0]!r}", True)
            )
            return
        items = doc["items"]
        if not isinstance(items, list):
            result.pending.append((index, ("items",), "'items' must be a list of resources", False))
            return
        entries: list[tuple[tuple[str | int, ...], Any]] = [(("items", i), item) for i, item in enumerate(items)]
    else:
        entries = [((), doc)]

    model = MODELS[kind]
    for prefix, data in entries:
        if not isinstance(data, dict):
            result.pending.append(
                (index, prefix, f"each item must be a mapping describing one {KIND_NOUNS[kind]}", False)
            )
            continue
        if prefix:
            if data.get("kind", kind.value) != kind.value:
                result.pending.append(
                    (index, (*prefix, "kind"), f"item of kind {data['kind']!r} inside a {kind.value} list", False)
                )
                continue
            data = {**data, "kind": kind.value}
        try:
            resource = model.model_validate(data)
        except ValidationError as error:
            for loc, message, at_key in validation_problems(model, error):
                result.pending.append((index, prefix + loc, message, at_key))
            if isinstance(data.get("id"), (str, int)) and not isinstance(data.get("id"), bool):
                result.invalid.append(f"{kind.value}/{data['id']}")
            continue
        _collect(result, kind, resource, Source(file, index, prefix))


def _collect(result: FileResult, kind: Kind, resource: Any, source: Source) -> None:
    if kind is Kind.WORK_ORDER:
        wo: WorkOrder = resource
        result.add(
            kind, wo.id, wo.payload(), False, None, ((Kind.CLIENT.value, wo.client, (*source.path, "client")),), source
        )
        for i, line in enumerate(wo.lines):
            path = (*source.path, "lines", i)
            refs: list[tuple[str, str, tuple[str | int, ...]]] = [
                (Kind.PRODUCT.value, line.product, (*path, "product"))
            ]
            if isinstance(line.routing, str):
                refs.append((Kind.ROUTING.value, line.routing, (*path, "routing")))
            result.add(
                Kind.WORK_ORDER_LINE,
                line.id,
                line.payload(wo.id),
                line.archived,
                wo.id,
                tuple(refs),
                Source(source.file, source.document, path),
            )
        return
    result.add(kind, resource.id, resource.payload(), False, None, (), source)


def parse_text(file: str, text: str) -> FileResult:
    """Parse and validate one file's text; problems carry file:line:col."""
    result = FileResult()
    try:
        documents = load_all(text)
    except YamlError as error:
        result.problems.append(SourceError(file, error.line, error.column, yaml_problem(error)))
        result.unparsed = True
        return result
    for index, doc in enumerate(documents):
        if doc is None:
            continue
        _validate_document(result, file, index, doc)
    if result.pending:
        places = Locator(text).positions([(index, path, at_key) for index, path, _, at_key in result.pending])
        for (_, _, message, _), (line, column) in zip(result.pending, places, strict=True):
            result.problems.append(SourceError(file, line, column, message))
        result.pending.clear()
    return result


def _line_of_offset(content: bytes, offset: int) -> tuple[int, int]:
    """Line and column (in characters, as editors count them) of a byte offset."""
    before = content[:offset]
    line = before.count(b"\n") + 1
    start = before.rfind(b"\n") + 1
    return line, len(content[start:offset].decode("utf-8", errors="replace")) + 1


def parse_path(path: str, file: str) -> FileResult:
    """Read and parse one file; an encoding problem is a problem of the file, with its position."""
    content = Path(path).read_bytes()
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        line, column = _line_of_offset(content, error.start)
        return FileResult(
            problems=[SourceError(file, line, column, "file is not valid UTF-8; save it as UTF-8")], unparsed=True
        )
    result = parse_text(file, text)
    result.key = content_key(file, content)
    return result


def _parse_batch(batch: list[tuple[str, str]]) -> list[FileResult]:
    """Worker side: parse files and serialise their payloads, which is what the parent keeps."""
    results = []
    for path, file in batch:
        result = parse_path(path, file)
        if not result.problems:
            result.entries_blob, result.blob = result.serialised()
            result.payloads, result.entries = [], []
        results.append(result)
    return results


# Below this much uncached YAML, starting worker processes costs more than it saves.
PARALLEL_PARSE_BYTES = 2_000_000


def parse_files(misses: list[tuple[int, str, str]], parallel: bool) -> Iterator[tuple[int, str, FileResult]]:
    """Parse the files the cache did not have; on a cold run of a big repository, on every core.

    The C parser holds the GIL, so threads would not help; worker processes are
    forked (cheap, and they inherit the loaded modules), and only when this
    process runs no other thread, which is what makes forking safe.
    """
    import multiprocessing  # here: a plan that parses nothing, or little, starts no process
    from concurrent.futures import ProcessPoolExecutor

    workers = min(os.cpu_count() or 1, 8)
    can_fork = "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
    if not (parallel and workers > 1 and can_fork and len(misses) > 1):
        for slot, path, file in misses:
            yield slot, file, parse_path(path, file)
        return
    size = max(1, len(misses) // (workers * 8))
    batches = [misses[i : i + size] for i in range(0, len(misses), size)]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for batch, results in zip(
            batches, pool.map(_parse_batch, [[(p, f) for _, p, f in b] for b in batches]), strict=True
        ):
            for (slot, _, file), result in zip(batch, results, strict=True):
                yield slot, file, result
