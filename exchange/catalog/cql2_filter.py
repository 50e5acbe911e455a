"""The STAC ``filter`` parameter: CQL2 (text or JSON) to a SQLAlchemy boolean expression.

The ``cql2`` package parses; this module checks and translates its JSON AST, against a fixed set of
queryables, so a filter can reach no column the server did not choose to expose — and, given a
``DocumentProperties``, any other property of the item document, read as the kind of the literal (or
column) it is compared with. The SQL is portable: the one backend-specific predicate (spatial
intersection) comes from the caller's ``SpatialOps``, and LIKE is compiled per dialect so that it is
case-sensitive everywhere.

Timestamp literals (``{"timestamp": ...}``, ``{"date": ...}``, or a plain RFC 3339 string compared with a
timestamp property) are bound as timezone-aware UTC datetimes; a date means midnight UTC. Storing and comparing
them is the column type's business (SDX's ``UTCDateTime``). Timestamp properties are treated as instants.
"""
from __future__ import annotations

import json
import operator
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any, Mapping, Protocol

import cql2
import shapely
from shapely.errors import ShapelyError
from shapely.geometry import shape
from sqlalchemy import Boolean, ColumnElement, and_, false, literal, not_, or_, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from exchange.catalog.spatial import range_problem
from exchange.catalog.stac import parse_rfc3339
from exchange.core import limits


class FilterError(ValueError):
    """A filter a person can fix: the message names the offending operator or property."""


@dataclass(frozen=True)
class Queryable:
    column: Any  # a SQLAlchemy column expression
    kind: str  # "number" | "string" | "timestamp" | "geometry" | "boolean"


class SpatialOps(Protocol):
    def intersects(self, geometry_column, geom: shapely.Geometry) -> ColumnElement[bool]: ...


class DocumentProperties(Protocol):
    """Properties beyond the queryables' columns, read from each item's document. Their kind is not
    known beforehand: it is taken from what they are compared with."""

    def name(self, name: str) -> str | None: ...  # the property's name if it may be queried, else None

    def typed(self, name: str, kind: str) -> Any: ...  # its values of that kind (others are NULL)

    def is_null(self, name: str) -> ColumnElement[bool]: ...


def parse_filter(filter_value, filter_lang: str | None) -> dict:
    """Parse and schema-validate a STAC ``filter``; return its CQL2 JSON AST.

    The default language follows the value: a string is cql2-text, anything else cql2-json. Its size
    is bounded before the parser sees it (``limits.LimitExceeded``, a 400 naming the bound).
    """
    lang = filter_lang or ("cql2-text" if isinstance(filter_value, str) else "cql2-json")
    if lang not in ("cql2-text", "cql2-json"):
        raise FilterError(f"unknown filter-lang {lang!r}; use cql2-text or cql2-json")
    if lang == "cql2-text" and not isinstance(filter_value, str):
        raise FilterError("a cql2-text filter must be a string")
    text = filter_value if isinstance(filter_value, str) else json.dumps(filter_value, sort_keys=True)
    if lang == "cql2-text":
        limits.check_cql2_text(text)
    else:  # an operator is an object holding an array: two JSON levels, and a few more for a geometry
        limits.check_json_text(text, "filter", max_depth=2 * limits.MAX_FILTER_DEPTH + 6,
                               max_chars=limits.MAX_FILTER_CHARS)
    return _parse(lang, text)


def _parse(lang: str, text: str):
    """The filter parsed (~0.1 ms for a typical one; not cached, as a cache of filters up to
    MAX_FILTER_CHARS could hold gigabytes) and measured: depth, nodes, vertices.

    Not run through cql2's JSON-schema validation: it costs ~20 ms a call, grows about quadratically
    with nesting (seconds at 50 levels) and holds the GIL for part of it, stalling other requests.
    The translator below is the validator: it accepts only the operators, arities and operand kinds
    it knows, and names what it refuses.
    """
    try:
        # parse_json takes text only; Expr(dict) would raise a bare Exception
        expr = cql2.parse_text(text) if lang == "cql2-text" else cql2.parse_json(text)
        ast = expr.to_json()
    except (cql2.ParseError, cql2.ValidationError) as exc:
        raise FilterError(f"invalid {lang}: {exc}") from None
    limits.check_cql2_ast(ast)
    return ast


def to_sqlalchemy(ast: dict, queryables: Mapping[str, Queryable], spatial: SpatialOps,
                  documents: DocumentProperties | None = None) -> ColumnElement[bool]:
    """Translate a CQL2 JSON AST into a WHERE clause over the queryables' columns (and, given
    ``documents``, any other property)."""
    return _Translator(queryables, spatial, documents).predicate(ast)


_COMPARISONS = {"=": operator.eq, "<>": operator.ne, "<": operator.lt, "<=": operator.le,
                ">": operator.gt, ">=": operator.ge}
_TEMPORAL = {"t_before", "t_after", "t_intersects"}
#: The same predicate with its two operands swapped, so that the property can always be on the left.
_SWAPPED = {"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<=", "s_intersects": "s_intersects",
            "t_intersects": "t_intersects", "t_before": "t_after", "t_after": "t_before"}
_SUPPORTED = ["and", "or", "not", *_COMPARISONS, "isNull", "like", "between", "in", "s_intersects", *sorted(_TEMPORAL)]
#: Kinds with an order; booleans only have equality and IN, geometries only isNull and s_intersects.
_ORDERED = {"number", "string", "timestamp"}
_SCALAR = _ORDERED | {"boolean"}
#: The kinds a document property can be read as.
_DOCUMENT_KINDS = {"number", "string", "boolean"}


class _Translator:
    def __init__(self, queryables: Mapping[str, Queryable], spatial: SpatialOps,
                 documents: DocumentProperties | None) -> None:
        self.queryables = queryables
        self.spatial = spatial
        self.documents = documents

    def predicate(self, node: Any) -> ColumnElement[bool]:
        if isinstance(node, bool):
            return true() if node else false()
        if not isinstance(node, dict) or not isinstance(node.get("op"), str):
            raise FilterError(f"expected a predicate, got {_show(node)}")
        op, args = node["op"], node.get("args")
        if not isinstance(args, list):
            raise FilterError(f"operator {op!r} needs a list of arguments")
        if op in ("and", "or"):
            if not args:
                raise FilterError(f"operator {op!r} needs at least one argument")
            parts = [self.predicate(arg) for arg in args]
            return and_(*parts) if op == "and" else or_(*parts)
        if op == "not":
            return not_(self.predicate(*_arity(op, args, 1)))
        if op == "isNull":
            (node,) = _arity(op, args, 1)
            document_name = self.document_name(node)
            if document_name is not None:
                return self.documents.is_null(document_name)
            return self.queryable(op, node)[1].column.is_(None)
        if op in _SWAPPED:
            left, right = _arity(op, args, 2)
            if _is_property(right) and not _is_property(left):
                op, left, right = _SWAPPED[op], right, left
            return self.binary(op, left, right)
        if op == "like":
            prop, pattern = _arity(op, args, 2)
            name, q = self.queryable(op, prop, kinds={"string"}, document_kind="string")
            return _case_sensitive_like(q.column, _literal(op, name, q.kind, pattern))
        if op == "between":
            prop, low, high = _arity(op, args, 3)
            # CQL2 defines BETWEEN on numbers only
            name, q = self.queryable(op, prop, kinds={"number"}, document_kind="number")
            return q.column.between(_literal(op, name, q.kind, low), _literal(op, name, q.kind, high))
        if op == "in":
            prop, values = _arity(op, args, 2)
            if not isinstance(values, list):
                raise FilterError(f"operator 'in' needs a list of values, got {_show(values)}")
            kinds = {_literal_kind(value) for value in values}
            name, q = self.queryable(op, prop, kinds=_SCALAR, document_kind=kinds.pop() if len(kinds) == 1 else None)
            return q.column.in_([_literal(op, name, q.kind, value) for value in values])
        raise FilterError(f"operator {op!r} is not supported; supported: {', '.join(_SUPPORTED)}")

    def binary(self, op: str, left: Any, right: Any) -> ColumnElement[bool]:
        if op == "s_intersects":
            _, q = self.queryable(op, left, kinds={"geometry"})
            return self.spatial.intersects(q.column, _geometry(right))
        if op in _TEMPORAL:
            name, q = self.queryable(op, left, kinds={"timestamp"})
            return _temporal(op, q.column, name, right)
        kinds = _SCALAR if op in ("=", "<>") else _ORDERED
        if not _is_property(right):
            kind = _literal_kind(right) if self.document_name(left) is not None else None
            name, q = self.queryable(op, left, kinds=kinds, document_kind=kind)
            return _COMPARISONS[op](q.column, _literal(op, name, q.kind, right))
        # property against property: same kind only; a document property takes the other side's kind
        if self.document_name(left) is not None and self.document_name(right) is not None:
            raise FilterError(f"operator {op!r}: {left['property']!r} and {right['property']!r} are both read from "
                              "the item document, so their type is unknown; compare one with a literal")
        if self.document_name(left) is not None:
            _, other = self.queryable(op, right, kinds=kinds)
            _, q = self.queryable(op, left, kinds={other.kind}, document_kind=other.kind)
        else:
            _, q = self.queryable(op, left, kinds=kinds)
            _, other = self.queryable(op, right, kinds={q.kind}, document_kind=q.kind)
        return _COMPARISONS[op](q.column, other.column)

    def document_name(self, node: Any) -> str | None:
        """The name of the document property ``node`` refers to, if it is one (not a queryable column)."""
        if not _is_property(node) or self.documents is None or self._column_name(node["property"]) is not None:
            return None
        return self.documents.name(node["property"])

    def _column_name(self, name: str) -> str | None:
        for candidate in (name, name.removeprefix("properties.")):
            if candidate in self.queryables:
                return candidate
        return None

    def queryable(self, op: str, node: Any, kinds: set[str] | None = None,
                  document_kind: str | None = None) -> tuple[str, Queryable]:
        """The queryable a ``{"property": name}`` operand names, checked against the kinds ``op`` accepts.
        A document property is read as ``document_kind``: the kind of what it is compared with."""
        if not _is_property(node):
            _reject_function(node)
            raise FilterError(f"operator {op!r} needs a property operand, got {_show(node)}")
        name = node["property"]
        column_name = self._column_name(name)
        if column_name is not None:
            name, q = column_name, self.queryables[column_name]
        elif self.document_name(node) is not None:
            name = self.document_name(node)
            if document_kind not in _DOCUMENT_KINDS:
                raise FilterError(f"operator {op!r} on {name!r}: a property read from the item document is compared "
                                  "with a number, a string or a boolean (timestamps as strings: RFC 3339 text "
                                  "compares in time order when written alike)")
            q = Queryable(self.documents.typed(name, document_kind), document_kind)
        else:
            raise FilterError(f"unknown property {name!r}; queryables: {', '.join(sorted(self.queryables))}"
                              + (" and the properties items carry (see /queryables)" if self.documents else ""))
        if kinds is not None and q.kind not in kinds:
            raise FilterError(f"operator {op!r} does not apply to {name!r}, a {q.kind} property")
        return name, q


def _literal_kind(value: Any) -> str | None:
    """The kind of a literal a document property is compared with (None: a timestamp, geometry, …)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "string" if isinstance(value, str) else None


def _literal(op: str, name: str, kind: str, value: Any) -> Any:
    """``value`` as a Python value of the property's kind, or a FilterError saying why it is not one."""
    _reject_function(value)
    if kind == "timestamp":
        found = _instant(value)
    elif kind == "number":
        found = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    else:
        found = value if isinstance(value, {"string": str, "boolean": bool}.get(kind, ())) else None
    if found is None:
        raise FilterError(f"operator {op!r}: {name!r} is a {kind} property; {_show(value)} is not a {kind}")
    return found


def _arity(op: str, args: list, count: int) -> list:
    if len(args) != count:
        raise FilterError(f"operator {op!r} takes {count} argument(s), got {len(args)}")
    return args


def _is_property(node: Any) -> bool:
    return isinstance(node, dict) and isinstance(node.get("property"), str)


def _reject_function(node: Any) -> None:
    """Functions and operators inside operands (casei, accenti, arithmetic, ...) are beyond what we advertise."""
    if isinstance(node, dict) and isinstance(node.get("op"), str):
        raise FilterError(f"operator {node['op']!r} is not supported here; supported: {', '.join(_SUPPORTED)}")


def _show(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (dict, list)) else repr(value)


def _instant(value: Any) -> datetime | None:
    """An RFC 3339 date-time (the strict parser items and search use) or a date (midnight UTC) as an
    aware UTC datetime; None if it is neither."""
    text = value.get("timestamp", value.get("date")) if isinstance(value, dict) and len(value) == 1 else value
    if not isinstance(text, str):
        return None
    try:
        if isinstance(value, dict) and "date" in value or not isinstance(value, dict) and _DATE.fullmatch(text):
            return datetime.combine(date.fromisoformat(text), time(), timezone.utc) if _DATE.fullmatch(text) else None
        return parse_rfc3339(text)
    except ValueError:
        return None


#: A CQL2 date: RFC 3339 ``full-date``.
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _temporal(op: str, column: Any, name: str, value: Any) -> ColumnElement[bool]:
    """t_before / t_after / t_intersects of an instant property with an instant or a closed interval."""
    bounds = value.get("interval") if isinstance(value, dict) else None
    if bounds is None:
        instant = _literal(op, name, "timestamp", value)
        return {"t_before": column < instant, "t_after": column > instant, "t_intersects": column == instant}[op]
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise FilterError(f"operator {op!r}: an interval has two ends, got {_show(bounds)}")
    start, end = (None if bound == ".." else _literal(op, name, "timestamp", bound) for bound in bounds)
    if op == "t_before":  # nothing is before an interval open to the past
        return column < start if start is not None else false()
    if op == "t_after":
        return column > end if end is not None else false()
    conditions = [column.is_not(None)]  # INTERVAL('..', '..') still needs a value
    if start is not None:
        conditions.append(column >= start)
    if end is not None:
        conditions.append(column <= end)
    return and_(*conditions)


def _geometry(value: Any) -> shapely.Geometry:
    """A GeoJSON geometry or ``{"bbox": [...]}`` literal as a 2D shapely geometry, within WGS84 degrees
    (the rule of a search's ``bbox`` and ``intersects``)."""
    _reject_function(value)
    try:
        if isinstance(value, dict) and "bbox" in value:
            bbox = value["bbox"]
            west, south, east, north = (bbox[0], bbox[1], bbox[3], bbox[4]) if len(bbox) == 6 else bbox
            problem = range_problem(west, south, east, north) if south <= north else "south is above north"
            if west > east:  # crosses the antimeridian
                geometry = shapely.MultiPolygon([shapely.box(west, south, 180.0, north),
                                                 shapely.box(-180.0, south, east, north)])
            else:
                geometry = shapely.box(west, south, east, north)
        elif isinstance(value, dict) and "type" in value:
            limits.check_vertices(value, "filter")  # parse_filter has checked; this AST may come from elsewhere
            geometry = shapely.force_2d(shape(value))
            problem = None if geometry.is_empty else range_problem(*geometry.bounds)
        else:
            raise FilterError(f"operator 's_intersects' needs a geometry or bbox literal, got {_show(value)}")
    except FilterError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, ShapelyError) as exc:
        raise FilterError(f"operator 's_intersects': invalid geometry {_show(value)}: {exc}") from None
    if problem:
        raise FilterError(f"operator 's_intersects': {problem} in {_show(value)[:200]}")
    return geometry


_ESCAPE = "\\"
_WILDCARDS = {"%": ("%", "*"), "_": ("_", "?")}  # CQL2 wildcard -> (LIKE, GLOB)


class _CaseSensitiveLike(FunctionElement):
    """``column LIKE pattern``, case-sensitive everywhere: SQLite's LIKE folds ASCII case, its GLOB does not.

    Arguments: the column, the SQL LIKE pattern (escape ``\\``), the equivalent GLOB pattern.
    """
    name = "cql2_like"
    type = Boolean()
    inherit_cache = True


@compiles(_CaseSensitiveLike)
def _compile_like(element, compiler, **kw) -> str:
    column, like, _ = element.clauses.clauses
    return f"({compiler.process(column.like(like, escape=_ESCAPE), **kw)})"


@compiles(_CaseSensitiveLike, "sqlite")
def _compile_glob(element, compiler, **kw) -> str:
    column, _, glob = element.clauses.clauses
    return f"({compiler.process(column, **kw)} GLOB {compiler.process(glob, **kw)})"


def _case_sensitive_like(column: Any, pattern: str) -> ColumnElement[bool]:
    """Translate CQL2's LIKE pattern (``%``, ``_``, a backslash escapes the next character) for both backends."""
    like, glob = [], []
    chars = iter(pattern)
    for char in chars:
        if char in _WILDCARDS:
            like.append(_WILDCARDS[char][0])
            glob.append(_WILDCARDS[char][1])
            continue
        if char == _ESCAPE:
            char = next(chars, _ESCAPE)
        like.append(_ESCAPE + char if char in "%_" + _ESCAPE else char)
        glob.append(f"[{char}]" if char in "*?[" else char)
    return _CaseSensitiveLike(column, literal("".join(like)), literal("".join(glob)))
