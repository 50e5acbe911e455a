"""Bounds on request input, checked before any parser sees it.

Parsers recurse: Python's ``json`` raises RecursionError on ~1,000 nested brackets, and the CQL2
parser (Rust) overflows its stack — killing the process — on a few thousand nested parentheses or
NOTs, or ~15,000 ANDed terms. So every JSON body, every
JSON-valued search parameter and every filter is first measured here by a cheap linear scan
(length, bracket or parenthesis depth), and parsed values are then counted (nodes, vertices)
before any expensive step. A bound exceeded is a 400 problem naming the parameter and the bound.
"""
from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from flask import Flask, request

from exchange.core.problems import Problem

#: Nesting of arrays and objects in any JSON body or JSON parameter. GeoJSON needs 4 for a
#: MultiPolygon; a search body with a CQL2 JSON filter at MAX_FILTER_DEPTH needs about 40.
MAX_JSON_DEPTH = 64
#: Characters of a ``filter`` (CQL2 text, or CQL2 JSON as text): room for a 10,000-vertex polygon.
MAX_FILTER_CHARS = 500_000
#: Nesting of a filter: parentheses, NOT, comparisons, arithmetic, operators inside operators.
#: Real filters use under 6.
MAX_FILTER_DEPTH = 16
#: Operators, properties and literals of a filter or a ``query`` (geometry coordinates not counted);
#: for CQL2 text, its terms outside geometry literals.
MAX_FILTER_NODES = 5_000
#: Vertices of any geometry in a search: ``intersects`` and every spatial operator of a filter.
MAX_VERTICES = 10_000
#: Characters of ``intersects`` or ``query`` given as text (GET): room for MAX_VERTICES vertices.
MAX_PARAM_CHARS = 500_000
#: Entries of ``collections`` and ``ids``.
MAX_LIST_ITEMS = 1_000
#: Entries of ``sortby`` and of each of ``fields`` include/exclude (applied to every item rendered).
MAX_FIELD_ITEMS = 100


class LimitExceeded(Problem):
    """Input beyond one of the bounds above (HTTP 400); says which parameter and which bound."""

    status = 400
    title = "Input too large"

    def __init__(self, parameter: str, bound: str, limit: int, found: int | None = None) -> None:
        if found is None:
            message = f"{parameter} has more than {limit} {bound}"
        else:
            message = f"{parameter} has {found} {bound}; at most {limit} are accepted"
        super().__init__(message, errors=[{"field": parameter, "message": message}],
                         parameter=parameter, bound=bound, limit=limit)


def check_length(text: str | bytes, parameter: str, limit: int) -> None:
    if len(text) > limit:
        raise LimitExceeded(parameter, "characters", limit, len(text))


# -- JSON text ------------------------------------------------------------------------------------
#: A JSON string (escapes included; an unterminated one runs to the end, so the scan stays linear).
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\Z)', re.S)
_BRACKETS = bytes(range(256)).translate(None, b"[]{}")
_STEP = [1 if chr(b) in "[{" else -1 if chr(b) in "]}" else 0 for b in range(256)]


def json_depth(text: str | bytes) -> int:
    """The deepest nesting of arrays/objects in JSON text, without parsing it (strings skipped)."""
    if isinstance(text, bytes) and json.detect_encoding(text) != "utf-8":
        text = text.decode(json.detect_encoding(text), errors="replace")  # as json.loads would read it
    data = text.encode(errors="replace") if isinstance(text, str) else text
    skeleton = _JSON_STRING.sub(b"", data).translate(None, _BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, skeleton)), default=0)


def check_json_text(text: str | bytes, parameter: str, *, max_depth: int = MAX_JSON_DEPTH,
                    max_chars: int | None = None) -> None:
    """Length and nesting of JSON text, before ``json.loads`` (or any other parser) sees it."""
    if max_chars is not None:
        check_length(text, parameter, max_chars)
    depth = json_depth(text)
    if depth > max_depth:
        raise LimitExceeded(parameter, "levels of nested arrays/objects", max_depth, depth)


# -- parsed values --------------------------------------------------------------------------------
def count_nodes(value: Any, parameter: str, limit: int = MAX_FILTER_NODES) -> int:
    """Objects, arrays and scalars in a parsed JSON value (iteratively: the value may be deep)."""
    count, stack = 0, [value]
    while stack:
        node = stack.pop()
        count += 1
        if count > limit:
            raise LimitExceeded(parameter, "nodes", limit)
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return count


def count_vertices(geometry: Any) -> int:
    """Positions in a GeoJSON geometry's coordinates (any nesting, any collection), without Shapely."""
    count, stack = 0, [geometry]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.get(key) for key in ("coordinates", "geometries") if key in node)
        elif isinstance(node, list):
            if node and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in node):
                count += 1  # a position
            else:
                stack.extend(node)
    return count


def check_vertices(geometry: Any, parameter: str, limit: int = MAX_VERTICES) -> None:
    vertices = count_vertices(geometry)
    if vertices > limit:
        raise LimitExceeded(parameter, "vertices in one geometry (simplify it)", limit, vertices)


def _is_geometry(node: Any) -> bool:
    return isinstance(node, dict) and isinstance(node.get("type"), str) \
        and ("coordinates" in node or "geometries" in node)


def check_cql2_ast(ast: Any, parameter: str = "filter") -> None:
    """Depth (operators inside operators), node count and per-geometry vertices of a CQL2 JSON AST,
    before the translator walks it (recursively) or Shapely builds its geometries."""
    nodes, stack = 0, [(ast, 0)]
    while stack:
        node, depth = stack.pop()
        if _is_geometry(node):
            check_vertices(node, parameter)
            nodes += 1
            continue
        nodes += 1
        if nodes > MAX_FILTER_NODES:
            raise LimitExceeded(parameter, "nodes", MAX_FILTER_NODES)
        if isinstance(node, dict):
            if "op" in node:
                depth += 1
                if depth > MAX_FILTER_DEPTH:
                    raise LimitExceeded(parameter, "levels of nesting", MAX_FILTER_DEPTH)
            stack.extend((child, depth) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth) for child in node)


# -- CQL2 text ------------------------------------------------------------------------------------
_CQL2_TOKEN = re.compile(r"""
    (?P<string>'(?:[^']|'')*(?:'|\Z))          # a character literal ('' escapes a quote)
  | (?P<quoted>"[^"]*(?:"|\Z))                  # a double-quoted identifier
  | (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
  | (?P<word>[A-Za-z_][\w:.]*)
  | (?P<open>\()
  | (?P<close>\))
  | (?P<operator>[-+*/%^|]|<>|<=|>=|[=<>])
  | (?P<separator>,)
""", re.X)
#: Words whose parenthesised argument is a geometry literal: its signs are coordinates, not arithmetic.
_GEOMETRY_WORDS = {"POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON",
                   "GEOMETRYCOLLECTION", "BBOX", "ENVELOPE"}
#: Words that may nest what follows them (``NOT NOT x``, ``a = b = c`` recurse in the parser).
_CHAIN_WORDS = {"NOT", "DIV", "IS", "LIKE", "BETWEEN", "IN"}
#: Words after which a chain no longer nests: AND/OR lists are flat.
_CHAIN_BREAKS = {"AND", "OR"}


def cql2_text_measure(text: str) -> tuple[int, int]:
    """An upper estimate of the nesting the CQL2 text parser will recurse through, and the number
    of terms (words, numbers, strings, operators) outside geometry literals.

    Nesting counts open parentheses and, at each level, the run of operators (NOT, comparisons,
    arithmetic) since the last AND, OR or comma (``NOT NOT x``, ``1+1+1`` nest without
    parentheses; ``NOT (x)`` is one level, ``NOT a = 1`` two). Terms matter too: the parser also
    recurses along AND/OR lists, and overflows at ~15,000 terms. Strings, quoted names and the
    contents of geometry literals do not nest (their parentheses do).
    """
    stack: list[int] = []  # the depth each open parenthesis added
    depth = chain = deepest = terms = 0
    literal_at: int | None = None  # the stack height at which a geometry literal opened
    after_geometry_word = False
    for match in _CQL2_TOKEN.finditer(text):
        kind = match.lastgroup
        if kind == "open":
            added = max(1, chain)  # NOT (…) is one level, NOT NOT (…) two
            stack.append(added)
            depth += added
            chain = 0
            if after_geometry_word and literal_at is None:
                literal_at = len(stack)
        elif kind == "close":
            if stack:
                if literal_at == len(stack):
                    literal_at = None
                depth -= stack.pop()
            chain = 0
        elif literal_at is not None:
            pass  # coordinates
        elif kind == "separator":
            chain = 0
        else:
            terms += 1
            word = match.group().upper() if kind == "word" else ""
            if kind == "operator" or word in _CHAIN_WORDS:
                chain += 1
            elif word in _CHAIN_BREAKS:
                chain = 0
        after_geometry_word = kind == "word" and match.group().upper() in _GEOMETRY_WORDS
        deepest = max(deepest, depth + chain)
    return deepest, terms


def cql2_text_depth(text: str) -> int:
    return cql2_text_measure(text)[0]


def check_cql2_text(text: str, parameter: str = "filter") -> None:
    check_length(text, parameter, MAX_FILTER_CHARS)
    depth, terms = cql2_text_measure(text)
    if depth > MAX_FILTER_DEPTH:
        raise LimitExceeded(parameter, "levels of nesting", MAX_FILTER_DEPTH, depth)
    if terms > MAX_FILTER_NODES:
        raise LimitExceeded(parameter, "nodes", MAX_FILTER_NODES, terms)


# -- every JSON request body ----------------------------------------------------------------------
def _check_json_body() -> None:
    """Before any view, parser or extension (webargs, Authlib, ``get_json``) decodes a JSON body.

    The body's size is already bounded by MAX_CONTENT_LENGTH (413); this bounds its nesting.
    """
    if request.is_json:
        check_json_text(request.get_data(cache=True), "body")


def init_app(app: Flask) -> None:
    app.before_request(_check_json_body)
