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
    rev: v0.1.0
    hooks:
      - id: reconciler-validate
      - id: reconciler-fmt
"""

PLAN_WORKFLOW = """\
# .github/workflows/epoptia-plan.yml
name: epoptia-plan
on: pull_request
permissions: {}
concurrency:
  group: epoptia-plan-${{ github.event.pull_request.number }}
  cancel-in-progress: true
jobs:
  plan:
    name: plan
    runs-on: ubuntu-latest
    timeout-minutes: 90
    environment: epoptia-plan
    permissions:
      contents: write        # the tenant's queue (and a halt) on the reconciler-state branch
      pull-requests: write   # the plan comment
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
        with:
          persist-credentials: false
      - uses: OWNER/epoptia-reconciler/.github/actions/plan@V0_1_0_COMMIT # v0.1.0
        with:
          api-key: ${{ secrets.EPOPTIA_API_KEY }}
"""

APPLY_WORKFLOW = """\
# .github/workflows/epoptia-apply.yml
name: epoptia-apply
on:
  push:
    branches: [main]
  schedule:
    - cron: "*/30 * * * *"   # applies the merges that waited for an apply window
  workflow_dispatch:
    inputs:
      approve:
        description: Digest of a held plan to apply (from the merged pull request's comment)
        required: false
        default: ""
      skip-blocked:
        description: Apply the rest of an approved plan that has blocked actions
        type: boolean
        default: false
permissions: {}
concurrency:
  group: epoptia-apply-production
  cancel-in-progress: false
jobs:
  apply:
    name: apply
    runs-on: ubuntu-latest
    timeout-minutes: 90
    environment: epoptia-production
    permissions:
      contents: write        # the state on the reconciler-state branch
      pull-requests: write   # what was applied, or why not, on each merged pull request
      actions: read          # the plan each pull request saved
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
        with:
          fetch-depth: 0     # the apply walks main's history from the last merge it applied
          persist-credentials: false
      - uses: OWNER/epoptia-reconciler/.github/actions/apply@V0_1_0_COMMIT # v0.1.0
        with:
          api-key: ${{ secrets.EPOPTIA_API_KEY }}
          approve: ${{ inputs.approve }}
          skip-blocked: ${{ inputs.skip-blocked }}
"""

DRIFT_WORKFLOW = """\
# .github/workflows/epoptia-drift.yml
name: epoptia-drift
on:
  schedule:
    - cron: "17 2 * * *"
  workflow_dispatch:
permissions: {}
concurrency:
  group: epoptia-drift-production
  cancel-in-progress: false
jobs:
  drift:
    name: drift
    runs-on: ubuntu-latest
    timeout-minutes: 90
    environment: epoptia-production
    permissions:
      contents: write        # the tenant's queue, and a halt should Epoptia answer 403 or 429
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
        with:
          persist-credentials: false
      - uses: OWNER/epoptia-reconciler/.github/actions/run@V0_1_0_COMMIT # v0.1.0
        with:
          command: drift --detailed-exitcode
          api-key: ${{ secrets.EPOPTIA_API_KEY }}
"""

HALT_CLEAR_WORKFLOW = """\
# .github/workflows/epoptia-halt-clear.yml   (gh workflow run epoptia-halt-clear.yml)
name: epoptia-halt-clear
on: workflow_dispatch
permissions: {}
concurrency:
  group: epoptia-halt-clear-production
  cancel-in-progress: false
jobs:
  clear:
    name: clear the halt
    runs-on: ubuntu-latest
    timeout-minutes: 90
    environment: epoptia-production
    permissions:
      contents: write        # the halt lives on the reconciler-state branch
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
        with:
          persist-credentials: false
      - uses: OWNER/epoptia-reconciler/.github/actions/run@V0_1_0_COMMIT # v0.1.0
        with:
          command: halt clear
"""

WORKFLOWS = {
    ".github/workflows/epoptia-plan.yml": PLAN_WORKFLOW,
    ".github/workflows/epoptia-apply.yml": APPLY_WORKFLOW,
    ".github/workflows/epoptia-drift.yml": DRIFT_WORKFLOW,
    ".github/workflows/epoptia-halt-clear.yml": HALT_CLEAR_WORKFLOW,
}


def files(endpoint: str | None, target: str, schemas: dict[str, str]) -> dict[str, str]:
    """Path (relative to the new repository) -> text, in the order they are written."""
    return {
        "reconciler.yaml": reconciler_yaml(endpoint, target),
        ".gitignore": GITIGNORE,
        MANIFEST_SCHEMA: schemas["manifest"],
        CONFIG_SCHEMA: schemas["config"],
        ".vscode/settings.json": vscode_settings(),
        ".pre-commit-config.yaml": PRE_COMMIT,
        **WORKFLOWS,
    }
