"""Every mermaid diagram of the golden comments parses with mermaid's own parser.

Runs node on tests/mermaid/parse.mjs with the npm packages of tests/mermaid/package.json,
installed once into a cache folder (RECONCILER_NPM_CACHE, default ~/.cache/epoptia-reconciler/mermaid).
Skipped, with the reason, when node or npm is missing or the packages cannot be installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from reconciler.render.mermaid import escape, flowchart
from reconciler.render.routing import align

HERE = Path(__file__).parent
PACKAGE = HERE / "mermaid"
BLOCK = re.compile(r"^```mermaid\n(.*?)^```$", re.S | re.M)


def _cache() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "epoptia-reconciler" / "mermaid"
    return Path(os.environ.get("RECONCILER_NPM_CACHE", default))


@pytest.fixture(scope="module")
def mermaid_parser() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to check diagrams with mermaid's own parser; not found on PATH")
    cache = _cache()
    wanted = (PACKAGE / "package.json").read_text(encoding="utf-8")
    installed = cache / "package.json"
    if (
        not (cache / "node_modules" / "mermaid").is_dir()
        or not installed.is_file()
        or installed.read_text(encoding="utf-8") != wanted
    ):
        cache.mkdir(parents=True, exist_ok=True)
        installed.write_text(wanted, encoding="utf-8")
        result = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--silent"],
            cwd=cache,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            installed.unlink(missing_ok=True)
            pytest.skip(f"could not install mermaid with npm into {cache}: {result.stderr.strip()[:300]}")
    shutil.copy(PACKAGE / "parse.mjs", cache / "parse.mjs")
    return cache / "parse.mjs"


def parse(script: Path, diagrams: list[str]) -> list[str | None]:
    result = subprocess.run(
        ["node", str(script)],
        input=json.dumps(diagrams),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=script.parent,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def golden_diagrams() -> list[tuple[str, str]]:
    out = []
    for path in sorted((HERE / "golden").glob("*.md")):
        out += [(path.name, block) for block in BLOCK.findall(path.read_text(encoding="utf-8"))]
    return out


def test_the_goldens_have_diagrams() -> None:
    names = {name for name, _ in golden_diagrams()}
    assert {"plan.md", "pr-comment.md"} <= names


def test_every_golden_diagram_parses(mermaid_parser: Path) -> None:
    diagrams = golden_diagrams()
    errors = parse(mermaid_parser, [d for _, d in diagrams])
    assert [(name, error) for (name, _), error in zip(diagrams, errors, strict=True) if error] == []


HOSTILE = [
    'ΥΑΛΟΘΕΤΗΣΗ "Β" [#2]; <νέα>',
    "#quot; already coded",
    "`tick` and ``double``",
    "a --> b",
    "end",
    "subgraph x",
    "x]:::added",
    "<script>alert(1)</script>",
    "%% comment",
    "{curly} (round) |pipe|",
    "tab\tand\nnewline",
    "back\\slash",
    "&amp; &",
    "x" * 80,
]


def test_hostile_labels_parse_and_never_reach_mermaid_raw(mermaid_parser: Path) -> None:
    steps = [{"workstation": name, "job_task": name} for name in HOSTILE]
    before, after = steps[::2], steps[1::2] + steps[:2]
    chart = flowchart(before, after, align(before, after))
    body = chart.removeprefix("```mermaid\n").removesuffix("\n```")
    assert parse(mermaid_parser, [body]) == [None]
    assert '"B"' not in chart and "<script>" not in chart and "`" not in body
    assert escape('a"#b') == "a#quot;#35;b"
