"""Small helpers for messages people read: suggestions and short quotes of values."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable
from typing import Any


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """'; did you mean X?' for the closest choice, or nothing."""
    if len(word) > 100:  # no typo of a name; and a huge word would cost its length for every choice
        return ""
    options = tuple(choices)
    # A few choices (the fields of a kind) are remembered with the word: a generated file can misspell one
    # field a million times, and difflib is slow. Long lists (every id) are not kept alive by the cache.
    return _closest(word, options) if len(options) <= 64 else _closest.__wrapped__(word, options)


@functools.lru_cache(maxsize=1024)
def _closest(word: str, choices: tuple[str, ...]) -> str:
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


def short(value: Any, limit: int = 60) -> str:
    """A value as an error quotes it: never more than ``limit`` characters, whatever its size or depth."""
    if isinstance(value, (dict, list, tuple)):
        text = f"<{type(value).__name__} of {len(value)} items>"
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**40:
        text = "<a very long number>"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
