"""JSON as RFC 8259 has it, on every way into the server.

Python's `json` accepts `NaN`, `Infinity` and `-Infinity`, and reads `1e400` as infinity. None of
them is JSON: a strict parser (a browser's `JSON.parse` is lenient about nothing here, and neither is
`jq`) refuses a document holding them, and Starlette's own responses refuse to write them, so a
value like that, once stored, turned every later read of it into a 500. Everything that comes in
(request bodies, the shell runtime's protocol lines) is parsed here, and a document that is not
strict JSON, or is nested deeper than MAX_JSON_DEPTH, is refused before anything is stored.

MAX_JSON_DEPTH is the depth the client can read back: pydantic's JSON parser stops at 200 levels,
and a task's params sit a few levels down in a list page (array, task, params), so a limit well
under that keeps every stored value readable by `taskboard ls` and the board.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_JSON_DEPTH = 64


class NotStrictJson(ValueError):
    """A document Python's json reads but strict JSON does not (NaN, Infinity, 1e400), or too deep."""


def _no_constant(name: str) -> Any:
    raise NotStrictJson(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotStrictJson(f"{text[:40]} is out of range for a JSON number")
    return value


def depth(value: Any) -> int:
    """How deeply arrays and objects nest in `value` (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        level += 1
        deepest = max(deepest, level)
        stack.extend((child, level) for child in children)
    return deepest


def loads(data: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """json.loads, refusing what is not strict JSON. Raises json.JSONDecodeError for text that is not
    JSON at all, NotStrictJson for the rest."""
    try:
        value = json.loads(data, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise NotStrictJson(f"nested deeper than {max_depth} levels") from None
    if depth(value) > max_depth:
        raise NotStrictJson(f"nested deeper than {max_depth} levels")
    return value


def dumps(value: Any) -> str:
    """Compact JSON that refuses to write NaN or Infinity (a bug upstream, never a document)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False)
