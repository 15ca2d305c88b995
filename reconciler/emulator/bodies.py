"""Request bodies, read strictly: whatever a client sends, the answer is a 4xx, never a 500."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import RequestError

Model = TypeVar("Model", bound=BaseModel)
# A lone surrogate can only arrive as a \u escape (raw UTF-8 cannot carry one), so only bodies
# with such an escape need the full check.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _no_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity; JSON has neither, and no quantity should be one.
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes) -> Any:
    """The JSON value of ``raw`` (None when empty); invalid JSON answers 400 and is never parsed further."""
    if not raw:
        return None
    try:
        value = json.loads(raw, parse_constant=_no_constant)
        if SURROGATE_ESCAPE.search(raw):
            # SQLite and the answer are UTF-8: a string with half a surrogate pair cannot be stored or sent.
            json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise RequestError(400, "invalid JSON: a string holds a lone surrogate (\\ud800-\\udfff)") from None
    except (ValueError, RecursionError) as bad:
        raise RequestError(400, f"invalid JSON: {bad}") from None
    return value


def validated(model: type[Model], body: Any) -> Model:
    """``body`` as ``model``, or a 422 that says which field is wrong and why."""
    try:
        return model.model_validate(body)
    except ValidationError as bad:
        problems = bad.errors(include_url=False, include_input=False, include_context=False)
        raise RequestError(
            422,
            "; ".join(
                f"{'.'.join(str(part) for part in problem['loc']) or 'body'}: {problem['msg']}" for problem in problems
            ),
        ) from None
