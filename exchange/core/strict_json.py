"""JSON in as RFC 8259 defines it: no NaN, no Infinity, no number too large for a float.

Python's parser accepts ``NaN``, ``Infinity`` and turns ``1e999`` into infinity; a document holding one
then breaks later (PostgreSQL's JSONB refuses it, Shapely refuses the coordinate), as a 500. Refusing
them while parsing makes every such body a plain "not valid JSON" 400 before anything is written.
"""
from __future__ import annotations

import json
import math
from typing import Any

from flask.json.provider import DefaultJSONProvider


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is too large for a number")
    return value


def _bounded_int(text: str) -> int:
    """An integer a float can hold: a longer one would fail every numeric cast of it later (a 500)."""
    value = int(text)
    try:
        float(value)
    except OverflowError:
        raise ValueError(f"{text[:40]}… is too large for a number") from None
    return value


def loads(data: str | bytes, **kwargs: Any) -> Any:
    """``json.loads`` that raises ValueError on NaN, Infinity and numbers (also integers) overflowing a float."""
    return json.loads(data, parse_constant=_no_constant, parse_float=_finite, parse_int=_bounded_int, **kwargs)


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider (``request.get_json``) with the strict parser."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s, **kwargs)
