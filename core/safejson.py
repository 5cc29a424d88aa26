"""JSON from untrusted senders: nesting depth checked before the parser runs, so it cannot recurse too deep.

``json.loads`` recurses once per nesting level: a 2.4 KB body of ``[[[[…`` raises ``RecursionError`` (an HTTP 500 and
a message without a result code).  :func:`loads` first measures the nesting with a C-speed scan (strings blanked by
a regular expression, then the running sum of brackets with numpy) and refuses anything deeper than the limit with
:class:`JsonTooDeep`, a ``ValueError`` like every other refusal, so callers catching ``ValueError`` answer their usual
parse-error code.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

__all__ = ["DEFAULT_MAX_DEPTH", "JsonTooDeep", "depth", "loads"]

DEFAULT_MAX_DEPTH = 32

# A JSON string: quotes around anything but quote and backslash, or an escape (alternatives are disjoint: linear).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_STEP = np.zeros(256, dtype=np.int8)
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1


class JsonTooDeep(ValueError):
    """The document nests deeper than allowed."""


def depth(raw: bytes | str) -> int:
    """The deepest bracket nesting of ``raw`` outside strings (an upper bound for malformed text).

    >>> depth(b'{"a": [1, {"b": "[[["}]}')
    3
    """
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    if not any(c in data for c in (b"[", b"{")):
        return 0
    blanked = _STRING.sub(b'""', data) if b'"' in data else data
    step = _STEP[np.frombuffer(blanked, dtype=np.uint8)]
    return int(np.cumsum(step, dtype=np.int32).max(initial=0))


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python's json accepts NaN and Infinity; JSON (and jsonb) do not


def _finite(text: str) -> float:
    v = float(text)
    if math.isinf(v):
        raise ValueError(f"number {text[:20]} is out of range")  # 1e400 would be parsed as infinity
    return v


def loads(raw: bytes | str, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """``json.loads`` for untrusted input: :class:`JsonTooDeep` (a ``ValueError``) beyond ``max_depth`` levels.

    Raises
    ------
    ValueError
        Not JSON (``json.JSONDecodeError``, ``UnicodeDecodeError``, too many integer digits, ``NaN``, a number
        beyond float range) or too deep.
    """
    d = depth(raw)
    if d > max_depth:
        raise JsonTooDeep(f"JSON nests {d} levels deep; at most {max_depth} are accepted")
    try:
        return json.loads(raw, parse_constant=_not_json, parse_float=_finite)
    except RecursionError:  # cannot happen below the limit; belt and braces
        raise JsonTooDeep("JSON nests too deep") from None
