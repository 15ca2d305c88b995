"""One broken manifest per error class, each with the exact file:line:column message."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import ManifestError
from reconciler.load import load_manifests

from .conftest import write

BASE = """
kind: Client
id: C-1
name: Πελάτης
---
kind: Product
id: P-1
name: Προφίλ
---
kind: Routing
id: R-1
steps:
  - workstation: LASER
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # messages name files relative to the working folder


def problems(tmp_path: Path, text: str) -> list[str]:
    write(tmp_path, "manifests/base.yaml", BASE)
    write(tmp_path, "manifests/case.yaml", text)
    with pytest.raises(ManifestError) as caught:
        load_manifests(Path("manifests"))
    return [str(p) for p in caught.value.problems]


def wo(lines: str, head: str = "") -> str:
    return f"kind: WorkOrder\nid: WO-1\nclient: C-1\n{head}lines:\n{lines}"


CASES = {
    "yaml-syntax": (
        "kind: Client\nid: C-2\nname: [unclosed\n",
        [
            "manifests/case.yaml:4:1: YAML syntax error: did not find expected ',' or ']' "
            "(while parsing a flow sequence)"
        ],
    ),
    "duplicate-yaml-key": (
        "kind: Client\nid: C-2\nname: a\nname: b\n",
        [
            'manifests/case.yaml:4:1: YAML syntax error: found duplicate key "name" with value "b" '
            '(original value: "a") (while constructing a mapping)'
        ],
    ),
    "unknown-kind": (
        "kind: Clinet\nid: C-2\nname: a\n",
        ["manifests/case.yaml:1:7: unknown kind 'Clinet'; did you mean 'Client'?"],
    ),
    "missing-kind": (
        "id: C-2\nname: a\n",
        ["manifests/case.yaml:1:1: document has no 'kind:'; expected one of Client, Product, Routing, WorkOrder"],
    ),
    "misspelt-field": (
        wo("  - id: 1\n    product: P-1\n    quantity: 5\n    comments: ok\n    quantitiy: 4\n"),
        ["manifests/case.yaml:9:5: unknown field 'quantitiy' in work order line; did you mean 'quantity'?"],
    ),
    "unknown-field": (
        "kind: Client\nid: C-2\nname: a\ncolour: red\n",
        ["manifests/case.yaml:4:1: unknown field 'colour' in client"],
    ),
    "wrong-type": (
        wo("  - id: 1\n    product: P-1\n    quantity: lots\n"),
        ["manifests/case.yaml:7:15: lines[0].quantity: input should be a valid integer (got 'lots')"],
    ),
    "missing-required": (
        wo("  - id: 1\n    product: P-1\n"),
        ["manifests/case.yaml:5:5: missing required field 'quantity' in work order line"],
    ),
    "duplicate-id": (
        "kind: Product\nitems:\n  - id: P-2\n    name: a\n  - id: P-1\n    name: b\n",
        [
            "manifests/case.yaml:5:9: duplicate product id 'P-1'; it is already declared at manifests/base.yaml "
            "(ids are unique per kind)"
        ],
    ),
    "dangling-product": (
        wo("  - id: 1\n    product: P-11\n    quantity: 5\n"),
        [
            "manifests/case.yaml:6:14: work order line '1' refers to product 'P-11', which no manifest declares; "
            "did you mean 'P-1'?"
        ],
    ),
    "dangling-client": (
        "kind: WorkOrder\nid: WO-1\nclient: C-9\nlines:\n  - id: 1\n    product: P-1\n    quantity: 5\n",
        [
            "manifests/case.yaml:3:9: work order 'WO-1' refers to client 'C-9', which no manifest declares; "
            "did you mean 'C-1'?"
        ],
    ),
    "dangling-routing": (
        wo("  - id: 1\n    product: P-1\n    quantity: 5\n    routing: R-2\n"),
        [
            "manifests/case.yaml:8:14: work order line '1' refers to routing 'R-2', which no manifest declares; "
            "did you mean 'R-1'?"
        ],
    ),
    "workflow-and-routing": (
        wo("  - id: 1\n    product: P-1\n    quantity: 5\n    workflow: Βαφή\n    routing: R-1\n"),
        [
            "manifests/case.yaml:5:5: a line names either a workflow or a routing, never both (Epoptia refuses "
            "erp_routing together with workflow_id); remove one of them"
        ],
    ),
    "bad-date": (
        wo("  - id: 1\n    product: P-1\n    quantity: 5\n    target_day: 2026-02-30\n"),
        [
            "manifests/case.yaml:8:17: lines[0].target_day: is not a valid date; write it as YYYY-MM-DD "
            "(got '2026-02-30')"
        ],
    ),
    "negative-quantity": (
        wo("  - id: 1\n    product: P-1\n    quantity: -5\n"),
        ["manifests/case.yaml:7:15: lines[0].quantity: input should be greater than 0 (got -5)"],
    ),
    "zero-quantity": (
        wo("  - id: 1\n    product: P-1\n    quantity: 0\n"),
        ["manifests/case.yaml:7:15: lines[0].quantity: input should be greater than 0 (got 0)"],
    ),
    "line-as-document": (
        "kind: WorkOrderLine\nid: 1\n",
        [
            "manifests/case.yaml:1:7: unknown kind 'WorkOrderLine'; lines are written under the 'lines:' of "
            "their WorkOrder"
        ],
    ),
    "not-a-mapping": (
        "- kind: Client\n",
        ["manifests/case.yaml:1:1: a manifest document must be a mapping with a 'kind:' field"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_error_class_has_exact_position_and_message(tmp_path: Path, case: str) -> None:
    text, expected = CASES[case]
    assert problems(tmp_path, text) == expected


def test_all_errors_of_a_run_are_reported_not_only_the_first(tmp_path: Path) -> None:
    write(tmp_path, "manifests/other.yaml", "kind: Product\nid: P-9\nname: x\nnmae: y\n")
    found = problems(
        tmp_path,
        wo("  - id: 1\n    product: P-1\n    quantity: 0\n  - id: 2\n    product: P-1\n    target_day: soon\n"),
    )
    assert found == [
        "manifests/case.yaml:7:15: lines[0].quantity: input should be greater than 0 (got 0)",
        "manifests/case.yaml:8:5: missing required field 'quantity' in work order line",
        "manifests/case.yaml:10:17: lines[1].target_day: is not a valid date; write it as YYYY-MM-DD (got 'soon')",
        "manifests/other.yaml:4:1: unknown field 'nmae' in product; did you mean 'name'?",
    ]


def test_error_positions_survive_the_parse_cache(tmp_path: Path) -> None:
    """A dangling reference into a cached (unchanged) file still gets its line and column."""
    write(tmp_path, "manifests/base.yaml", BASE)
    write(tmp_path, "manifests/wo.yaml", wo("  - id: 1\n    product: P-1\n    quantity: 5\n"))
    load_manifests(Path("manifests"), cache_dir=Path(".cache"))
    # Remove the product: wo.yaml is unchanged and comes from the cache.
    write(tmp_path, "manifests/base.yaml", BASE.replace("kind: Product\nid: P-1\nname: Προφίλ\n---\n", ""))
    with pytest.raises(ManifestError) as caught:
        load_manifests(Path("manifests"), cache_dir=Path(".cache"))
    assert [str(p) for p in caught.value.problems] == [
        "manifests/wo.yaml:6:14: work order line '1' refers to product 'P-1', which no manifest declares"
    ]


def test_missing_or_empty_manifest_folder_is_an_error_not_an_empty_plan(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="does not exist"):
        load_manifests(tmp_path / "manifests")
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "README.md").write_text("not a manifest")
    with pytest.raises(ManifestError, match="no manifest files"):
        load_manifests(tmp_path / "manifests")


def test_non_utf8_file_names_line_and_column(tmp_path: Path) -> None:
    write(tmp_path, "manifests/base.yaml", BASE)
    (tmp_path / "manifests" / "latin.yaml").write_bytes(b"kind: Client\nid: C-3\nname: \xc1\xeb\n")
    with pytest.raises(ManifestError) as caught:
        load_manifests(Path("manifests"))
    assert [str(p) for p in caught.value.problems] == [
        "manifests/latin.yaml:3:7: file is not valid UTF-8; save it as UTF-8"
    ]


def test_a_problem_at_the_end_of_a_big_file_is_placed_without_composing_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Placing a problem streams the file's events once; the round-trip composer (minutes on a big
    file) is never used, and the place is the same one it gave."""
    from ruamel.yaml import YAML

    def composed(*_: object, **__: object) -> None:
        raise AssertionError("the file was composed again to place a problem")

    monkeypatch.setattr(YAML, "compose_all", composed)
    monkeypatch.setattr(YAML, "compose", composed)
    line = "    - {id: L-%d, product: P-1, quantity: %s}\n"
    docs = [wo("".join(line % (n * 100 + i, 5) for i in range(100))).replace("WO-1", f"WO-{n}") for n in range(300)]
    docs[-1] = docs[-1].replace("L-29950, product: P-1, quantity: 5", "L-29950, product: P-1, quantity: lots")
    text = "---\n".join(docs)
    found = problems(tmp_path, text)
    row = text.splitlines().index(line.rstrip("\n") % (29950, "lots")) + 1
    assert found == [f"manifests/case.yaml:{row}:45: lines[50].quantity: input should be a valid integer (got 'lots')"]


def test_a_value_reached_through_an_alias_is_placed_where_the_alias_is(tmp_path: Path) -> None:
    found = problems(tmp_path, "kind: Client\nid: C-10\nvat_rate: &v 24\ncomments: ok\nname: *v\n")
    assert found == ["manifests/case.yaml:5:7: name: input should be a valid string (got 24)"]
