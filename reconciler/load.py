"""Manifests on disk -> ``Desired``, with file:line:column in every error.

The steps live in ``reconciler.manifests``: ``parse`` (fast load and model
validation of one file), ``cache`` (an unchanged file is never parsed twice),
``crosscheck`` (identity and references across files), ``positions`` and
``messages`` (where a problem is and how it is said). This module runs them in
order and is the only entry point the rest of the reconciler uses.
"""

from __future__ import annotations

import hashlib
import os
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from .errors import ManifestError, SourceError
from .manifests.cache import ParseCache, Payloads, content_key
from .manifests.crosscheck import (
    FileParts,
    LazyResources,
    Pending,
    entries_index,
    full_check,
    locate,
    resource_builders,
    update_check,
)
from .manifests.messages import validation_problems
from .manifests.parse import PARALLEL_PARSE_BYTES, parse_files, parse_path, yaml_problem
from .manifests.positions import Locator
from .manifests.yaml import YamlError, load_all
from .resources import Desired, Since, fingerprint, update_fingerprint

MANIFEST_SUFFIXES = (".yaml", ".yml")


def discover(root: Path, inside: Path | None = None) -> list[str]:
    """Every manifest file under root, in a stable order, skipping hidden files and folders.

    Paths are plain strings (``root`` joined with the rest): at 10,000 files, Path
    objects cost a tenth of a plan that has nothing to parse.

    A folder or file that cannot be read is an error, never a skip: a skipped
    folder of work orders would be planned for deletion. Symbolic links are
    followed only where they stay inside ``inside`` (the repository); one that
    leads out is an error naming it.
    """
    boundary = (inside or root).resolve()
    found: list[str] = []
    visited: set[str] = set()

    def walk(folder: str) -> None:
        real = os.path.realpath(folder)
        if real in visited:
            return  # a link back to a folder already read
        visited.add(real)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as error:
            raise ManifestError(
                message=f"cannot read folder {display(Path(folder))}: {error.strerror}",
                hint="fix its permissions; a folder that cannot be read is never taken as empty",
            ) from None
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_symlink():
                target = Path(os.path.realpath(entry.path))
                if not target.is_relative_to(boundary):
                    raise ManifestError(
                        message=f"{display(Path(entry.path))} is a symbolic link to {target}, outside the repository",
                        hint="manifests are read only from inside the repository; copy the file in, or remove the link",
                    )
                if not target.exists():
                    raise ManifestError(
                        message=f"{display(Path(entry.path))} is a symbolic link to nothing ({target})",
                        hint="fix or remove the link",
                    )
            if entry.is_dir():
                walk(entry.path)
            elif entry.name.endswith(MANIFEST_SUFFIXES):
                found.append(entry.path)

    walk(str(root))
    return found


def display(path: Path) -> str:
    """A path as messages show it: relative to where the user is, when it can be."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def load_manifests(root: Path, cache_dir: Path | None = None, inside: Path | None = None) -> Desired:
    """Load, validate and cross-check every manifest under ``root``.

    Raises ManifestError listing every problem found. A missing, unreadable or
    empty folder is an error, never an empty desired state: an empty desired
    state would plan the deletion of everything.
    """
    if not root.is_dir():
        raise ManifestError(
            message=f"manifests folder {display(root)} does not exist or is not a folder",
            hint="check 'manifests:' in reconciler.yaml; the reconciler never treats a missing folder as 'nothing wanted'",
        )
    paths = discover(root, inside)
    if not paths:
        raise ManifestError(
            message=f"no manifest files (*.yaml, *.yml) under {display(root)}",
            hint="an empty folder would plan the deletion of everything, so it is refused; check the path",
        )

    cache = ParseCache(cache_dir / "manifests.sqlite" if cache_dir is not None else None)
    try:
        return _load(root, paths, cache)
    except BaseException:
        cache.close()
        raise


def _load(root: Path, paths: list[str], cache: ParseCache) -> Desired:
    problems: list[SourceError] = []
    files: list[FileParts] = []
    misses: list[tuple[int, str, str]] = []  # (slot, path, display name)
    stats: dict[str, os.stat_result] = {}
    root_text, root_shown = str(root), display(root)
    names = [os.path.join(root_shown, p[len(root_text) + 1 :]) for p in paths]
    miss_bytes = 0
    for path, file in zip(paths, names, strict=True):
        try:
            info = os.stat(path)
            key = cache.by_stat(file, info)
            # A file the cache has a row for is compared by content (touched is not changed); one it has
            # none for is a miss, read once, by its parse, which also gives its key.
            if key is None and cache.knows(file):
                with open(path, "rb") as fh:
                    key = content_key(file, fh.read())
                if not cache.by_content(file, key, info):
                    key = None
            if key is None:
                stats[file] = info
                misses.append((len(files), path, file))
                miss_bytes += info.st_size
        except OSError as error:
            problems.append(SourceError(file, 1, 1, f"cannot read file: {error.strerror}"))
            continue
        files.append(
            FileParts(
                file,
                key or "",  # a miss: replaced once parsed
                cache.payloads(file, partial(_reparse, path, file, "payloads")),
                load_entries=partial(cache.entries, file, partial(_reparse, path, file, "entries")),
                recent=cache.recent,
            )
        )

    invalid: set[str] = set()
    unparsed = False
    miss_paths = {file: path for _, path, file in misses}
    for slot, file, result in parse_files(misses, parallel=miss_bytes >= PARALLEL_PARSE_BYTES):
        if result.problems:
            problems.extend(result.problems)
            invalid.update(result.invalid)
            unparsed = unparsed or result.unparsed
            continue
        encoded, blob = result.serialised()
        # Once in the cache, a file's payloads are read from there again if let go; else its bytes are kept.
        key = result.key
        stored = cache.put(file, key, stats[file], encoded, blob)
        items = result.payloads or None
        path = miss_paths[file]
        payloads = (
            cache.payloads(file, partial(_reparse, path, file, "payloads"), items)
            if stored
            else Payloads(blob, items, recent=cache.recent)
        )
        files[slot] = FileParts(
            file,
            key,
            payloads,
            entries=result.entries if result.entries_blob is None else None,  # else decoded when first used
            load_entries=partial(cache.entries, file, partial(_reparse, path, file, "entries")),
            recent=cache.recent,
        )
    if problems:
        # What parsed is still checked across files, so a run reports all its problems at once;
        # references to items that are there but broken are not reported a second time.
        broken = {p.file for p in problems}
        files = [parts for parts in files if parts.name not in broken]
        index, routings, cross = full_check(files, assume=frozenset(invalid), references=not unparsed)
        meta: dict[str, Any] = {}
    else:
        index, routings, cross, meta = _assemble(files, cache)
    if cross:
        problems.extend(locate(cross, {name: Path(path) for name, path in zip(names, paths, strict=True)}))
    if problems:
        raise ManifestError(problems)
    cache.save()
    by_name = {parts.name: parts for parts in files}
    rows = _Rows(index)
    resource, routing = resource_builders(rows, routings, by_name)
    return Desired(
        index=lambda: entries_index(rows()),
        resources=LazyResources(rows, resource),
        routings=LazyResources(routings, routing),
        files=tuple(names),
        rows=rows,
        fingerprint=meta.get("fingerprint"),
        size=meta.get("count"),
        unreadable=meta.get("unreadable"),
        since=_since(meta),
    )


class _Rows(dict):
    """The cross-file index, decoded from the cache only when a plan looks past its fingerprint."""

    def __init__(self, source: Any) -> None:
        super().__init__()
        self._source = source

    def __call__(self) -> dict[str, Any]:
        if self._source is not None:
            source, self._source = self._source, None
            self.update(source() if callable(source) else source)
        return self

    def __getitem__(self, addr: str) -> Any:
        return dict.__getitem__(self(), addr)

    def __contains__(self, addr: object) -> bool:
        return dict.__contains__(self(), addr)

    def __iter__(self) -> Any:
        return dict.__iter__(self())

    def __len__(self) -> int:
        return dict.__len__(self())


def _assemble(files: list[FileParts], cache: ParseCache) -> tuple[Any, dict[str, Any], list[Pending], dict[str, Any]]:
    """The cross-file index: cached when no file changed, updated when only work orders did, else checked whole.

    Returns (index or a callable decoding it, routings, problems, meta); meta sums the index up
    (fingerprint, count, unreadable) so that a plan that changes nothing never decodes it.
    """
    key = hashlib.blake2b("\0".join(f"{p.name}\0{p.key}" for p in files).encode(), digest_size=20).hexdigest()
    meta = _cached(cache.desired_meta(key), "routings", "fingerprint", "count")
    if meta is not None:

        def decode() -> dict[str, Any]:
            found = _cached(cache.desired(key), "index")
            # Missing or damaged: checked again from the files' entries, never taken as "nothing wanted".
            return found["index"] if found is not None else full_check(files)[0]

        return decode, meta["routings"], [], meta
    previous = _cached(cache.last_desired(), "files", "index", "routings")
    outcome = update_check(previous, files) if previous is not None else None
    if outcome is not None:
        index, routings, pending, (went, came) = outcome
    else:
        index, routings, pending = full_check(files)
    if pending:
        return index, routings, pending, {}
    bases: dict[str, list[str]] = {}
    if outcome is not None and previous is not None and isinstance(previous.get("fingerprint"), str):
        # Updated from the changed files: so is the fingerprint, from their rows as they were and are.
        value = update_fingerprint(previous["fingerprint"], went, came)
        bases = _bases(previous, {addr for addr, _, _ in (*went, *came)})
    else:
        value = fingerprint((addr, row[2], row[3]) for addr, row in index.items())
    meta = {
        "fingerprint": value,
        "count": len(index),
        "unreadable": sum(1 for row in index.values() if row[0] in _UNREADABLE),
        "routings": routings,
        "bases": bases,
    }
    cache.put_desired(
        key,
        orjson.dumps(
            {
                "files": {p.name: p.key for p in files},
                "index": index,
                "routings": routings,
                "fingerprint": value,
                "bases": bases,
            }
        ),
        orjson.dumps(meta),
    )
    return index, routings, pending, meta


# Earlier versions of the manifests a plan can start from (see Since): how many, and how many changed
# addresses each may have before looking at everything is as cheap.
_BASES = 8
_BASE_CHANGES = 2_000


def _bases(previous: dict[str, Any], moved: set[str]) -> dict[str, list[str]]:
    """The earlier versions of the index and what changed since each, once ``moved`` changed since ``previous``."""
    found = previous.get("bases")
    bases: dict[str, list[str]] = {}
    for base, changed in (found if isinstance(found, dict) else {}).items():
        if isinstance(changed, list) and len(grown := moved.union(changed)) <= _BASE_CHANGES:
            bases[base] = sorted(grown)
    if len(moved) <= _BASE_CHANGES:
        bases.pop(previous["fingerprint"], None)
        bases[previous["fingerprint"]] = sorted(moved)
    return dict(list(bases.items())[-_BASES:])


def _since(meta: dict[str, Any]) -> Since | None:
    found = meta.get("bases")
    if not isinstance(found, dict) or not found:
        return None
    return {base: frozenset(changed) for base, changed in found.items() if isinstance(changed, list)}


_UNREADABLE = ("Client", "Product")


def _reparse(path: str, file: str, what: str) -> Any:
    """A file's entries or payloads from the file itself, for those the cache held damaged."""
    result = parse_path(path, file)
    if result.problems:  # it changed since it was checked
        raise ManifestError(result.problems)
    return getattr(result, what)


def _cached(raw: bytes | None, *needed: str) -> dict[str, Any] | None:
    """A cached mapping that holds the keys ``needed``; None when there is none, or what is there is not one."""
    if raw is None:
        return None
    try:
        value = orjson.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) and all(k in value for k in needed) else None


def load_yaml_model(path: Path, model: type[BaseModel], what: str) -> BaseModel:
    """One YAML file validated as one model, with the same file:line:column errors as manifests."""
    file = display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(message=f"{what} {file} not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(message=f"cannot read {what} {file}: {error}") from None
    try:
        documents = load_all(text)
    except YamlError as error:
        raise ManifestError([SourceError(file, error.line, error.column, yaml_problem(error))]) from None
    if len(documents) > 1:
        raise ManifestError(
            [
                SourceError(
                    file, 1, 1, f"{what} holds {len(documents)} YAML documents; it must be one (remove the '---' lines)"
                )
            ]
        )
    data = documents[0] if documents else None
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as error:
        found = validation_problems(model, error)
        places = Locator(text).positions([(0, loc, at_key) for loc, _, at_key in found])
        problems = [
            SourceError(file, line, column, message)
            for (_, message, _), (line, column) in zip(found, places, strict=True)
        ]
        raise ManifestError(problems) from None
