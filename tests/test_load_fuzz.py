"""Generated garbage and mangled valid manifests never produce a traceback."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.errors import ManifestError
from reconciler.load import load_manifests

from .conftest import ROOT

SAMPLE = sorted((ROOT / "manifests").rglob("*.yaml"))
SAMPLE_TEXT = {p: p.read_text(encoding="utf-8") for p in SAMPLE}

yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["2026-02-30", "-1", "0", "~", "LASER", "ΜΟΝΤΑΖ 1", "C-1001", "P-2001", "ΚΟΠΗ-ΒΑΦΗ"]),
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
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
                    "x",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=20,
)


def _load(files: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "manifests"
        root.mkdir()
        for name, content in files.items():
            (root / name).write_bytes(content)
        try:
            load_manifests(root, cache_dir=Path(tmp) / "cache")
        except ManifestError as error:
            assert error.problems or error.message
            for problem in error.problems:
                assert problem.line >= 1 and problem.column >= 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    _load({"garbage.yaml": data})


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    _load({"garbage.yaml": text.encode("utf-8", "surrogatepass")})


@settings(max_examples=300, deadline=None)
@given(
    st.lists(yaml_values, min_size=1, max_size=3), st.sampled_from(["Client", "Product", "Routing", "WorkOrder", None])
)
def test_random_structures(documents: list, kind: str | None) -> None:
    from io import StringIO

    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    out = StringIO()
    docs = [({"kind": kind, **d} if isinstance(d, dict) and kind else d) for d in documents]
    yaml.dump_all(docs, out)
    _load({"generated.yaml": out.getvalue().encode()})


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mangled_sample(data: st.DataObject) -> None:
    """Take the sample factory and cut, duplicate or overwrite a slice of one file."""
    files = {f"{i}.yaml": SAMPLE_TEXT[p].encode() for i, p in enumerate(SAMPLE)}
    name = data.draw(st.sampled_from(sorted(files)))
    content = files[name]
    start = data.draw(st.integers(0, len(content)))
    end = data.draw(st.integers(start, min(len(content), start + 40)))
    how = data.draw(st.sampled_from(["cut", "dup", "replace", "insert-garbage"]))
    if how == "cut":
        content = content[:start] + content[end:]
    elif how == "dup":
        content = content[:end] + content[start:end] + content[end:]
    elif how == "replace":
        content = content[:start] + data.draw(st.binary(max_size=10)) + content[end:]
    else:
        content = (
            content[:start]
            + data.draw(st.sampled_from([b"\t", b": ", b"- ", b"{", b"&a ", b"*a", b"!!x "]))
            + content[start:]
        )
    files[name] = content
    _load(files)
