"""The base of the reconciler's frozen pydantic values: light enough to hold 100,000 of.

pydantic keeps on every instance the set of the field names it was given
(``__pydantic_fields_set__``); a set of eight names takes 728 bytes, more than
the rest of a small value. A frozen value never changes its set, and values
built alike have equal sets, so each distinct set is kept once and shared: a
plan that creates 100,000 lines (an action and a label each) takes half the
memory. pydantic copies the set before changing it (``model_copy``), so the
shared one is never written to.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

_SHARED: dict[frozenset[str], set[str]] = {}
_LAST: dict[type, set[str]] = {}  # per class, the set its last value shared: usually the next one's too


class FrozenValue(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def model_post_init(self, context: Any) -> None:
        names = self.__pydantic_fields_set__
        shared = _LAST.get(type(self))
        if shared is None or shared != names:
            shared = _LAST[type(self)] = _SHARED.setdefault(frozenset(names), names)
        if shared is not names:
            object.__setattr__(self, "__pydantic_fields_set__", shared)
