"""Generators of broken input, shared by the fuzz tests and bench/fuzz.py (which runs them for long).

Mutations are structure-aware: valid manifests are read as data, a few values
anywhere in them are replaced by hostile ones (huge and negative numbers,
booleans where numbers go, dates as numbers, ids with spaces or invisible
characters, deep nesting, unknown keys, duplicated ids, dangling names), and
written back as YAML; some also get byte-level damage. Everything is driven by
one random.Random, so a failure is replayed by its seed.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import unicodedata
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from reconciler.errors import ManifestError
from reconciler.load import load_manifests
from reconciler.manifests.yaml import load_all

HOSTILE = [
    None,
    True,
    False,
    0,
    -1,
    -5,
    2**63,
    2**64 + 1,
    10**80,
    1.5,
    -0.0,
    1e308,
    float("nan"),
    "",
    " ",
    "  x  ",
    "a b",
    "a\u200bb",
    "\u200b",
    "line\nbreak",
    "tab\tx",
    "\x07bell",
    "ΜΟΝΤΑΖ 1",
    "C-1001",
    "P-2001",
    "ΚΟΠΗ-ΒΑΦΗ",
    "2026-02-30",
    "2026-12-04",
    "2026-12-04T10:00:00Z",
    "86400",
    86400,
    "0412",
    "x" * 5000,
    "/",
    "a/b",
    "²",
    "٣",
    "<script>",
    "`x`",
    "#1;",
    "{{x}}",
    [],
    {},
    [1, [2, [3]]],
    {"a": {"b": {"c": {}}}},
    dt.date(2026, 12, 4),
]
KEYS = [
    "kind",
    "id",
    "name",
    "lines",
    "items",
    "quantity",
    "product",
    "client",
    "routing",
    "workflow",
    "steps",
    "workstation",
    "job_task",
    "bom",
    "custom_fields",
    "target_day",
    "archived",
    "files",
    "status",
    "code",
    "comments",
    "tags",
    "over_under_percentage",
    "unknown",
    "quantitiy",
    "vat_rate",
    "active",
    "type",
]


def _nodes(value: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            out += _nodes(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out += _nodes(child, (*path, i))
    return out


def _get(value: Any, path: tuple) -> Any:
    for step in path:
        value = value[step]
    return value


def _deep(rng: random.Random) -> Any:
    depth = rng.choice([10, 50, 70, 200])
    value: Any = "x"
    for _ in range(depth):
        value = [value] if rng.random() < 0.5 else {"k": value}
    return value


def mutate_document(doc: Any, rng: random.Random) -> Any:
    """One hostile change somewhere in a document (in place when possible); returns the document."""
    nodes = _nodes(doc)
    path = rng.choice(nodes)
    if not path:
        return rng.choice([*HOSTILE, _deep(rng)]) if rng.random() < 0.1 else doc
    parent, key = _get(doc, path[:-1]), path[-1]
    roll = rng.random()
    if roll < 0.55:
        parent[key] = rng.choice(HOSTILE) if rng.random() < 0.9 else _deep(rng)
    elif roll < 0.7 and isinstance(parent, dict):
        del parent[key]
    elif roll < 0.85 and isinstance(parent, dict):
        parent[rng.choice(KEYS)] = rng.choice(HOSTILE)
    elif isinstance(parent, list) and parent:
        parent.append(parent[rng.randrange(len(parent))])  # a duplicate item: duplicate ids, repeated steps
    else:
        parent[key] = str(parent[key]) if not isinstance(parent[key], (dict, list)) else parent[key]
    return doc


def dump(docs: list[Any]) -> str:
    yaml = YAML()
    yaml.allow_unicode = True
    out = io.StringIO()
    yaml.dump_all(docs, out)
    return out.getvalue()


def damage_text(text: str, rng: random.Random) -> str:
    """Byte-level damage: a deleted, doubled or replaced span, or an inserted hostile fragment."""
    if not text:
        return text
    i = rng.randrange(len(text))
    roll = rng.random()
    if roll < 0.3:
        return text[:i] + text[i + rng.randint(1, 20) :]
    if roll < 0.5:
        return text[:i] + text[i : i + 30] + text[i:]
    if roll < 0.8:
        fragment = rng.choice(
            [
                "\t",
                "\x00",
                "\x1b[31m",
                ": :",
                "- - -",
                "{",
                "[",
                "&a",
                "*a",
                "!!binary x",
                "<<: *a",
                "\ufeff",
                "\u2028",
                "'",
                '"',
                "%YAML 1.1\n",
                "--- ",
                "... ",
                "? ",
                "\n  - ",
                "0o9",
            ]
        )
        return text[:i] + fragment + text[i:]
    return text[:i] + chr(rng.choice([0x85, 0xA0, 0x200B, 0xFFFE, 0xD800 - 1, 0x1F600])) + text[i:]


def mutated_factory(sample: dict[str, str], rng: random.Random) -> dict[str, bytes]:
    """The sample files, with a few hostile changes in some of them."""
    files = dict(sample)
    for _ in range(rng.randint(1, 4)):
        name = rng.choice(sorted(files))
        text = files[name]
        if rng.random() < 0.75:
            try:
                docs = [d for d in load_all(text) if d is not None]
            except Exception:
                docs = []
            if docs:
                docs[rng.randrange(len(docs))] = mutate_document(docs[rng.randrange(len(docs))], rng)
                try:
                    text = dump(docs)
                except Exception:
                    text = damage_text(text, rng)
        else:
            text = damage_text(text, rng)
        files[name] = text
    return {name: text.encode("utf-8", "surrogatepass") for name, text in files.items()}


_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn"}


def invalid_values(desired: Any) -> list[str]:
    """What an accepted set of manifests must never hold; each finding says what and where."""
    found = []
    for addr, entry in desired.index.items():
        erp_id = entry.id
        if "/" in erp_id or not erp_id.isprintable() or any(c.isspace() for c in erp_id) or not erp_id:
            found.append(f"{addr}: id {erp_id!r}")
        payload = desired.resources[addr].payload
        quantity = payload.get("quantity")
        if entry.kind == "WorkOrderLine" and (
            not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0
        ):
            found.append(f"{addr}: quantity {quantity!r}")
        day = payload.get("target_day")
        if day is not None:
            try:
                dt.date.fromisoformat(day)
            except (TypeError, ValueError):
                found.append(f"{addr}: target_day {day!r}")
        for key in ("name", "product", "client", "workflow"):
            value = payload.get(key)
            if isinstance(value, str) and any(unicodedata.category(c) in _INVISIBLE for c in value):
                found.append(f"{addr}: {key} {value!r}")
    return found


def load_in(folder: Path, files: dict[str, bytes]) -> tuple[Any | None, ManifestError | None]:
    """Load ``files`` as a manifests folder; (desired, None) or (None, the ManifestError). Anything else raises."""
    root = folder / "manifests"
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    try:
        return load_manifests(root, cache_dir=folder / "cache"), None
    except ManifestError as error:
        return None, error


def well_placed(error: ManifestError, files: dict[str, bytes], folder: Path) -> list[str]:
    """Problems without a usable place: no file, or a line/column outside the file."""
    bad = []
    for problem in error.problems:
        name = Path(problem.file).name
        match = [content for rel, content in files.items() if Path(rel).name == name]
        lines = match[0].decode("utf-8", "replace").split("\n") if match else None
        if lines is None or not 1 <= problem.line <= len(lines) + 1 or problem.column < 1:
            bad.append(str(problem))
    return bad
