"""Manifests on disk -> ``Desired``, with file:line:column in every error.

The steps live in ``reconciler.manifests``: ``parse`` (fast load and model
validation of one file), ``cache`` (an unchanged file is never parsed twice),
``crosscheck`` (identity and references across files), ``positions`` and
``messages`` (where a problem is and how it is said). This module runs them in
order and is the only entry point the rest of the reconciler uses.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ValidationError

from .errors import ManifestError, SourceError
from .manifests.cache import ParseCache, Payloads, serialise_payloads
from .manifests.crosscheck import Parsed, cross_check, locate
from .manifests.messages import validation_problems
from .manifests.parse import PARALLEL_PARSE_BYTES, parse_files, yaml_problem
from .manifests.positions import Locator
from .manifests.yaml import YamlError, load_all
from .resources import Desired

MANIFEST_SUFFIXES = (".yaml", ".yml")


def discover(root: Path) -> list[Path]:
    """Every manifest file under root, in a stable order, skipping hidden folders."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(folder) / f for f in sorted(files) if f.endswith(MANIFEST_SUFFIXES) and not f.startswith("."))
    return found


def display(path: Path) -> str:
    """A path as messages show it: relative to where the user is, when it can be."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def load_manifests(root: Path, cache_dir: Path | None = None) -> Desired:
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
    try:
        paths = discover(root)
    except OSError as error:
        raise ManifestError(message=f"cannot read manifests folder {display(root)}: {error.strerror}") from None
    if not paths:
        raise ManifestError(
            message=f"no manifest files (*.yaml, *.yml) under {display(root)}",
            hint="an empty folder would plan the deletion of everything, so it is refused; check the path",
        )

    cache = ParseCache(cache_dir / "manifests.pickle" if cache_dir is not None else None)
    problems: list[SourceError] = []
    parsed: list[Parsed | None] = []
    misses: list[tuple[int, str, str, str]] = []  # (slot, path, display name, cache key)
    root_text, root_shown = str(root), display(root)
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
            parsed.append(Parsed(file, cached[0], Payloads(blob=cached[1])))
        else:
            misses.append((len(parsed), str(path), file, key))
            miss_bytes += len(content)
            parsed.append(None)

    for slot, file, key, result in parse_files(misses, parallel=miss_bytes >= PARALLEL_PARSE_BYTES):
        if result.problems:
            problems.extend(result.problems)
            continue
        blob = serialise_payloads(result.payloads) if result.blob is None else result.blob
        cache.put(key, result.entries, blob)
        parsed[slot] = Parsed(file, result.entries, Payloads(blob=blob, items=result.payloads or None))

    (resources, routings), cross = cross_check([p for p in parsed if p is not None])
    if cross:
        problems.extend(locate(cross, dict(zip(names, paths))))
    if problems:
        raise ManifestError(problems)
    cache.save()
    return Desired(resources=resources, routings=routings, files=tuple(names))


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
        raise ManifestError([SourceError(file, 1, 1, f"{what} holds {len(documents)} YAML documents; "
                                         "it must be one (remove the '---' lines)")])
    data = documents[0] if documents else None
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as error:
        locator = Locator(text)
        problems = [
            SourceError(file, *locator.position(0, loc, at_key), message)
            for loc, message, at_key in validation_problems(model, error)
        ]
        raise ManifestError(problems) from None
