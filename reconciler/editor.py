"""Editor and pre-commit support: JSON Schemas of the manifests and of reconciler.yaml, and a formatter.

The schemas come from the same pydantic models that validate manifests and the
configuration, so an editor (through yaml-language-server) completes and checks
exactly what `reconciler validate` accepts, short of cross-file references.
Pydantic writes some numeric bounds with its own keywords (``ge``, ``le``: on
a union of int and float); they are rewritten to JSON Schema's ``minimum``,
``maximum``, ``exclusiveMinimum`` and ``exclusiveMaximum``, which editors check.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from .errors import ManifestError, SourceError
from .load import discover
from .manifests.parse import yaml_problem
from .manifests.yaml import YamlError, load_all
from .resources import MODELS

SCHEMA_ID = "https://epoptia-reconciler.local/manifest.schema.json"
CONFIG_SCHEMA_ID = "https://epoptia-reconciler.local/reconciler.schema.json"
_KEYWORDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


def standard(node: Any) -> Any:
    """The schema with pydantic's own bound keywords replaced by JSON Schema's (property names are left alone)."""
    if isinstance(node, list):
        return [standard(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("properties", "$defs", "patternProperties"):
            out[key] = {name: standard(sub) for name, sub in value.items()}
        else:
            out[_KEYWORDS.get(key, key) if isinstance(value, (int, float)) else key] = standard(value)
    return out


def manifest_schema() -> dict[str, Any]:
    """One document: a single resource of a kind, or `kind` plus a list of `items` of it."""
    definitions: dict[str, Any] = {}
    variants = []
    for kind, model in MODELS.items():
        schema = model.model_json_schema(ref_template="#/$defs/{model}")
        definitions.update(schema.pop("$defs", {}))
        schema["properties"]["kind"] = {"const": kind.value}
        schema["required"] = sorted(set(schema.get("required", [])) | {"kind"})
        definitions[kind.value] = schema
        item = {k: v for k, v in schema.items() if k != "title"}
        item = {
            **item,
            "properties": {k: v for k, v in schema["properties"].items() if k != "kind"},
            "required": [r for r in schema["required"] if r != "kind"],
        }
        definitions[f"{kind.value}Item"] = item
        items = {
            "type": "object",
            "properties": {
                "kind": {"const": kind.value},
                "items": {"type": "array", "items": {"$ref": f"#/$defs/{kind.value}Item"}},
            },
            "required": ["kind", "items"],
            "additionalProperties": False,
        }
        # Chosen by `kind`, then by the presence of `items`, so an editor reports the field that is
        # wrong ("vat_rate: 240 is greater than 100"), not "matches none of 8 alternatives".
        variants.append(
            {
                "if": {"properties": {"kind": {"const": kind.value}}, "required": ["kind"]},
                "then": {"if": {"required": ["items"]}, "then": items, "else": {"$ref": f"#/$defs/{kind.value}"}},
            }
        )
    return standard(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": SCHEMA_ID,
            "title": "Epoptia Reconciler manifest",
            "description": f"One YAML document: {', '.join(k.value for k in MODELS)}, or `kind` with `items`.",
            "type": "object",
            "required": ["kind"],
            "properties": {"kind": {"enum": [k.value for k in MODELS]}},
            "allOf": variants,
            "$defs": definitions,
        }
    )


def config_schema() -> dict[str, Any]:
    """reconciler.yaml: where the manifests are and the targets (endpoint, key variable, state, throttle ...)."""
    from .config import Config

    schema = Config.model_json_schema(ref_template="#/$defs/{model}")
    return standard(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": CONFIG_SCHEMA_ID,
            "title": "Epoptia Reconciler configuration (reconciler.yaml)",
            **{k: v for k, v in schema.items() if k != "title"},
        }
    )


def house_style() -> YAML:
    """The YAML writer of the house style, for `fmt` and for the manifests `import` writes."""
    # ruamel's own round-trip types (not the loader's dates-as-text), so dates are written back as written.
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # never fold long Greek descriptions
    yaml.preserve_quotes = True
    yaml.allow_unicode = True
    yaml.explicit_start = False
    return yaml


def format_text(text: str) -> str:
    """The file in the house style; comments, key order and quotes are kept."""
    yaml = house_style()
    documents = list(yaml.load_all(text))
    out = io.StringIO()
    yaml.dump_all(documents, out)
    return out.getvalue()


def format_tree(root: Path, *, check: bool) -> list[Path]:
    """Files whose formatting differs; rewritten unless ``check``."""
    changed = []
    problems = []
    for name in discover(root):
        path = Path(name)
        text = path.read_text(encoding="utf-8")
        try:
            load_all(text)  # the bounded loader first: the round-trip writer has no limits of its own
        except YamlError as error:
            problems.append(SourceError(str(path), error.line, error.column, f"cannot format: {yaml_problem(error)}"))
            continue
        try:
            formatted = format_text(text)
        except Exception as error:  # YAML or date errors: validate explains them with positions
            mark = getattr(error, "problem_mark", None)
            line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            problems.append(SourceError(str(path), line, column, f"cannot format: {str(error).splitlines()[0]}"))
            continue
        if formatted != text:
            changed.append(path)
            if not check:
                path.write_text(formatted, encoding="utf-8")
    if problems:
        raise ManifestError(problems, hint="run `reconciler validate` for the details, fix, then format")
    return changed
