"""Editor and pre-commit support: the schema, the formatter, the hooks file."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from reconciler.editor import format_text, manifest_schema
from reconciler.manifests.yaml import load_all

from .conftest import ROOT, run_cli, write


def documents(path: Path) -> list:
    return [d for d in load_all(path.read_text(encoding="utf-8")) if d is not None]


def test_schema_accepts_every_sample_document() -> None:
    validator = jsonschema.Draft202012Validator(manifest_schema())
    count = 0
    for path in sorted((ROOT / "manifests").rglob("*.yaml")):
        for doc in documents(path):
            errors = list(validator.iter_errors(doc))
            assert errors == [], (path, [e.message for e in errors])
            count += 1
    assert count == 8


@pytest.mark.parametrize(
    "broken",
    [
        {"kind": "Client", "id": "C-1", "name": "x", "colour": "red"},
        {"kind": "WorkOrder", "id": "WO-1", "client": "C-1", "lines": [{"id": 1, "product": "P-1"}]},
        {"kind": "WorkOrder", "id": "WO-1", "client": "C-1", "lines": [{"id": 1, "product": "P-1", "quantity": 0}]},
        {"kind": "Clinet", "id": "C-1", "name": "x"},
        {"kind": "Product", "items": [{"id": "P-1"}]},
    ],
)
def test_schema_rejects_broken_documents(broken: dict) -> None:
    assert list(jsonschema.Draft202012Validator(manifest_schema()).iter_errors(broken))


def test_schema_command_writes_valid_json(sample_repo: Path) -> None:
    result = run_cli("schema", "--out", "manifest.schema.json", cwd=sample_repo)
    assert result.returncode == 0
    schema = json.loads((sample_repo / "manifest.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)


MESSY = """\
# Παραγγελίες Δεκεμβρίου
kind: WorkOrder
id:   WO-1      # από το ERP
client: C-1
lines:
- id: 1
  product: P-1
  quantity: 5
  target_day: 2026-12-04
  custom_fields: {ΔΙΑΣΤΑΣΕΙΣ: 60x40}
---
kind: Client
id: C-1
name: "Πελάτης"
"""


def test_fmt_is_idempotent_and_keeps_comments_and_dates() -> None:
    once = format_text(MESSY)
    assert format_text(once) == once
    assert "# Παραγγελίες Δεκεμβρίου" in once and "# από το ERP" in once
    assert "target_day: 2026-12-04" in once and 'name: "Πελάτης"' in once
    assert "  - id: 1\n    product: P-1" in once  # sequences indented under their key
    assert YAML(typ="safe").load_all(once) is not None


def test_fmt_check_and_fix(sample_repo: Path) -> None:
    assert run_cli("fmt", "--check", cwd=sample_repo).returncode == 0  # the sample is formatted
    work_order_only = MESSY.split("---")[0]
    write(sample_repo, "manifests/messy.yaml", work_order_only.replace("C-1", "C-1001").replace("P-1\n", "P-2001\n"))
    check = run_cli("fmt", "--check", cwd=sample_repo)
    assert check.returncode == 1 and "manifests/messy.yaml" in check.stdout
    assert run_cli("fmt", cwd=sample_repo).returncode == 0
    assert run_cli("fmt", "--check", cwd=sample_repo).returncode == 0
    assert run_cli("validate", cwd=sample_repo).returncode == 0


def test_fmt_reports_unparseable_files_with_a_position(sample_repo: Path) -> None:
    write(sample_repo, "manifests/bad.yaml", "kind: Client\nname: [x\n")
    result = run_cli("fmt", cwd=sample_repo)
    assert result.returncode == 1 and "manifests/bad.yaml:3:1: cannot format" in result.stderr
    assert "Traceback" not in result.stderr


def test_pre_commit_hooks_file() -> None:
    hooks = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert {h["id"]: h["entry"] for h in hooks} == {
        "reconciler-validate": "reconciler validate",
        "reconciler-fmt": "reconciler fmt --check",
    }
