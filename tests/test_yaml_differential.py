"""reconciler.manifests.yaml.load_all means exactly what ruamel's C safe loader means today.

The oracle is load.py's loader as it was when this module was written, copied here
so that rewiring load.py cannot change what we compare against. Every valid document
must come out equal (types, dict key order, NaN included); every document the oracle
refuses must be refused, at the same line and column and in the same words where the
oracle gives a position.
The only documents allowed to differ are those the module docstring lists as refused
on purpose (tuple keys, bytes, sets, self-containing lists, overflowing floats, ...).
"""

from __future__ import annotations

import functools
import math
import sys
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from reconciler.manifests.yaml import Limits, YamlError, load_all

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from factory_gen import generate

# --------------------------------------------------------------------------- the oracle (today's loader)


class _SafeConstructor(SafeConstructor):
    """Keeps timestamps as text so a bad date is a validation error with a position."""


_SafeConstructor.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)


@functools.cache
def safe_yaml() -> YAML:
    yaml = YAML(typ="safe", pure=False)
    yaml.Constructor = _SafeConstructor
    return yaml


# --------------------------------------------------------------------------- comparing


def _outcome(load: Any, text: str) -> tuple[str, Any]:
    try:
        return "ok", load(text)
    except YamlError as error:
        return "yaml-error", error
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        if mark is None:
            return "yaml-error", None
        return "yaml-error", (mark.line + 1, mark.column + 1, error.problem, error.context)
    except YAMLError:
        return "yaml-error", None
    except Exception as error:
        return "crash", error


def same(a: Any, b: Any) -> bool:
    """Equal, with equal types all the way down (True is not 1), NaN equal to NaN, keys in order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, dict):
        return len(a) == len(b) and all(
            same(ka, kb) and same(va, vb) for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True)
        )
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


DEFAULT_LIMITS = Limits()

# What today's loader returns and we refuse on purpose (see the module docstring).
_DELIBERATE = (
    "number too long",
    "number out of range",
    "a mapping or a list cannot be a key",
    "is not accepted in manifests",
    "is inside the node it names",
    "has a leading zero",
)


def _refused_on_purpose(error: YamlError) -> bool:
    return error.limit is not None or any(p in error.problem for p in _DELIBERATE)


def _has_witness(value: Any, _seen: frozenset[int] = frozenset()) -> bool:
    """Whether today's result holds something we refuse on purpose."""
    if isinstance(value, (tuple, bytes, set, OrderedDict)):
        return True
    if isinstance(value, float):
        return math.isinf(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return len(str(abs(value))) > DEFAULT_LIMITS.max_int_digits
    if isinstance(value, (dict, list)):
        if id(value) in _seen:
            return True
        seen = _seen | {id(value)}
        items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        return any(_has_witness(item, seen) for item in items)
    return False


def check(text: str) -> None:
    theirs, expected = _outcome(lambda t: list(safe_yaml().load_all(t)), text)
    ours, got = _outcome(load_all, text)
    assert ours != "crash", f"load_all raised {got!r} on {text!r}"
    if theirs == "ok":
        if ours == "ok":
            assert same(got, expected), f"{text!r}: {got!r} != today's {expected!r}"
        else:
            # Refused even where today's result looks plain: a self-alias (`&m {<<: *m}` is {} today)
            # and a scalar tag on a mapping (`!!str {=: 5}` is "5" today).
            # And a plain integer with a leading zero (today 0412 is 412: the id as written is lost).
            no_witness = (
                "is inside the node it names" in got.problem
                or got.problem.startswith("expected a scalar node, but found mapping")
                or "has a leading zero" in got.problem
            )
            assert (_refused_on_purpose(got) or no_witness) and (no_witness or _has_witness(expected)), (
                f"{text!r}: refused ({got}) but today gives {expected!r}"
            )
        return
    assert ours == "yaml-error", f"{text!r}: today refuses it ({expected!r}) but we give {got!r}"
    if theirs == "yaml-error" and expected is not None and not _refused_on_purpose(got):
        assert (got.line, got.column, got.problem, got.context) == expected, f"{text!r}: we say {got!r}"


# --------------------------------------------------------------------------- fixed corpus

SCALARS = [
    "on",
    "yes",
    "no",
    "off",
    "y",
    "n",
    "Yes",
    "ON",
    "~",
    "null",
    "Null",
    "NULL",
    "nULL",
    "true",
    "True",
    "TRUE",
    "false",
    "FALSE",
    "tRUE",
    ".inf",
    "-.inf",
    "+.inf",
    ".Inf",
    ".INF",
    ".nan",
    ".NaN",
    ".NAN",
    "-.nan",
    "010",
    "0o10",
    "0o7",
    "0o8",
    "0x1F",
    "0X1F",
    "0xff",
    "-0x1F",
    "0b101",
    "0b2",
    "-0b1",
    "1_000",
    "1__0",
    "1_",
    "_1",
    "1:30",
    "1:30:00",
    "+1",
    "-1",
    "-0",
    "+0",
    "0",
    "00",
    "09",
    "-0.0",
    "0.0",
    "1e3",
    "1E3",
    "1e+3",
    "1e-3",
    "1.e3",
    ".5",
    ".5e3",
    ".5e+3",
    "+.5e-3",
    "1.5",
    "1_0.5",
    "1.2.3",
    "1e",
    "e1",
    "0o",
    "0x",
    "0b",
    "2026-12-04",
    "2026-12-04T10:00:00Z",
    "2026-12-04 10:00:00",
    "2026-12-04t10:00:00.5+02:00",
    "2026-1-4",
    "2026-12-04x",
    "nan",
    "inf",
    "Infinity",
    "NaN",
    "=",
    "<<",
    "Κοπή",
    "ΜΟΝΤΑΖ 1",
    "ΠΑΡ-000001",
    "C-0020",
    "38x157",
    "a b",
    "Παρτίδα 96",
    "ΝΑΙ",
    "١٢",
    "12345678901234567890123456789",
    "-",
    "+",
    "_",
    "._",
    "+_",
    "-_",
    "0x_",
    "0b_",
    "!",
    "''",
    '""',
    "'on'",
    '"010"',
    "'2026-12-04'",
    '"\\u00e9\\t\\x41"',
    "'it''s'",
    "!!str 12",
    "!!str",
    "!!int '12'",
    "!!int 0x1F",
    "!!int x",
    "!!int ''",
    "!!int 1:30",
    "!!float 1",
    "!!float x",
    "!!float inf",
    "!!float .nan",
    "!!bool yes",
    "!!bool on",
    "!!bool maybe",
    "!!null foo",
    "!!null",
    "!!timestamp foo",
    "! 123",
    "! '123'",
    "!foo bar",
    "!!python/object x",
    "!!map x",
    "!!seq x",
    "!!merge x",
    "!!value x",
    "&a 1",
]

DOCUMENTS = [
    "",
    "# only a comment\n",
    "---",
    "---\n---\n",
    "...",
    "a: 1\n...\n---\nb\n",
    "%YAML 1.1\n---\non\n",
    "%YAML 1.1\n--- 010\n",
    "%YAML 1.2\n---\nyes\n",
    "--- |\n  x\n  y\n",
    "--- >-\n  x\n\n  y\n",
    "a: |\n  Κοπή\n  βαφή\n",
    "a: >\n  one\n  two\n\n  three\n",
    "a: |2-\n    x\n",
    "- a\n- - b\n  - c\n",
    "[a, [b, {c: d}], {}]",
    "{a: [1, 2], b: {c: ~}}",
    "a:\n  - b: 1\n    c: 2\n  - d\n",
    "x: &a {p: 1, q: 2}\ny: {<<: *a, q: 3, r: 4}\n",
    "<<: [{a: 1, b: 1}, {b: 2, c: 2}]\nd: 4\nb: 9\n",
    "x: &a {p: 1}\ny: {<<: *a, <<: *a}\n",
    "y: {<<: {}, <<: {a: 1}}\n",
    "y: {<<: {}, a: 1, a: 2}\n",
    "y: {<<: {b: 1}, a: 1, a: 2}\n",
    "y: {a: 1, <<: {a: 2, b: 2}}\n",
    "<<: 1\n",
    "<<: [1]\n",
    "<<: [[]]\n",
    "- <<\n",
    "x: =\n",
    "=: 1\n",
    "{=: 1}\n",
    "d: &d {a: 1}\ne: &e {<<: *d, b: 2}\nf: {<<: [*e, *d], c: 3}\n",
    "a: &x 1\nb: *x\nc: [*x, *x]\n",
    "&x a: *x\n",
    "a: &x 1\n*x : 2\n",
    "*a\n",
    "[&a 1, &a 2]\n",
    "&a [*a]\n",
    "&a {x: *a}\n",
    "{a: 1, a: 2}\n",
    "{1: a, true: b}\n",
    "{1: a, 1.0: b}\n",
    "{0: a, false: b}\n",
    "{.nan: a, .nan: b}\n",
    "{!!float nan: a, !!float nan: b}\n",
    "{~: a, null: b}\n",
    "{a: 1, a: 2, b: !!int x}\n",
    "a: !!int x\nb: [!!int y]\nc: !!int z\n",
    "a: [[!!int x]]\nb: [!!int y]\n",
    "a: {b: {c: !!int x}}\nd: [!!bool q]\n",
    "a: &s [!!int x]\nb: [[*s]]\nc: {d: *s}\n",
    "a: [[[&s {k: !!int x}]]]\nb: *s\nc: [!!int y]\n",
    "[a]: 1\n",
    "{a: 1}: 2\n",
    "? [a, b]\n: 1\n",
    "? a\n: b\n",
    "a: 1\n b: 2\n",
    "a: b: c\n",
    "[1, 2\n",
    "{a\n",
    "a: 'x\n",
    'a: "x\\q"\n',
    "a:\tb\n",
    "\ta: b\n",
    "a: 1\nb: \x01\n",
    "αβγ: δ\nb: \x07x\n",
    "a\rb: [\x0b",
    "a: [1,\n\u2028 2",
    "a: 1\r\nb: [\r\n",
    "\ufeffa: 1\n",
    "a: 1\n\ufeffb: 2\n",
    "- !!binary aGVsbG8=\n",
    "!!set {a, b}\n",
    "!!omap [a: 1]\n",
    "!!pairs [a: 1]\n",
    "a: 1e999\n",
    "a: -1e999\n",
    "a: " + "1" * 5000 + "\n",
    "a: " + "9" * 100 + "\n",
    "a: " + "9" * 101 + "\n",
    "k: !!map [1]\n",
    "k: !!seq {a: 1}\n",
    "k: !!str [1]\n",
    "k: !!null {a: 1}\n",
    "k: !foo [1]\n",
    "!<tag:yaml.org,2002:str> 12\n",
    "%TAG !e! tag:yaml.org,2002:\n---\n!e!int 7\n",
    # several errors: today's loader reports the one its breadth-first construction meets first
    "a: {b: {c: 1, c: 2}}\nd: !foo x\n",
    "a: [[{k: 1, k: 2}]]\nb: [{j: 1, j: 2}]\n",
    "- [{a: 1, a: 2}]\n- {<<: 1}\n",
    "a: [{x: 1, x: 2}]\nb: &m {<<: [1]}\n",
    "a: [[&s {k: !foo x}]]\nb: *s\nc: [!bar y]\n",
    "a: {b: !foo x}\nc: [\n",
    "a: {b: 1, b: 2}\n---\nc: [\n",
]


def test_the_error_reported_first_is_the_one_today_reports_first() -> None:
    """Not the first in the text: ruamel fills each level of the document before the next."""
    with pytest.raises(YamlError) as caught:
        load_all("a: {b: {c: 1, c: 2}}\nd: !foo x\n")
    assert (caught.value.line, caught.value.column) == (2, 4)
    with pytest.raises(YamlError) as caught:  # but a syntax error anywhere in the document comes first
        load_all("a: {b: !foo x}\nc: [\n")
    assert (caught.value.line, caught.value.column) == (3, 1)


def _factory_texts() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp), 3000)
        return [p.read_text(encoding="utf-8") for p in sorted(Path(tmp).rglob("*.yaml"))]


def test_every_manifest_in_the_repository() -> None:
    files = sorted((ROOT / "manifests").rglob("*.yaml"))
    assert files
    for path in files:
        check(path.read_text(encoding="utf-8"))


def test_a_generated_factory() -> None:
    texts = _factory_texts()
    assert len(texts) > 300
    for text in texts:
        theirs = list(safe_yaml().load_all(text))
        assert same(load_all(text), theirs)


@pytest.mark.parametrize("scalar", SCALARS)
def test_scalars_in_every_position(scalar: str) -> None:
    for text in (
        scalar,
        f"k: {scalar}\n",
        f"- {scalar}\n",
        f"[{scalar}]",
        f"{{k: {scalar}}}",
        f"{scalar}: v\n",
        f"{{{scalar}: v}}",
        f"k: [{scalar}, {scalar}]\n",
        f"a: &x {scalar}\nb: *x\n",
        f"? {scalar}\n: v\n",
        f"a: 1\n{scalar}: 2\n",
        f"--- {scalar}\n--- {scalar}\n",
    ):
        check(text)


@pytest.mark.parametrize("text", DOCUMENTS)
def test_documents(text: str) -> None:
    check(text)


# --------------------------------------------------------------------------- generated YAML


def _loads_cleanly(scalar: str) -> bool:
    texts = (f"k: {scalar}\n", f"- {scalar}\n", f"[{scalar}]", f"{{k: {scalar}}}", f"a: &x {scalar}\nb: *x\n")
    for text in texts:
        try:
            if _has_witness(list(safe_yaml().load_all(text))):
                return False
        except Exception:
            return False
    return "&" not in scalar


CLEAN_SCALARS = [s for s in SCALARS if _loads_cleanly(s)]
_WILD_KEYS = [
    "id",
    "name",
    "kind",
    "a",
    "b",
    "Κλειδί",
    "1",
    "true",
    "null",
    "~",
    "2026-12-04",
    ".nan",
    "1.0",
    "'a'",
    '"b"',
    "=",
    "x y",
]
_CLEAN_KEYS = [
    "id",
    "name",
    "kind",
    "a",
    "b",
    "Κλειδί",
    "1",
    "null",
    "2026-12-04",
    "x y",
    "'quoted'",
    '"2"',
    "=",
    "ΔΙΑΣΤΑΣΕΙΣ",
    "on",
]
_WILD_TEXT = st.text(alphabet="ab Κγ019-_.:,#&*!|>'\"%@[]{}?+~=\\/\t", min_size=0, max_size=8)
_CLEAN_TEXT = st.from_regex(r"[a-zα-ωΑ-Ω][a-zα-ωΑ-Ω0-9 ._-]{0,10}[a-zα-ω0-9]", fullmatch=True)
_QUOTED_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=10)
_TAGS = ["!!str", "!!int", "!!float", "!!bool", "!!null", "!", "!!timestamp"]


@st.composite
def yaml_texts(draw: st.DrawFn, clean: bool = False) -> str:
    """YAML text written the way people write it, with every scalar form, anchors, aliases and merges.

    ``clean`` texts are valid and refused by neither loader: unique keys, known anchors,
    scalars that mean something. Wild ones are often broken, to compare errors.
    """
    scalars = CLEAN_SCALARS if clean else SCALARS
    keys = _CLEAN_KEYS if clean else _WILD_KEYS
    plain_text = _CLEAN_TEXT if clean else _WILD_TEXT
    scalar_anchors: list[str] = []
    mapping_anchors: list[str] = []
    counter = [0]

    def new_anchor() -> str:
        counter[0] += 1
        return f"n{counter[0]}"

    def scalar() -> str:
        kind = draw(
            st.sampled_from(
                [
                    "sample",
                    "sample",
                    "sample",
                    "int",
                    "float",
                    "text",
                    "single",
                    "double",
                    "tagged",
                    "alias",
                    "anchored",
                ]
            )
        )
        if kind == "sample":
            return draw(st.sampled_from(scalars))
        if kind == "int":
            return str(draw(st.integers(-(10**30), 10**30)))
        if kind == "float":
            return repr(draw(st.floats(allow_nan=False, allow_infinity=False)))
        if kind == "text":
            return draw(plain_text)
        if kind == "single":
            return "'" + draw(_QUOTED_TEXT if clean else _WILD_TEXT).replace("'", "''") + "'"
        if kind == "double":
            return '"' + draw(_QUOTED_TEXT if clean else _WILD_TEXT).replace("\\", "\\\\").replace('"', '\\"') + '"'
        if kind == "tagged":
            if clean:
                return f"!!str {draw(st.sampled_from([s for s in scalars if not s.startswith('!')]))}"
            return f"{draw(st.sampled_from(_TAGS))} {draw(st.sampled_from(scalars))}"
        if kind == "alias" and scalar_anchors:
            return "*" + draw(st.sampled_from(scalar_anchors + (["nowhere"] if not clean else [])))
        name = new_anchor()
        text = f"&{name} {draw(st.sampled_from(scalars))}"
        scalar_anchors.append(name)
        return text

    def flow(depth: int) -> str:
        if depth <= 0 or draw(st.integers(0, 2)):
            return scalar()
        if draw(st.booleans()):
            return "[" + ", ".join(flow(depth - 1) for _ in range(draw(st.integers(0, 3)))) + "]"
        names = draw(st.lists(st.sampled_from(keys), max_size=3, unique=clean))
        return "{" + ", ".join(f"{name}: {flow(depth - 1)}" for name in names) + "}"

    def block(indent: int, depth: int) -> tuple[list[str], bool]:
        pad = " " * indent
        lines: list[str] = []
        mapping = draw(st.booleans())
        names = draw(st.lists(st.sampled_from(keys), min_size=1, max_size=4, unique=clean))
        merged = False
        for name in names:
            head = f"{pad}{name}:" if mapping else f"{pad}-"
            choice = draw(st.integers(0, 9))
            targets = mapping_anchors if clean else mapping_anchors + scalar_anchors
            if mapping and choice == 0 and targets and not (clean and merged):
                merged = True
                chosen = draw(st.lists(st.sampled_from(targets), min_size=1, max_size=2))
                lines.append(
                    f"{pad}<<: "
                    + (f"*{chosen[0]}" if len(chosen) == 1 else "[" + ", ".join(f"*{t}" for t in chosen) + "]")
                )
            elif choice <= 2 and depth > 0:
                name = new_anchor() if draw(st.integers(0, 3)) == 0 else ""
                if name and not clean:
                    mapping_anchors.append(name)  # before its content: it may alias itself (refused on purpose)
                lines.append(head + (f" &{name}" if name else ""))
                inner, inner_is_mapping = block(indent + 2, depth - 1)
                lines.extend(inner)
                if name and clean and inner_is_mapping:
                    mapping_anchors.append(name)
            elif choice == 3:
                style = draw(st.sampled_from(["|", ">", "|-", ">+", "|2"]))
                lines.append(f"{head} {style}")
                body = _CLEAN_TEXT if clean else _WILD_TEXT
                lines.extend(f"{pad}    {draw(body)}".rstrip() for _ in range(draw(st.integers(0, 3))))
            else:
                lines.append(f"{head} {flow(2)}")
            if draw(st.integers(0, 7)) == 0:
                lines[-1] += " # note"
        return lines, mapping

    documents = []
    for _ in range(draw(st.integers(1, 3))):
        documents.append("\n".join(block(0, 3)[0]) if draw(st.integers(0, 5)) else draw(st.sampled_from(["", "~"])))
        scalar_anchors.clear()
        mapping_anchors.clear()
    separator = "\n---\n" if clean else draw(st.sampled_from(["\n---\n", "\n...\n---\n"]))
    return separator.join(documents) + "\n"


def test_the_clean_scalars_are_most_of_them() -> None:
    assert len(CLEAN_SCALARS) > len(SCALARS) // 2


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(yaml_texts(clean=True))
def test_generated_valid_documents(text: str) -> None:
    assert _outcome(lambda t: list(safe_yaml().load_all(t)), text)[0] == "ok", text
    check(text)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(yaml_texts())
def test_generated_documents(text: str) -> None:
    check(text)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(yaml_texts(), st.data())
def test_mangled_documents(text: str, data: st.DataObject) -> None:
    """Cut, duplicate or overwrite a slice: mostly broken YAML, whose error must be found where today's is."""
    for _ in range(data.draw(st.integers(1, 3))):
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, min(len(text), start + 12)))
        insert = data.draw(
            st.sampled_from(
                [
                    "",
                    ":",
                    "- ",
                    "[",
                    "]",
                    "{",
                    "}",
                    ",",
                    "&a ",
                    "*a",
                    "!!int ",
                    "\n",
                    "\n  ",
                    "  ",
                    "'",
                    '"',
                    "#",
                    "? ",
                    "<<: ",
                    "---\n",
                    "\t",
                    "|",
                    text[start:end],
                ]
            )
        )
        text = text[:start] + insert + text[end:]
    check(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(YamlError):
            load_all(text)
        return
    check(text)
