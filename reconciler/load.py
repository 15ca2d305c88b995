"""Manifests on disk -> validated resources, with file:line:column in every error.

The fast path parses each file with ruamel.yaml's C-based safe loader, which
keeps no positions. Positions are needed only when something is wrong, so the
offending file alone is then composed again in round-trip mode to pin each
problem to its line and column. Files that validated cleanly are cached under
``.reconciler/cache/`` keyed by their content hash: an unchanged file is never
parsed twice.
"""

from __future__ import annotations

import difflib
import functools
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from functools import partial
import hashlib
import os
import pickle
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.constructor import RoundTripConstructor, SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from .errors import ManifestError, SourceError
from .resources import (
    DOCUMENT_KINDS,
    MODELS,
    DesiredResource,
    Kind,
    Source,
    WorkOrder,
    combine_digests,
    digest,
)

# Bump when the cached representation changes. The source of the modules that
# define validation is hashed into every key as well (see _code_fingerprint),
# so a changed rule can never be served from an old entry.
CACHE_VERSION = "1"
MANIFEST_SUFFIXES = (".yaml", ".yml")


class _SafeConstructor(SafeConstructor):
    """Keeps timestamps as text so a bad date is a validation error with a position."""


_SafeConstructor.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)


class _RoundTripConstructor(RoundTripConstructor):
    pass


_RoundTripConstructor.add_constructor(
    "tag:yaml.org,2002:timestamp", RoundTripConstructor.construct_yaml_str
)


@functools.cache
def safe_yaml() -> YAML:
    """The C-based safe loader, built once: building one costs more than parsing a small file."""
    yaml = YAML(typ="safe", pure=False)
    yaml.Constructor = _SafeConstructor
    return yaml


def round_trip_yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Constructor = _RoundTripConstructor
    return yaml


@dataclass(frozen=True)
class Desired:
    """Everything the manifests ask for, validated and with references resolved."""

    resources: dict[str, DesiredResource]
    routings: dict[str, DesiredResource]
    files: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.resources)


# What the parse cache keeps per resource: plain tuples, which unpickle fast.
# (kind, id, digest, archived, parent, references, document, path)
_Entry = tuple[str, str, str, bool, str | None, tuple, int, tuple]


@dataclass
class _FileResult:
    entries: list[_Entry] = field(default_factory=list)
    payloads: list[dict[str, Any]] = field(default_factory=list)
    problems: list[SourceError] = field(default_factory=list)
    # Problems found without a position yet: (document index, path, message, point at key?)
    pending: list[tuple[int, tuple[str | int, ...], str, bool]] = field(default_factory=list)
    # Set by parse workers, which pickle the payloads themselves (the cache needs them so).
    blob: bytes | None = None

    def add(self, kind: Kind, erp_id: str, payload: dict[str, Any], archived: bool, parent: str | None,
            references: tuple, source: Source) -> None:
        self.entries.append(
            (kind.value, erp_id, digest(payload), archived, parent, references, source.document, source.path)
        )
        self.payloads.append(payload)


# --------------------------------------------------------------------------- positions


def _node_at(node: Node, path: Iterable[str | int]) -> tuple[Node, bool]:
    """Walk a composed node along a path; returns the deepest node reached and whether it was reached fully."""
    for step in path:
        if isinstance(node, MappingNode) and isinstance(step, str):
            for key, value in node.value:
                if key.value == step:
                    node = value
                    break
            else:
                return node, False
        elif isinstance(node, SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            node = node.value[step]
        else:
            return node, False
    return node, True


def _key_node(node: Node, path: tuple[str | int, ...]) -> Node | None:
    parent, complete = _node_at(node, path[:-1])
    if complete and isinstance(parent, MappingNode):
        for key, _ in parent.value:
            if key.value == path[-1]:
                return key
    return None


class Locator:
    """Turns (document, path) into line and column by composing one file in round-trip mode."""

    def __init__(self, text: str) -> None:
        try:
            self._documents = list(round_trip_yaml().compose_all(text))
        except YAMLError:
            self._documents = []

    def position(self, document: int, path: tuple[str | int, ...], at_key: bool = False) -> tuple[int, int]:
        if document >= len(self._documents) or self._documents[document] is None:
            return 1, 1
        root = self._documents[document]
        node: Node | None = _key_node(root, path) if at_key and path else None
        if node is None:
            node, _ = _node_at(root, path)
        return node.start_mark.line + 1, node.start_mark.column + 1


# --------------------------------------------------------------------------- messages

_KIND_NOUNS = {
    Kind.CLIENT: "client",
    Kind.PRODUCT: "product",
    Kind.ROUTING: "routing",
    Kind.WORK_ORDER: "work order",
    Kind.WORK_ORDER_LINE: "work order line",
}


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as ``tuple[Step, ...] | str | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _model_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel]:
    for step in loc:
        if isinstance(step, str) and step in model.model_fields:
            inner = _model_in(model.model_fields[step].annotation)
            if inner is None:
                return model
            model = inner
    return model


def _describe(model: type[BaseModel]) -> str:
    names = {
        "Client": "client",
        "Product": "product",
        "Routing": "routing",
        "WorkOrder": "work order",
        "WorkOrderLine": "work order line",
        "RoutingStep": "routing step",
        "BomItem": "BOM item",
        "FileRef": "file",
    }
    return names.get(model.__name__, model.__name__)


def _suggest(word: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for step in loc:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_UNION_TAGS = {"name", "steps"}


def _strip_tags(loc: Iterable[str | int]) -> list[str | int]:
    # Discriminated unions add their tag to the error path; a person never wrote it.
    out: list[str | int] = []
    for step in loc:
        if out and out[-1] == "routing" and step in _UNION_TAGS:
            continue
        out.append(step)
    return out


def validation_problems(
    model: type[BaseModel], error: ValidationError
) -> list[tuple[tuple[str | int, ...], str, bool]]:
    """pydantic errors -> (path, message, point at the key?) in words a person writes YAML in."""
    out = []
    errors = error.errors(include_url=False)
    locs = [tuple(e["loc"]) for e in errors]
    for item in errors:
        loc = tuple(_strip_tags(item["loc"]))
        kind = item["type"]
        if kind == "too_short" and any(len(o) > len(loc) and o[: len(loc)] == tuple(item["loc"]) for o in locs):
            continue  # pydantic's echo of a list whose items failed: the item errors say it
        where = _describe(_model_at(model, loc[:-1]))
        name = loc[-1] if loc else None
        if kind == "extra_forbidden":
            fields = _model_at(model, loc[:-1]).model_fields
            message = f"unknown field {name!r} in {where}{_suggest(str(name), fields)}"
            out.append((loc, message, True))
        elif kind == "missing":
            out.append((loc[:-1], f"missing required field {name!r} in {where}", False))
        elif kind in ("value_error", "assertion_error"):
            out.append((loc, str(item["ctx"].get("error", item["msg"])), False))
        else:
            message = item["msg"]
            if kind.startswith("date"):
                message = "is not a valid date; write it as YYYY-MM-DD"
            label = _dotted(loc) or where
            out.append((loc, f"{label}: {message[0].lower()}{message[1:]} (got {_short(item['input'])})", False))
    return out


# --------------------------------------------------------------------------- per file


def _validate_document(
    result: _FileResult, file: str, index: int, doc: Any
) -> None:
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
        hint = _suggest(str(kind_name), [k.value for k in DOCUMENT_KINDS])
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
        entries = [(("items", i), item) for i, item in enumerate(items)]
    else:
        entries = [((), doc)]

    model = MODELS[kind]
    for prefix, data in entries:
        if not isinstance(data, dict):
            result.pending.append((index, prefix, f"each item must be a mapping describing one {_KIND_NOUNS[kind]}", False))
            continue
        if prefix:
            if data.get("kind", kind.value) != kind.value:
                result.pending.append(
                    (index, prefix + ("kind",), f"item of kind {data['kind']!r} inside a {kind.value} list", False)
                )
                continue
            data = {**data, "kind": kind.value}
        try:
            resource = model.model_validate(data)
        except ValidationError as error:
            for loc, message, at_key in validation_problems(model, error):
                result.pending.append((index, prefix + loc, message, at_key))
            continue
        _collect(result, kind, resource, Source(file, index, prefix))


def _collect(result: _FileResult, kind: Kind, resource: Any, source: Source) -> None:
    if kind is Kind.WORK_ORDER:
        wo: WorkOrder = resource
        result.add(kind, wo.id, wo.payload(), False, None,
                   ((Kind.CLIENT.value, wo.client, source.path + ("client",)),), source)
        for i, line in enumerate(wo.lines):
            path = source.path + ("lines", i)
            refs: list[tuple[str, str, tuple[str | int, ...]]] = [
                (Kind.PRODUCT.value, line.product, path + ("product",))
            ]
            if isinstance(line.routing, str):
                refs.append((Kind.ROUTING.value, line.routing, path + ("routing",)))
            result.add(Kind.WORK_ORDER_LINE, line.id, line.payload(wo.id), line.archived, wo.id, tuple(refs),
                       Source(source.file, source.document, path))
        return
    result.add(kind, resource.id, resource.payload(), False, None, (), source)


def _parse_file(file: str, text: str) -> _FileResult:
    result = _FileResult()
    try:
        documents = list(safe_yaml().load_all(text))
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = error.problem or "invalid YAML"
        context = f" ({error.context})" if error.context else ""
        result.problems.append(SourceError(file, line, column, f"YAML syntax error: {problem}{context}"))
        return result
    except YAMLError as error:  # reader errors: control characters, bad encodings
        result.problems.append(SourceError(file, 1, 1, f"YAML syntax error: {str(error).splitlines()[0]}"))
        return result
    except RecursionError:
        result.problems.append(SourceError(file, 1, 1, "YAML nesting is too deep to be a manifest"))
        return result
    for index, doc in enumerate(documents):
        if doc is None:
            continue
        _validate_document(result, file, index, doc)
    if result.pending:
        locator = Locator(text)
        for index, path, message, at_key in result.pending:
            line, column = locator.position(index, path, at_key)
            result.problems.append(SourceError(file, line, column, message))
        result.pending.clear()
    return result


# --------------------------------------------------------------------------- the loader


@functools.cache
def _code_fingerprint() -> str:
    from . import resources

    h = hashlib.blake2b(digest_size=16)
    for module_file in (__file__, resources.__file__):
        h.update(Path(module_file).read_bytes())
    return h.hexdigest()


class _Payloads:
    """The payloads of one file, decoded from the cache only if one of them is asked for."""

    __slots__ = ("_blob", "_items")

    def __init__(self, blob: bytes | None = None, items: list[dict[str, Any]] | None = None) -> None:
        self._blob = blob
        self._items = items

    def get(self, index: int) -> dict[str, Any]:
        if self._items is None:
            self._items = pickle.loads(self._blob)  # type: ignore[arg-type]
        return self._items[index]


class _ParseCache:
    """Validated per-file results in one file, keyed by (code version, file name, content hash).

    One file rather than one per manifest: a 100,000-line repository has ten
    thousand manifests, and opening as many cache files costs more than reading
    one. Entries of file versions not seen in a run are dropped when it is saved.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._entries: dict[str, tuple[list[_Entry], bytes]] | None = None
        self._used: set[str] = set()
        self._dirty = False

    @staticmethod
    def key(file: str, content: bytes) -> str:
        h = hashlib.blake2b(digest_size=20)
        h.update(f"{CACHE_VERSION}\0{_code_fingerprint()}\0{file}\0".encode())
        h.update(content)
        return h.hexdigest()

    def _load(self) -> dict[str, tuple[list[_Entry], bytes]]:
        if self._entries is None:
            self._entries = {}
            if self.path is not None:
                try:
                    with open(self.path, "rb") as fh:
                        loaded = pickle.load(fh)
                    if isinstance(loaded, dict):
                        self._entries = loaded
                except FileNotFoundError:
                    pass
                except Exception:  # a torn or foreign cache is only a miss
                    self._dirty = True
        return self._entries

    def get(self, key: str) -> tuple[list[_Entry], bytes] | None:
        self._used.add(key)
        return self._load().get(key)

    def put(self, key: str, entries: list[_Entry], blob: bytes) -> None:
        self._load()[key] = (entries, blob)
        self._dirty = True

    def save(self) -> None:
        if self.path is None:
            return
        entries = self._load()
        stale = set(entries) - self._used
        if not self._dirty and not stale:
            return
        for key in stale:
            del entries[key]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                pickle.dump(entries, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.path)
        except OSError:
            pass  # a cache that cannot be written only costs speed


def discover(root: Path) -> list[Path]:
    """Every manifest file under root, in a stable order, skipping hidden folders."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(folder) / f for f in sorted(files) if f.endswith(MANIFEST_SUFFIXES) and not f.startswith("."))
    return found


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def _line_of_offset(content: bytes, offset: int) -> tuple[int, int]:
    before = content[:offset]
    line = before.count(b"\n") + 1
    return line, offset - (before.rfind(b"\n") + 1) + 1


_KINDS = {kind.value: kind for kind in Kind}


class _Parsed(NamedTuple):
    """One file's validated entries, and where their payloads come from."""

    file: str
    entries: list[_Entry]
    payloads: _Payloads


# Below this much uncached YAML, starting worker processes costs more than it saves.
PARALLEL_PARSE_BYTES = 2_000_000


def _parse_path(path: str, file: str) -> _FileResult:
    content = Path(path).read_bytes()
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        line, column = _line_of_offset(content, error.start)
        return _FileResult(problems=[SourceError(file, line, column, "file is not valid UTF-8; save it as UTF-8")])
    return _parse_file(file, text)


def _parse_batch(batch: list[tuple[str, str]]) -> list[_FileResult]:
    """Worker side: parse files and pickle their payloads, which is what the parent keeps."""
    results = []
    for path, file in batch:
        result = _parse_path(path, file)
        if not result.problems:
            result.blob = pickle.dumps(result.payloads, protocol=pickle.HIGHEST_PROTOCOL)
            result.payloads = []
        results.append(result)
    return results


def _parse_files(
    misses: list[tuple[int, str, str, str]], parallel: bool
) -> Iterator[tuple[int, str, str, _FileResult]]:
    """Parse the files the cache did not have; on a cold run of a big repository, on every core.

    The C parser holds the GIL, so threads would not help; worker processes are
    forked (cheap, and they inherit the loaded modules), and only when this
    process runs no other thread, which is what makes forking safe.
    """
    workers = min(os.cpu_count() or 1, 8)
    can_fork = "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
    if not (parallel and workers > 1 and can_fork and len(misses) > 1):
        for slot, path, file, key in misses:
            yield slot, file, key, _parse_path(path, file)
        return
    size = max(1, len(misses) // (workers * 8))
    batches = [misses[i:i + size] for i in range(0, len(misses), size)]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for batch, results in zip(batches, pool.map(_parse_batch, [[(p, f) for _, p, f, _ in b] for b in batches])):
            for (slot, _, file, key), result in zip(batch, results):
                yield slot, file, key, result


def load_manifests(root: Path, cache_dir: Path | None = None) -> Desired:
    """Load, validate and cross-check every manifest under ``root``.

    Raises ManifestError listing every problem found. A missing, unreadable or
    empty folder is an error, never an empty desired state: an empty desired
    state would plan the deletion of everything.
    """
    if not root.is_dir():
        raise ManifestError(
            message=f"manifests folder {_display(root)} does not exist or is not a folder",
            hint="check 'manifests:' in reconciler.yaml; the reconciler never treats a missing folder as 'nothing wanted'",
        )
    try:
        paths = discover(root)
    except OSError as error:
        raise ManifestError(message=f"cannot read manifests folder {_display(root)}: {error.strerror}") from None
    if not paths:
        raise ManifestError(
            message=f"no manifest files (*.yaml, *.yml) under {_display(root)}",
            hint="an empty folder would plan the deletion of everything, so it is refused; check the path",
        )

    cache = _ParseCache(cache_dir / "manifests.pickle" if cache_dir is not None else None)
    problems: list[SourceError] = []
    parsed: list[_Parsed | None] = []
    misses: list[tuple[int, str, str, str]] = []  # (slot, path, display name, cache key)
    root_text, root_shown = str(root), _display(root)
    names = [os.path.join(root_shown, str(p)[len(root_text) + 1:]) for p in paths]
    miss_bytes = 0
    for path, file in zip(paths, names):
        try:
            content = path.read_bytes()
        except OSError as error:
            problems.append(SourceError(file, 1, 1, f"cannot read file: {error.strerror}"))
            continue
        key = cache.key(file, content)
        cached = cache.get(key)
        if cached is not None:
            parsed.append(_Parsed(file, cached[0], _Payloads(blob=cached[1])))
        else:
            misses.append((len(parsed), str(path), file, key))
            miss_bytes += len(content)
            parsed.append(None)

    for slot, file, key, result in _parse_files(misses, parallel=miss_bytes >= PARALLEL_PARSE_BYTES):
        if result.problems:
            problems.extend(result.problems)
            continue
        blob = pickle.dumps(result.payloads, protocol=pickle.HIGHEST_PROTOCOL) if result.blob is None else result.blob
        cache.put(key, result.entries, blob)
        parsed[slot] = _Parsed(file, result.entries, _Payloads(blob=blob, items=result.payloads or None))
    parsed_ok = [p for p in parsed if p is not None]

    (resources, routings), cross = _cross_check(parsed_ok)
    if cross:
        problems.extend(_locate(cross, dict(zip(names, paths))))
    if problems:
        raise ManifestError(problems)
    cache.save()
    return Desired(resources=resources, routings=routings, files=tuple(names))


_Pending = tuple[Source, str, bool]


def _with_routing(base: Callable[[], dict[str, Any]], routing: Callable[[], dict[str, Any]], name: str) -> dict[str, Any]:
    return {**base(), "routing": {"name": name, "steps": routing()["steps"]}}


def _cross_check(
    parsed: list[_Parsed],
) -> tuple[tuple[dict[str, DesiredResource], dict[str, DesiredResource]], list[_Pending]]:
    """Identity and references across files: duplicates, dangling names, named routings.

    Works on the plain cache entries and builds each DesiredResource once, with
    its final digest: a line that uses a named routing is digested together with
    that routing, so editing the routing changes (and is planned on) every line
    that uses it.
    """
    pending: list[_Pending] = []
    first_seen: dict[str, tuple[str, _Entry, _Payloads, int]] = {}
    for file, entries, payloads in parsed:
        for index, entry in enumerate(entries):
            addr = f"{entry[0]}/{entry[1]}"
            if addr in first_seen:
                noun = _KIND_NOUNS[_KINDS[entry[0]]]
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

    def build(file: str, entry: _Entry, payloads: _Payloads, index: int, dig: str,
              load: Callable[[], dict[str, Any]]) -> DesiredResource:
        kind, erp_id, _, archived, parent, refs, document, path = entry
        return DesiredResource(_KINDS[kind], erp_id, dig, archived, parent, refs, file, document, path, load)

    routing_kind = Kind.ROUTING.value
    routings: dict[str, DesiredResource] = {}
    for file, entry, payloads, index in first_seen.values():
        if entry[0] == routing_kind:
            routings[entry[1]] = build(file, entry, payloads, index, entry[2], partial(payloads.get, index))

    ids_by_kind: dict[str, set[str]] | None = None
    resources: dict[str, DesiredResource] = {}
    for addr, (file, entry, payloads, index) in first_seen.items():
        if entry[0] == routing_kind:
            continue
        dig, load = entry[2], partial(payloads.get, index)
        for ref_kind, ref_id, ref_path in entry[5]:
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
                        f"{_KIND_NOUNS[_KINDS[entry[0]]]} {entry[1]!r} refers to {_KIND_NOUNS[kind]} {ref_id!r}, "
                        f"which no manifest declares{_suggest(ref_id, ids_by_kind.get(ref_kind, ()))}",
                        False,
                    )
                )
        resources[addr] = build(file, entry, payloads, index, dig, load)
    return (resources, routings), pending


def _locate(pending: list[_Pending], paths: dict[str, Path]) -> list[SourceError]:
    out = []
    locators: dict[str, Locator] = {}
    for source, message, at_key in pending:
        if source.file not in locators:
            # Only files with a problem are read again, in round-trip mode.
            locators[source.file] = Locator(paths[source.file].read_text(encoding="utf-8"))
        line, column = locators[source.file].position(source.document, source.path, at_key)
        out.append(SourceError(source.file, line, column, message))
    return out


def load_yaml_model(path: Path, model: type[BaseModel], what: str) -> BaseModel:
    """One YAML file validated as one model, with the same file:line:column errors as manifests."""
    file = _display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(message=f"{what} {file} not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(message=f"cannot read {what} {file}: {error}") from None
    result = _FileResult()
    try:
        data = safe_yaml().load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise ManifestError([SourceError(file, line, column, f"YAML syntax error: {error.problem}")]) from None
    except YAMLError as error:
        raise ManifestError([SourceError(file, 1, 1, f"YAML syntax error: {str(error).splitlines()[0]}")]) from None
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as error:
        locator = Locator(text)
        for loc, message, at_key in validation_problems(model, error):
            line, column = locator.position(0, loc, at_key)
            result.problems.append(SourceError(file, line, column, message))
        raise ManifestError(result.problems) from None
