"""Hostile and nonsensical YAML is refused quickly with a YamlError that says where and which limit."""

from __future__ import annotations

import pickle
import time

import pytest

import reconciler.manifests.yaml as yaml_module
from reconciler.manifests.yaml import Limits, YamlError, load_all

DEFAULT_LIMITS = Limits()


def refused(text: str, limits: Limits = DEFAULT_LIMITS, *, within: float = 0.5) -> YamlError:
    start = time.perf_counter()
    with pytest.raises(YamlError) as caught:
        load_all(text, limits=limits)
    assert time.perf_counter() - start < within, "refused, but too slowly"
    error = caught.value
    assert error.line >= 1 and error.column >= 1
    assert str(error).startswith(f"line {error.line}, column {error.column}: ")
    return error


def test_public_names() -> None:
    assert yaml_module.__all__ == ["Limits", "YamlError", "load_all"]


def test_limits_are_a_frozen_value_with_checked_fields() -> None:
    limits = Limits()
    assert (limits.max_bytes, limits.max_depth, limits.max_aliases, limits.max_alias_nodes, limits.max_int_digits) == (
        64 * 1024 * 1024,
        64,
        10_000,
        1_000_000,
        100,
    )
    with pytest.raises(AttributeError):
        limits.max_depth = 3  # type: ignore[misc]
    assert Limits(max_depth=8) == Limits(max_depth=8) and hash(Limits()) == hash(Limits())
    with pytest.raises(ValueError, match="max_depth"):
        Limits(max_depth=0)
    with pytest.raises(ValueError, match="4300"):
        Limits(max_int_digits=5000)


def test_the_error_survives_pickling_between_processes() -> None:
    error = refused("a: [" * 100, Limits(max_depth=4))
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.problem, copy.line, copy.column, copy.limit, str(copy)) == (
        error.problem,
        error.line,
        error.column,
        error.limit,
        str(error),
    )


# --------------------------------------------------------------------------- nesting


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,  # 200 KB: crashed the process
        "{a: " * 100_000 + "1" + "}" * 100_000,
        "- " * 100_000 + "x",
        "[" * 10_000 + "]" * 10_000,  # was a RecursionError
        "".join(" " * i + "a:\n" for i in range(2_000)),
        "a: &x " + "[" * 100_000,
    ],
)
def test_deep_nesting_is_refused_at_the_first_level_too_deep(text: str) -> None:
    error = refused(text, within=0.2)
    assert error.limit == "max_depth"
    assert "64" in error.problem and "max_depth" in error.problem
    assert error.line <= 65


def test_nesting_up_to_the_limit_is_fine() -> None:
    assert load_all("[" * 64 + "]" * 64)
    assert refused("[" * 65 + "]" * 65).column == 65
    assert load_all("a:\n  b:\n    c: [1]\n", limits=Limits(max_depth=4)) == [{"a": {"b": {"c": [1]}}}]
    assert refused("a:\n  b:\n    c: [1]\n", Limits(max_depth=3)).line == 3


# --------------------------------------------------------------------------- aliases

BILLION_LAUGHS = (
    "\n".join(
        ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
        + [f"{n}: &{n} [" + ",".join([f"*{p}"] * 9) + "]" for p, n in zip("abcdefgh", "bcdefghi", strict=True)]
    )
    + "\n"
)

MERGE_BOMB = (
    "\n".join(
        ["a: &a {x0: 1, x1: 1, x2: 1}"]
        + [
            f"{n}: &{n} {{<<: [" + ",".join([f"*{p}"] * 9) + "]}"
            for p, n in zip("abcdefghijklmno", "bcdefghijklmnop", strict=True)
        ]
    )
    + "\n"
)


def test_billion_laughs_is_refused_at_once() -> None:
    assert len(BILLION_LAUGHS) < 800
    error = refused(BILLION_LAUGHS, within=0.1)
    assert error.limit == "max_alias_nodes"
    assert error.line == 7  # the first line whose aliases pass a million nodes
    assert "alias" in error.problem


def test_merge_bomb_is_refused_at_once() -> None:
    error = refused(MERGE_BOMB, within=0.1)
    assert error.limit == "max_alias_nodes"


def test_ordinary_anchors_and_merges_are_kept() -> None:
    text = (
        "defaults: &defaults {workstation: LASER, job_task: Κοπή}\n"
        "steps:\n"
        "  - <<: *defaults\n"
        "  - <<: *defaults\n"
        "    job_task: Διάτρηση\n"
        "  - *defaults\n"
    )
    [doc] = load_all(text)
    assert doc["steps"] == [
        {"workstation": "LASER", "job_task": "Κοπή"},
        {"workstation": "LASER", "job_task": "Διάτρηση"},
        {"workstation": "LASER", "job_task": "Κοπή"},
    ]


def test_too_many_aliases() -> None:
    text = "a: &a 1\nb: [" + ", ".join(["*a"] * 11) + "]\n"
    assert load_all(text, limits=Limits(max_aliases=11))
    error = refused(text, Limits(max_aliases=10))
    assert (error.limit, error.line) == ("max_aliases", 2)


def test_alias_expansion_counts_nodes_as_if_written_out() -> None:
    text = "a: &a [1, 2, 3]\nb: [*a, *a]\n"  # each *a stands for 4 nodes
    assert load_all(text, limits=Limits(max_alias_nodes=8))
    assert refused(text, Limits(max_alias_nodes=7)).limit == "max_alias_nodes"


@pytest.mark.parametrize(
    "text, line, column",
    [
        ("&a [*a]\n", 1, 5),
        ("a: &a {x: [*a]}\n", 1, 12),
        ("- &m\n  <<: *m\n", 2, 7),  # today: {}
    ],
)
def test_an_alias_inside_the_node_it_names(text: str, line: int, column: int) -> None:
    error = refused(text)
    assert (error.line, error.column) == (line, column)
    assert "inside the node it names" in error.problem


# --------------------------------------------------------------------------- size


def test_file_size_limit_counts_utf8_bytes() -> None:
    assert load_all("a: " + "x" * 97, limits=Limits(max_bytes=100))
    error = refused("a: " + "x" * 98, Limits(max_bytes=100))
    assert (error.limit, error.line, error.column) == ("max_bytes", 1, 101)
    greek = "α: " + "β" * 50  # 104 bytes in 54 characters
    assert refused(greek, Limits(max_bytes=100)).limit == "max_bytes"


def test_a_huge_file_is_refused_without_parsing_it() -> None:
    error = refused("a: b\n" * (13 * 1024 * 1024 + 1), within=2.0)
    assert error.limit == "max_bytes"


# --------------------------------------------------------------------------- numbers


def test_integer_digits() -> None:
    assert load_all("a: " + "9" * 100) == [{"a": int("9" * 100)}]
    error = refused("x: 1\na: " + "9" * 101)
    assert (error.limit, error.line, error.column) == ("max_int_digits", 2, 4)
    assert "number too long" in error.problem
    assert refused("a: " + "1" * 5_000).limit == "max_int_digits"  # was a ValueError
    assert refused("a: !!int '" + "1" * 200 + "'").limit == "max_int_digits"
    assert refused("a: 0x" + "f" * 101).limit == "max_int_digits"
    assert load_all("a: '" + "1" * 5_000 + "'")  # quoted, it is text
    assert refused("a: 123456", Limits(max_int_digits=5)).limit == "max_int_digits"
    assert load_all("a: 123456") == [{"a": 123456}]  # the cache does not leak across limits


@pytest.mark.parametrize("text", ["a: 1e999", "a: -1e999", "a: !!float 1e400", "a: 1_0e999"])
def test_float_overflow_is_an_error(text: str) -> None:
    error = refused(text)
    assert (error.line, error.column) == (1, 4)
    assert "out of range" in error.problem and ".inf" in error.problem


def test_spelled_out_infinity_stays() -> None:
    assert load_all("[.inf, -.inf, !!float inf, !!float -Infinity, 1e-999]") == [
        [float("inf"), float("-inf"), float("inf"), float("-inf"), 0.0]
    ]


@pytest.mark.parametrize(
    "text, column",
    [
        ("a: +_", 4),
        ("a: -_", 4),
        ("a: 0x_", 4),
        ("a: 0b_", 4),
        ("a: ._", 4),
        ("a: !!int abc", 4),
        ("a: !!int ''", 4),
        ("a: !!int 1:30", 4),
        ("a: !!float abc", 4),
        ("a: !!bool maybe", 4),
        ("k: [1, !!int x]", 8),
    ],
)
def test_text_that_is_not_the_number_it_claims(text: str, column: int) -> None:
    error = refused(text)
    assert (error.line, error.column) == (1, column)
    assert error.limit is None


# --------------------------------------------------------------------------- keys and tags


@pytest.mark.parametrize(
    "text, line, column",
    [
        ("[a]: 1\n", 1, 1),
        ("{a: 1}: 2\n", 1, 1),
        ("? [a, b]\n: 1\n", 1, 3),
        ("x: 1\n? {a: 1}\n: 2\n", 2, 3),
        ("a: &k [1]\n*k : 2\n", 2, 1),
        ("{[a]: 1}\n", 1, 2),
    ],
)
def test_complex_keys(text: str, line: int, column: int) -> None:
    error = refused(text)
    assert (error.line, error.column) == (line, column)
    assert "cannot be a key" in error.problem


@pytest.mark.parametrize(
    "text, problem",
    [
        ("k: !!binary aGVsbG8=", "tag !!binary (binary data) is not accepted in manifests"),
        ("k: !!set {a, b}", "tag !!set (a set) is not accepted in manifests"),
        ("k: !!omap [a: 1]", "tag !!omap (an ordered map) is not accepted in manifests"),
        ("k: !!pairs [a: 1]", "tag !!pairs (a list of pairs) is not accepted in manifests"),
        ("k: !foo bar", "could not determine a constructor for the tag '!foo'"),
        ("k: !Ref [a]", "could not determine a constructor for the tag '!Ref'"),
        (
            "k: !!python/object:os.system x",
            "could not determine a constructor for the tag 'tag:yaml.org,2002:python/object:os.system'",
        ),
        ("k: !!str {=: 5}", "expected a scalar node, but found mapping"),  # today: "5"
        ("k: !!int [1]", "expected a scalar node, but found sequence"),
        ("k: !!map [1]", "expected a mapping node, but found sequence"),
        ("k: !!seq x", "expected a sequence node, but found scalar"),
    ],
)
def test_tags_other_than_the_standard_ones(text: str, problem: str) -> None:
    error = refused(text)
    assert (error.line, error.column, error.problem) == (1, 4, problem)


def test_standard_tags_are_kept() -> None:
    text = (
        "[!!str 1, !!int '2', !!float '3', !!bool yes, !!null x, !!timestamp 2026-13-45, ! 5, !!map {a: 1}, !!seq []]"
    )
    assert load_all(text) == [["1", 2, 3.0, True, None, "2026-13-45", 5, {"a": 1}, []]]


# --------------------------------------------------------------------------- syntax


@pytest.mark.parametrize(
    "text, line, column, problem",
    [
        ("a: 1\n b: 2\n", 2, 3, "mapping values are not allowed in this context"),
        ("a: [1, 2\n", 2, 1, "did not find expected ',' or ']'"),
        ("a: 1\nb: \x01\n", 2, 4, "control characters are not allowed"),
        ("αβγ: δ\nb: \x07x\n", 2, 4, "control characters are not allowed"),
        ("a: *nowhere\n", 1, 4, "found undefined alias"),
        ("[&a 1, &a 2]\n", 1, 8, "second occurrence"),  # ruamel's words, context: found duplicate anchor
        ("{a: 1, a: 2}\n", 1, 8, 'found duplicate key "a" with value "2" (original value: "1")'),
    ],
)
def test_syntax_errors_carry_their_position(text: str, line: int, column: int, problem: str) -> None:
    error = refused(text)
    assert (error.line, error.column, error.problem) == (line, column, problem)


def test_the_parser_context_is_kept_apart() -> None:
    error = refused("a: [1, 2\n")
    assert error.context == "while parsing a flow sequence"
    assert str(error) == "line 2, column 1: did not find expected ',' or ']' (while parsing a flow sequence)"


def test_a_lone_surrogate_is_a_yaml_error() -> None:
    assert refused("a: 1\nb: \ud800").line == 2
