"""Manifest YAML text -> plain Python data: ruamel.yaml's C parser, a fast builder, hard limits.

``load_all(text)`` gives the documents of one file exactly as ruamel.yaml's C-based
safe loader gives them with timestamps kept as text (``load.py``'s ``safe_yaml()``),
but builds them several times faster and refuses hostile input with a ``YamlError``.

How: ruamel.yaml.clib's ``CParser`` (libyaml: reader, scanner and parser, all in C,
none of them recursive) hands over events one at a time; one loop turns them into
dicts, lists and scalars with an explicit stack, so no input can exhaust the C or
the Python stack. Plain scalars are resolved with ruamel's own YAML 1.2 patterns,
in ruamel's order, and the result is cached by text: a key or value seen once is
never matched again.

What scalars mean (YAML 1.2 core, as ruamel reads it; a ``%YAML 1.1`` directive is
ignored by ruamel's C loader and so here too)::

    plain text                      value
    ~  null  Null  NULL  (empty)    None
    true True TRUE false ...        True / False      (yes, no, on, off, y, n: text)
    010   09   +1   -0   1_000      10  9  1  0  1000 (decimal; a leading 0 is not octal)
    0o10  0x1F  0b101               8  31  5          (0X1F, 0O10: text)
    1e3  1.  .5  +.5e-3             1000.0  1.0  0.5  0.0005  (.5e3: text, its exponent
                                                      has no sign)
    .inf  -.inf  +.inf  .nan        inf  -inf  inf  nan (-.nan: text)
    1:30                            text (no sexagesimals in 1.2)
    2026-12-04  2026-12-04T10:00:00Z  text, exactly as written (a bad date is the
                                    validator's to report, with its position)
    <<  (as a key)                  merge key: ``<<: *defaults`` works as today
    =   (as a key)                  the text "="

Quoted and block scalars are always text. Explicit tags keep ruamel's meaning:
``!!str``, ``!!timestamp`` (text), ``!!int``, ``!!float``, ``!!bool`` (which also
takes yes/no/on/off), ``!!null`` (None whatever the text), ``!!seq``, ``!!map``,
and ``!`` (resolve as if plain, even when quoted: ``! "123"`` is 123).

Duplicate keys are an error, with Python's equality (``1`` and ``true``, ``1`` and
``1.0``, two ``.nan``: one NaN object, as ruamel), except in a mapping whose merge
key brought something in, where the last one wins. Merged keys come first, own keys
override them; of a list of merged mappings the earlier wins. Aliases share the
object they name, as ruamel's do.

Deliberately NOT as today, each a ``YamlError`` with a position, where today's
loader returns something no manifest can use or crashes with a non-YAML error:

- an integer of more than ``Limits.max_int_digits`` digits (today: a huge int, or a
  ValueError past Python's 4,300-digit limit);
- a float literal that overflows, such as ``1e999`` (today: inf; write ``.inf``);
- text that matches a number pattern but is no number, such as ``+_``, ``0x_``,
  ``._``, ``!!int abc``, ``!!float abc``, ``!!bool maybe`` (today: ValueError,
  IndexError or KeyError);
- a mapping or a sequence used as a key (today: a tuple key, or an error);
- ``!!binary``, ``!!set``, ``!!omap``, ``!!pairs`` (today: bytes, set, OrderedDict,
  tuples) and a scalar tag on a collection (today ``!!str {=: x}`` gives "x");
- an alias inside the node it names, such as ``&a [*a]`` (today: a list that
  contains itself, which every later step loops on) or ``&a {<<: *a}`` (today: {});
- any limit in ``Limits`` (size, nesting, aliases, alias expansion).

Which error is reported when a document has several: a syntax error, an undefined
alias, a duplicate anchor, an alias inside its own node, a mapping or list as a key,
or a limit, first, in text order, as they are read; else the one ruamel's constructor
would hit first (it builds breadth-first), found by a second, slower pass that only
runs on a document known to be bad.

Errors: every failure is a ``YamlError`` (never RecursionError, ValueError,
MemoryError or a crash) with 1-based ``line`` and ``column``, a short ``problem``,
the parser's ``context`` if it gave one, and ``limit`` naming the ``Limits`` field
when a limit was hit. Where today's loader raises a YAML error with a position, the
position, problem and context are ruamel's, word for word (``found duplicate key
"name" with value "b" (original value: "a")``, ``while constructing a mapping``);
the refusals above and the limits have words of their own that say what to do.
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass
from typing import Any

from _ruamel_yaml import CParser  # type: ignore[import-not-found]  # ruamel.yaml.clib, as ruamel's C loader
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamStartEvent,
)
from ruamel.yaml.resolver import implicit_resolvers

__all__ = ["Limits", "YamlError", "load_all"]


@dataclass(frozen=True, slots=True)
class Limits:
    """What one manifest file may ask of the parser; past any of these it is refused.

    The defaults are far above what a factory's manifests need (about 8 levels of
    nesting, a handful of anchors) and far below what would hurt.
    """

    max_bytes: int = 64 * 1024 * 1024
    """Largest file, in bytes of UTF-8."""
    max_depth: int = 64
    """Deepest nesting of mappings and sequences; the document's top collection is level 1."""
    max_aliases: int = 10_000
    """Most ``*alias`` uses in one file."""
    max_alias_nodes: int = 1_000_000
    """Most nodes that aliases may stand for in one file, counted as if each alias were
    written out in full: a "billion laughs" file asks for 10**9 and is refused at once."""
    max_int_digits: int = 100
    """Longest integer, in digits after its sign and base prefix (at most 4,300, Python's own limit)."""

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_depth", "max_aliases", "max_alias_nodes", "max_int_digits"):
            if getattr(self, name) < 1:
                raise ValueError(f"Limits.{name} must be at least 1")
        if self.max_int_digits > 4300:
            raise ValueError("Limits.max_int_digits cannot exceed 4300, Python's limit for int(str)")


class YamlError(Exception):
    """A file that is not YAML we accept: a syntax error, a value we refuse, or a limit hit.

    ``line`` and ``column`` are 1-based. ``problem`` says what is wrong in a few
    words; ``context`` is what the parser was doing, when it said; ``limit`` is the
    name of the ``Limits`` field that was exceeded, or None.
    """

    def __init__(
        self, problem: str, line: int, column: int, *, context: str | None = None, limit: str | None = None
    ) -> None:
        super().__init__(problem, line, column)
        self.problem = problem
        self.line = line
        self.column = column
        self.context = context
        self.limit = limit

    def __str__(self) -> str:
        context = f" ({self.context})" if self.context else ""
        return f"line {self.line}, column {self.column}: {self.problem}{context}"

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild_error, (self.problem, self.line, self.column, self.context, self.limit)


def _rebuild_error(problem: str, line: int, column: int, context: str | None, limit: str | None) -> YamlError:
    return YamlError(problem, line, column, context=context, limit=limit)


def load_all(text: str, *, limits: Limits = Limits()) -> list[Any]:
    """Every document of ``text`` as plain data (dict, list, str, int, float, bool, None).

    An empty document is None; a text with no document (empty, or comments only)
    gives an empty list. Raises YamlError, and nothing else, for anything refused.
    """
    too_big = len(text) > limits.max_bytes  # every character is at least one byte
    if not too_big:
        try:
            data = text.encode("utf-8")  # libyaml reads UTF-8; ruamel's loader encodes the same way
        except UnicodeEncodeError as error:  # a lone surrogate: not text a file can hold
            line, column = _position(text[: error.start])
            raise YamlError("text holds a character that cannot be saved as UTF-8", line, column) from None
        too_big = len(data) > limits.max_bytes
    if too_big:
        head = text[: limits.max_bytes].encode("utf-8", "replace")[: limits.max_bytes]
        line, column = _position(head.decode("utf-8", "ignore"))
        raise YamlError(
            f"file is larger than {limits.max_bytes:,} bytes (limit max_bytes); split it into several manifest files",
            line,
            column,
            limit="max_bytes",
        )
    try:
        return _build(data, limits)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        raise YamlError(error.problem or "invalid YAML", line, column, context=error.context) from None
    except YAMLError as error:  # the reader's: control characters; it gives a byte offset
        offset = getattr(error, "position", 0) or 0
        line, column = _position(data[:offset].decode("utf-8", "replace"))
        reason = getattr(error, "reason", None) or str(error).splitlines()[0]
        raise YamlError(reason, line, column) from None
    except MemoryError:
        raise YamlError("out of memory while parsing", 1, 1) from None


# --------------------------------------------------------------------------- tags and scalars

_T = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL, _TIMESTAMP = (_T + n for n in ("str", "int", "float", "bool", "null", "timestamp"))
_SEQ, _MAP, _MERGE_TAG, _VALUE_TAG = _T + "seq", _T + "map", _T + "merge", _T + "value"
_REFUSED = {
    _T + "binary": "binary data",
    _T + "set": "a set",
    _T + "omap": "an ordered map",
    _T + "pairs": "a list of pairs",
}

# ruamel's YAML 1.2 implicit resolvers, by first character, in ruamel's order.
_RESOLVERS: dict[str, list[tuple[str, Any]]] = {}
for _versions, _tag, _regexp, _first in implicit_resolvers:
    if (1, 2) in _versions:
        for _ch in _first:
            _RESOLVERS.setdefault(_ch, []).append((_tag, _regexp.match))

_BOOLS = {"yes": True, "no": False, "y": True, "n": False, "true": True, "false": False, "on": True, "off": False}
_INF = float("inf")
_NAN = -_INF / _INF  # one NaN object for every .nan, as ruamel: two .nan keys are duplicates


class _Bad(Exception):
    """A scalar that cannot be the value its tag asks for; becomes a YamlError with its position."""

    def __init__(self, problem: str, limit: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.limit = limit

    def at(self, line: int, column: int) -> YamlError:
        return YamlError(self.problem, line, column, limit=self.limit)


class _Special:
    """A scalar that is only meaningful as a mapping key: ``<<`` (merge) or a ``!!value``."""

    __slots__ = ("tag", "text")

    def __init__(self, text: str, tag: str) -> None:
        self.text = text
        self.tag = tag


_MERGE = _Special("<<", _MERGE_TAG)
_MISS = object()


def _resolve_tag(value: str) -> str:
    for tag, match in _RESOLVERS.get(value[:1], ()):
        if match(value):
            return tag
    return _STR


def _to_int(text: str, limits: Limits) -> int:
    digits = text.replace("_", "")
    if not digits:
        raise _Bad(f"{text!r} is not an integer")
    sign = -1 if digits[0] == "-" else 1
    if digits[0] in "+-":
        digits = digits[1:]
    if digits == "0":
        return 0
    base = 10
    if digits.startswith(("0b", "0x", "0o")):
        base = {"b": 2, "x": 16, "o": 8}[digits[1]]
        digits = digits[2:]
    if len(digits) > limits.max_int_digits:
        raise _Bad(
            f"number too long: {len(digits):,} digits, more than {limits.max_int_digits} (limit max_int_digits); "
            "quote it if it is an id or a code",
            "max_int_digits",
        )
    try:
        return sign * int(digits, base)
    except ValueError:
        raise _Bad(f"{text!r} is not an integer") from None


def _to_float(text: str) -> float:
    digits = text.replace("_", "").lower()
    if not digits:
        raise _Bad(f"{text!r} is not a number")
    sign = -1 if digits[0] == "-" else 1
    if digits[0] in "+-":
        digits = digits[1:]
    if digits == ".inf":
        return sign * _INF
    if digits == ".nan":
        return _NAN
    try:
        value = sign * float(digits)
    except ValueError:
        raise _Bad(f"{text!r} is not a number") from None
    if math.isinf(value) and "n" not in digits:  # 1e999; but 'inf' spelled out stays inf
        raise _Bad(f"number out of range: {text} is too large for a float; write .inf if infinity is meant")
    return value


def _to_bool(text: str) -> bool:
    try:
        return _BOOLS[text.lower()]
    except KeyError:
        raise _Bad(f"{text!r} is not a boolean") from None


def _scalar(tag: str, text: str, limits: Limits) -> Any:
    """The value of a scalar node with a known tag; raises _Bad for what cannot be built."""
    if tag in (_STR, _TIMESTAMP):
        return text
    if tag == _INT:
        return _to_int(text, limits)
    if tag == _FLOAT:
        return _to_float(text)
    if tag == _BOOL:
        return _to_bool(text)
    if tag == _NULL:
        return None
    if tag == _MERGE_TAG:
        return _MERGE
    if tag == _VALUE_TAG:
        return _Special(text, _VALUE_TAG)
    if tag in (_SEQ, _MAP):
        raise _Bad(f"expected a {'sequence' if tag == _SEQ else 'mapping'} node, but found scalar")
    raise _Bad(_tag_problem(tag))


def _tag_problem(tag: str) -> str:
    if tag in _REFUSED:
        return f"tag {_short_tag(tag)} ({_REFUSED[tag]}) is not accepted in manifests"
    return f"could not determine a constructor for the tag {tag!r}"


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_T) :] if tag.startswith(_T) else tag


def _cache_for(limits: Limits) -> dict[str, Any]:
    """Plain scalar text -> value; one per integer-digit limit, the only limit a value depends on."""
    cache = _CACHES.get(limits.max_int_digits)
    if cache is None or len(cache) >= _CACHE_ENTRIES:
        cache = _CACHES[limits.max_int_digits] = {}
    return cache


# A decimal integer written with a leading zero (0412, -007): in manifests almost always an id or a code
# whose zeros matter, so it is refused rather than silently read as 412.
_LEADING_ZERO = re.compile(r"^[-+]?0[0-9_]*[0-9]$")

_CACHES: dict[int, dict[str, Any]] = {}
_CACHE_ENTRIES = 100_000
_CACHE_TEXT = 100  # longer texts are rarely repeated


def _plain(value: str, ev: Any, errors: list[YamlError], limits: Limits, cache: dict[str, Any]) -> Any:
    """A plain scalar not in the cache: resolved, built, cached when it is an ordinary value."""
    # Plain digits are the common case, and match only the int pattern.
    tag = _INT if value.isdigit() and value.isascii() else _resolve_tag(value)
    try:
        if tag == _INT and _LEADING_ZERO.match(value):
            raise _Bad(
                f"the number {value} has a leading zero, which YAML drops ({value} would be read as "
                f"{int(value.replace('_', ''))}); quote it ('{value}') if it is an id or a code"
            )
        obj = _scalar(tag, value, limits)
    except _Bad as bad:
        errors.append(bad.at(*_mark(ev)))
        return None
    if tag != _MERGE_TAG and tag != _VALUE_TAG and len(value) <= _CACHE_TEXT and len(cache) < _CACHE_ENTRIES:
        cache[value] = obj
    return obj


def _tagged(ev: Any, errors: list[YamlError], limits: Limits, cache: dict[str, Any]) -> Any:
    """A scalar with a tag or an anchor: the slower road, same meaning."""
    tag = ev.ctag
    value = ev.value
    if tag is None or tag == "!":
        if not ev.implicit[0]:
            return value
        obj = cache.get(value, _MISS)
        return _plain(value, ev, errors, limits, cache) if obj is _MISS else obj
    try:
        return _scalar(tag, value, limits)
    except _Bad as bad:
        errors.append(bad.at(*_mark(ev)))
        return None


# --------------------------------------------------------------------------- the builder

_KEY, _VAL, _ITEM, _MERGE_VAL = 0, 1, 2, 3  # what the open collection expects next
_OPEN = object()  # an anchor whose collection is still being read
_IN_MAPPING = "while constructing a mapping"
_COMPLEX_KEY_PROBLEM = "a mapping or a list cannot be a key; keys are plain values"


class _Extra:
    """Rare facts about the mapping being read: merge keys and duplicate keys."""

    __slots__ = ("duplicates", "merged_any", "merges")

    def __init__(self) -> None:
        self.merges: list[Any] = []
        self.merged_any = False
        self.duplicates: list[YamlError] = []


def _mark(ev: Any) -> tuple[int, int]:
    return ev.start_mark.line + 1, ev.start_mark.column + 1


def _merge_key(extra: _Extra | None, ev: Any, errors: list[YamlError]) -> _Extra:
    extra = extra or _Extra()
    if extra.merged_any:  # ruamel refuses a second << only once the first merged something
        errors.append(YamlError('found duplicate merge key "<<"', *_mark(ev), context=_IN_MAPPING))
    return extra


def _merge_value(extra: _Extra, obj: Any, ev: Any, errors: list[YamlError]) -> None:
    if obj.__class__ is dict:
        extra.merges.append(obj)
        extra.merged_any = extra.merged_any or bool(obj)
    elif obj.__class__ is list and all(item.__class__ is dict for item in obj):
        extra.merges.append(obj)
        extra.merged_any = extra.merged_any or any(obj)
    else:
        found = "sequence" if obj.__class__ is list else "scalar"
        errors.append(YamlError(_merge_problem(found), *_mark(ev), context=_IN_MAPPING))


def _duplicate(extra: _Extra | None, key: Any, ev: Any) -> _Extra:
    extra = extra or _Extra()
    extra.duplicates.append(YamlError(f'found duplicate key "{key}"', *_mark(ev), context=_IN_MAPPING))
    return extra


def _finish_mapping(cur: dict[Any, Any], extra: _Extra, errors: list[YamlError]) -> dict[Any, Any]:
    if not extra.merged_any:  # no merge, or only empty ones: keys must be unique, as ruamel checks
        errors.extend(extra.duplicates)
        return cur
    merged: dict[Any, Any] = {}
    for source in extra.merges:
        if source.__class__ is dict:
            merged.update(source)
        else:  # a list of mappings: earlier ones win, later ones' keys come first, as ruamel
            for item in reversed(source):
                merged.update(item)
    merged.update(cur)
    return merged


def _misplaced(obj: _Special, ev: Any, errors: list[YamlError]) -> Any:
    """Records a merge key or a !!value used as a value; the value is None from here on."""
    errors.append(YamlError(_misplaced_problem(obj.tag), *_mark(ev)))
    return None


def _misplaced_problem(tag: str) -> str:
    return f"could not determine a constructor for the tag {tag!r}"  # as ruamel: << or = as a value


def _limit(problem: str, ev: Any, limit: str) -> YamlError:
    line, column = _mark(ev)
    return YamlError(problem, line, column, limit=limit)


def _build(data: bytes, limits: Limits) -> list[Any]:
    """One pass over the parser's events; see the module docstring for the meaning it keeps."""
    cache = _cache_for(limits)
    cache_get = cache.get
    get = CParser(data).get_event
    max_depth = limits.max_depth
    docs: list[Any] = []
    errors: list[YamlError] = []  # the current document's problems, reported at its end
    stack: list[tuple[Any, ...]] = []
    anchors: dict[str, Any] = {}
    cur: Any = None
    mode = _ITEM
    key: Any = None
    extra: _Extra | None = None
    produced = aliases = expanded = 0
    doc_index = -1
    while True:
        ev = get()
        cls = ev.__class__
        if cls is ScalarEvent:
            produced += 1
            if ev.ctag is None and ev.anchor is None:
                # The hot path: an untagged, unanchored scalar.
                if ev.implicit[0]:
                    value = ev.value
                    obj = cache_get(value, _MISS)
                    if obj is _MISS:
                        obj = _plain(value, ev, errors, limits, cache)
                        if obj.__class__ is _Special:
                            if mode is _KEY:
                                if obj is _MERGE:
                                    extra = _merge_key(extra, ev, errors)
                                    mode = _MERGE_VAL
                                    continue
                                obj = obj.text
                            else:
                                obj = _misplaced(obj, ev, errors)
                else:
                    obj = ev.value
                if mode is _KEY:
                    key = obj
                    mode = _VAL
                elif mode is _VAL:
                    if key in cur:
                        extra = _duplicate(extra, key, ev)
                    cur[key] = obj
                    mode = _KEY
                elif mode is _ITEM:
                    cur.append(obj)
                else:
                    _merge_value(extra, obj, ev, errors)  # type: ignore[arg-type]
                    mode = _KEY
                continue
            obj = _tagged(ev, errors, limits, cache)
            anchor = ev.anchor
            if anchor is not None:
                _check_anchor(anchors, anchor, ev)
                anchors[anchor] = (obj, 1)
            where = None
        elif cls is MappingStartEvent or cls is SequenceStartEvent:
            produced += 1
            anchor = ev.anchor
            if anchor is not None:
                _check_anchor(anchors, anchor, ev)
                anchors[anchor] = _OPEN
            tag = ev.ctag
            if tag is not None and tag != "!" and tag != (_MAP if cls is MappingStartEvent else _SEQ):
                kind = "mapping" if cls is MappingStartEvent else "sequence"
                errors.append(YamlError(_collection_tag_problem(tag, kind), *_mark(ev)))
            stack.append((cur, mode, key, extra, ev, produced))
            if len(stack) > max_depth:
                raise _limit(
                    f"nesting deeper than {max_depth} levels (limit max_depth); manifests need about 8: "
                    "check the indentation and the brackets here",
                    ev,
                    "max_depth",
                )
            if cls is MappingStartEvent:
                cur = {}
                mode = _KEY
            else:
                cur = []
                mode = _ITEM
            extra = None
            continue
        elif cls is MappingEndEvent or cls is SequenceEndEvent:
            obj = cur if extra is None else _finish_mapping(cur, extra, errors)
            cur, mode, key, extra, where, start = stack.pop()
            if where.anchor is not None:
                anchors[where.anchor] = (obj, produced - start + 1)
        elif cls is AliasEvent:
            entry = anchors.get(ev.anchor)
            if entry is None:
                line, column = _mark(ev)
                raise YamlError("found undefined alias", line, column)
            if entry is _OPEN:
                line, column = _mark(ev)
                raise YamlError(f"alias *{ev.anchor} is inside the node it names, which would never end", line, column)
            obj, size = entry
            aliases += 1
            expanded += size
            produced += size
            if aliases > limits.max_aliases:
                raise _limit(
                    f"more than {limits.max_aliases:,} aliases in one file (limit max_aliases); "
                    "write the values out or split the file",
                    ev,
                    "max_aliases",
                )
            if expanded > limits.max_alias_nodes:
                raise _limit(
                    f"aliases expand to more than {limits.max_alias_nodes:,} nodes (limit max_alias_nodes); "
                    "this looks like an alias bomb: aliases of aliases multiply",
                    ev,
                    "max_alias_nodes",
                )
            where = ev if obj.__class__ is dict or obj.__class__ is list else None
        elif cls is DocumentStartEvent:
            doc_index += 1
            cur = []
            mode = _ITEM
            anchors = {}
            continue
        elif cls is DocumentEndEvent:
            if errors:
                raise _first_error(data, doc_index, limits, errors[0])
            docs.append(cur[0])
            continue
        elif cls is StreamStartEvent:
            continue
        else:  # StreamEndEvent
            return docs

        # A value that is not a plain scalar: a tagged or anchored scalar, an alias, a collection.
        if mode is _KEY:
            if obj is _MERGE:
                extra = _merge_key(extra, ev, errors)
                mode = _MERGE_VAL
                continue
            if where is not None:  # refused at once: today's loader has no error here to come first
                raise YamlError(_COMPLEX_KEY_PROBLEM, *_mark(where))
            if obj.__class__ is _Special:
                obj = obj.text
            key = obj
            mode = _VAL
            continue
        if mode is _MERGE_VAL:
            _merge_value(extra, obj, ev, errors)  # type: ignore[arg-type]
            mode = _KEY
            continue
        if obj.__class__ is _Special:
            obj = _misplaced(obj, ev, errors)
        if mode is _VAL:
            if key in cur:
                extra = _duplicate(extra, key, ev)
            cur[key] = obj
            mode = _KEY
        else:
            cur.append(obj)


def _check_anchor(anchors: dict[str, Any], anchor: str, ev: Any) -> None:
    if anchor in anchors:
        line, column = _mark(ev)
        raise YamlError("second occurrence", line, column, context="found duplicate anchor; first occurrence")


def _collection_tag_problem(tag: str, kind: str) -> str:
    """ruamel's words for a collection under a tag it cannot take (kind: "mapping" or "sequence")."""
    if tag in (_SEQ, _MAP):
        return f"expected a {'sequence' if tag == _SEQ else 'mapping'} node, but found {kind}"
    if tag in (_STR, _INT, _FLOAT, _BOOL, _NULL, _TIMESTAMP):
        return f"expected a scalar node, but found {kind}"
    return _tag_problem(tag)


def _merge_problem(found: str) -> str:
    return f"expected a mapping or list of mappings for merging, but found {found}"


# --------------------------------------------------------------------------- which error first


def _first_error(data: bytes, doc_index: int, limits: Limits, fallback: YamlError) -> YamlError:
    """The error ruamel's constructor would raise first in a document known to be bad.

    ruamel builds a document's collections breadth-first (each level after the one
    above it), so the first problem in the text is not always the one it reports.
    This composes the document again as nodes and replays that order.
    """
    try:
        _replay(_compose(data, doc_index), limits)
    except _Found as found:
        return found.error
    except RecursionError:  # only with a max_depth far above the default
        pass
    return fallback


class _Node:
    __slots__ = ("column", "kind", "line", "merge", "tag", "value")

    def __init__(self, kind: str, tag: str, value: Any, ev: Any) -> None:
        self.kind = kind  # "scalar", "sequence" or "mapping"
        self.tag = tag
        self.value = value
        self.line, self.column = _mark(ev) if ev is not None else (1, 1)
        self.merge: list[Any] | None = None


class _Found(Exception):
    def __init__(self, node: _Node, problem: str, *, context: str | None = None, limit: str | None = None) -> None:
        super().__init__(problem)
        self.error = YamlError(problem, node.line, node.column, context=context, limit=limit)


def _compose(data: bytes, doc_index: int) -> _Node:
    """Document number ``doc_index`` as nodes, as ruamel's C composer builds them (tags resolved)."""
    get = CParser(data).get_event
    seen = -1
    while seen < doc_index:
        if get().__class__ is DocumentStartEvent:
            seen += 1
    anchors: dict[str, _Node] = {}
    stack = [_Node("sequence", _SEQ, [], None)]
    while True:
        ev = get()
        cls = ev.__class__
        if cls is DocumentEndEvent:
            return stack[0].value[0]
        if cls is AliasEvent:
            node = anchors[ev.anchor]
        elif cls is ScalarEvent:
            tag = ev.ctag
            if tag is None or tag == "!":
                tag = _resolve_tag(ev.value) if ev.implicit[0] else _STR
            node = _Node("scalar", tag, ev.value, ev)
            if ev.anchor is not None:
                anchors[ev.anchor] = node
        elif cls is MappingStartEvent or cls is SequenceStartEvent:
            kind, default = ("mapping", _MAP) if cls is MappingStartEvent else ("sequence", _SEQ)
            tag = ev.ctag
            node = _Node(kind, default if tag is None or tag == "!" else tag, [], ev)
            if ev.anchor is not None:
                anchors[ev.anchor] = node
            stack.append(node)
            continue
        else:  # the end of a collection
            node = stack.pop()
            if node.kind == "mapping":
                items = iter(node.value)
                node.value = list(zip(items, items, strict=False))  # pairs of one iterator
        stack[-1].value.append(node)


def _replay(root: _Node, limits: Limits) -> None:
    """ruamel's SafeConstructor, run on our nodes until its first error (raised as _Found).

    Collections are filled breadth-first through one queue, as ruamel's generators
    are; keys are built at once (deep); merge keys are flattened on the nodes.
    """
    built: dict[int, Any] = {}
    queue: deque[_Node] = deque()

    def construct(node: _Node, deep: bool) -> Any:
        if id(node) in built:
            return built[id(node)]
        tag = node.tag
        if tag in (_SEQ, _MAP):
            value: Any = [] if tag == _SEQ else {}
            built[id(node)] = value
            if deep:
                fill(node, deep)
            else:
                queue.append(node)
            return value
        if node.kind != "scalar":
            raise _Found(node, _collection_tag_problem(tag, node.kind))
        try:
            value = _scalar(tag, node.value, limits)
        except _Bad as bad:
            raise _Found(node, bad.problem, limit=bad.limit) from None
        if value.__class__ is _Special:
            raise _Found(node, _misplaced_problem(tag))
        built[id(node)] = value
        return value

    def fill(node: _Node, deep: bool) -> None:
        wanted = "sequence" if node.tag == _SEQ else "mapping"
        if node.kind != wanted:
            raise _Found(node, f"expected a {wanted} node, but found {node.kind}")
        if node.kind == "sequence":
            built[id(node)].extend([construct(child, deep) for child in node.value])
            return
        flatten(node)
        total: dict[Any, Any] = {}
        for pairs, check in [(node.merge, False), (node.value, False)] if node.merge else [(node.value, True)]:
            mapping: dict[Any, Any] = {}
            for key_node, value_node in pairs:
                key = construct(key_node, True)
                if key.__class__ is dict or key.__class__ is list:
                    raise _Found(key_node, _COMPLEX_KEY_PROBLEM)
                value = construct(value_node, deep)
                if check and key in mapping:
                    raise _Found(
                        key_node,
                        f'found duplicate key "{key}" with value "{value}" (original value: "{mapping[key]}")',
                        context=_IN_MAPPING,
                    )
                mapping[key] = value
            total.update(mapping)
        built[id(node)].update(total)

    def flatten(node: _Node) -> None:
        merge: list[Any] = []
        index = 0
        while index < len(node.value):
            key_node, value_node = node.value[index]
            if key_node.tag == _MERGE_TAG:
                if merge:
                    raise _Found(key_node, 'found duplicate merge key "<<"', context=_IN_MAPPING)
                del node.value[index]
                if value_node.kind == "mapping":
                    flatten(value_node)
                    merge.extend(value_node.value)
                elif value_node.kind == "sequence":
                    submerge = []
                    for sub in value_node.value:
                        if sub.kind != "mapping":
                            raise _Found(
                                sub, f"expected a mapping for merging, but found {sub.kind}", context=_IN_MAPPING
                            )
                        flatten(sub)
                        submerge.append(sub.value)
                    for value in reversed(submerge):
                        merge.extend(value)
                else:
                    raise _Found(value_node, _merge_problem(value_node.kind), context=_IN_MAPPING)
            else:
                if key_node.tag == _VALUE_TAG:
                    key_node.tag = _STR
                index += 1
        if merge:
            node.merge = merge
            node.value = merge + node.value

    construct(root, False)
    while queue:
        fill(queue.popleft(), False)


# --------------------------------------------------------------------------- positions

_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # what libyaml counts as a line break


def _position(before: str) -> tuple[int, int]:
    """1-based line and column just after ``before``, counting lines as libyaml does."""
    if not any(ch in before for ch in "\r\x85\u2028\u2029"):
        return before.count("\n") + 1, len(before) - before.rfind("\n")
    line, start = 1, 0
    for match in _BREAK.finditer(before):
        line += 1
        start = match.end()
    return line, len(before) - start + 1
