"""reconciler init: a repository ready for editors, pre-commit and the workflows the README shows."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import jsonschema
from ruamel.yaml import YAML

from reconciler.editor import config_schema, manifest_schema
from reconciler.scaffold import PRE_COMMIT, WORKFLOWS

from .conftest import ROOT, run_cli

yaml = YAML(typ="safe")


def test_init_writes_a_repository_that_validates_and_keeps_what_exists(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("mine\n", encoding="utf-8")
    result = run_cli("init", "--endpoint", "https://acme.epoptia.io", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "kept    .gitignore (it exists)" in result.stdout and (tmp_path / ".gitignore").read_text() == "mine\n"
    for rel in (
        "reconciler.yaml",
        "schemas/manifest.schema.json",
        "schemas/reconciler.schema.json",
        ".vscode/settings.json",
        ".pre-commit-config.yaml",
        ".github/workflows/epoptia-plan.yml",
        ".github/workflows/epoptia-apply.yml",
    ):
        assert (tmp_path / rel).is_file(), rel
    config = yaml.load((tmp_path / "reconciler.yaml").read_text(encoding="utf-8"))
    assert config["targets"]["production"]["protected"] is True and config["default_target"] == "production"
    jsonschema.Draft202012Validator(config_schema()).validate(config)
    settings = json.loads((tmp_path / ".vscode/settings.json").read_text(encoding="utf-8"))
    assert settings["yaml.schemas"]["./schemas/manifest.schema.json"][0] == "manifests/**/*.yaml"
    # With manifests (here the sample's), the new repository validates.
    shutil.copytree(ROOT / "manifests", tmp_path / "manifests")  # (a link out of the repository is refused)
    assert run_cli("validate", cwd=tmp_path).returncode == 0
    again = run_cli("init", cwd=tmp_path)
    assert again.returncode == 0 and "created" not in again.stdout


def test_the_scaffold_writes_what_the_readme_shows() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", readme, re.S)
    for text in (*WORKFLOWS.values(), PRE_COMMIT):
        assert text in blocks, text.splitlines()[0]


def test_schemas_use_json_schema_keywords_and_check_bounds() -> None:
    for schema in (manifest_schema(), config_schema()):
        text = json.dumps(schema)
        assert not re.search(r'"(ge|le|gt|lt)": ', text)
        jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(manifest_schema())
    assert list(validator.iter_errors({"kind": "Client", "id": "C-1", "name": "x", "vat_rate": 240}))
    assert not list(validator.iter_errors({"kind": "Client", "id": "C-1", "name": "x", "vat_rate": 24}))
    assert list(validator.iter_errors({"kind": "Product", "id": "P-1", "name": "x" * 151}))
    config = jsonschema.Draft202012Validator(config_schema())
    assert list(
        config.iter_errors(
            {"default_target": "a", "targets": {"a": {"endpoint": "emulator", "state": "s", "timeout": 0}}}
        )
    )
    assert not list(config.iter_errors(yaml.load((ROOT / "reconciler.yaml").read_text(encoding="utf-8"))))
