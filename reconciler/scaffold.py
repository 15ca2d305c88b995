"""The files `reconciler init` writes into a new repository of production data.

One home for every template, so that the README's "Adopting it" section, the
scaffold and the tests agree (tests/test_init.py compares the workflows with
the README's). Plain text, not generated YAML: these are files people read and
edit, comments included.
"""

from __future__ import annotations

import json

MANIFEST_SCHEMA = "schemas/manifest.schema.json"
CONFIG_SCHEMA = "schemas/reconciler.schema.json"


def reconciler_yaml(endpoint: str | None, target: str) -> str:
    """reconciler.yaml: the emulator to try things on, and the tenant when its address is given."""
    local = """\
  # The built-in emulator: a local Epoptia started for each command, with its data
  # under .reconciler/. No account needed; `reconciler plan --target local` tries a change.
  local:
    endpoint: emulator
    state: state/local.json
"""
    if endpoint is None:
        return f"""\
# Epoptia Reconciler: where the manifests are, and the targets they are applied to.
# Editors check this file against {CONFIG_SCHEMA} (see .vscode/settings.json).
manifests: manifests
default_target: local

targets:
{local}
  # Your tenant, once you have its address and an API key:
  # {target}:
  #   endpoint: https://acme.epoptia.io
  #   api_key_env: EPOPTIA_API_KEY   # the NAME of the variable; the key is never written here
  #   state: state/{target}.json
  #   protected: true                # deletions and archives ask for the target's name
"""
    return f"""\
# Epoptia Reconciler: where the manifests are, and the targets they are applied to.
# Editors check this file against {CONFIG_SCHEMA} (see .vscode/settings.json).
manifests: manifests
default_target: {target}

targets:
  {target}:
    endpoint: {endpoint}
    api_key_env: EPOPTIA_API_KEY   # the NAME of the variable; the key is never written here
    state: state/{target}.json
    protected: true                # deletions and archives ask for the target's name
    # apply_windows:               # no applies at night or at the shift change
    #   timezone: Europe/Athens
    #   allow: [{{days: [mon, tue, wed, thu, fri], from: "06:30", to: "21:00"}}]

{local}"""


GITIGNORE = """\
# The reconciler's working files (parse cache, locks, the emulator's data); the state file is committed.
.reconciler/
state/*.backup
state/local.json
"""


def vscode_settings() -> str:
    """yaml-language-server (the VS Code YAML extension): every manifest, at any depth, every document."""
    settings = {
        "yaml.schemas": {
            f"./{MANIFEST_SCHEMA}": ["manifests/**/*.yaml", "manifests/**/*.yml"],
            f"./{CONFIG_SCHEMA}": ["reconciler.yaml"],
        },
        "files.encoding": "utf8",
        "[yaml]": {"editor.insertSpaces": True, "editor.tabSize": 2},
    }
    return json.dumps(settings, indent=2, ensure_ascii=False) + "\n"


PRE_COMMIT = """\
repos:
  - repo: https://github.com/OWNER/epoptia-reconciler
    rev: main
    hooks:
      - id: reconciler-validate
      - id: reconciler-fmt
"""

PLAN_WORKFLOW = """\
# .github/workflows/epoptia-plan.yml
name: epoptia-plan
on: pull_request
permissions:
  contents: read
  pull-requests: write
jobs:
  plan:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: OWNER/epoptia-reconciler/.github/actions/plan@main
        with:
          api-key: ${{ secrets.EPOPTIA_API_KEY }}
"""

APPLY_WORKFLOW = """\
# .github/workflows/epoptia-apply.yml
name: epoptia-apply
on:
  push:
    branches: [main]
concurrency:
  group: epoptia-apply-production
  cancel-in-progress: false
permissions:
  contents: write
jobs:
  apply:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: OWNER/epoptia-reconciler/.github/actions/apply@main
        with:
          api-key: ${{ secrets.EPOPTIA_API_KEY }}
"""


def files(endpoint: str | None, target: str, schemas: dict[str, str]) -> dict[str, str]:
    """Path (relative to the new repository) -> text, in the order they are written."""
    return {
        "reconciler.yaml": reconciler_yaml(endpoint, target),
        ".gitignore": GITIGNORE,
        MANIFEST_SCHEMA: schemas["manifest"],
        CONFIG_SCHEMA: schemas["config"],
        ".vscode/settings.json": vscode_settings(),
        ".pre-commit-config.yaml": PRE_COMMIT,
        ".github/workflows/epoptia-plan.yml": PLAN_WORKFLOW,
        ".github/workflows/epoptia-apply.yml": APPLY_WORKFLOW,
    }
