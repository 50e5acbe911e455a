"""STAC item search: parameters from GET or POST, their validation, and keyset paging.

Every invalid parameter is a ``SearchError`` (HTTP 400) whose message says what to change. Pages
are cut with opaque keyset tokens over the sort key plus the row key — never OFFSET — so paging is
stable while items are inserted and has no duplicates or gaps.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import shapely
from shapely.geometry import shape

from exchange.catalog.fields import Selection, compile_fields
from exchange.catalog.spatial import bbox_geometry, range_problem
from exchange.catalog.stac import parse_rfc3339
from exchange.core import limits, paging, strict_json
from exchange.core.problems import Problem

DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000
MAX_VERTICES = limits.MAX_VERTICES


class SearchError(Problem):
    """A search parameter a person can fix (HTTP 400); the message names it."""

    status = 400
    title = "Invalid search"


@dataclass
class SearchRequest:
    collections: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    geometry: object | None = None  # from bbox or intersects
    interval: tuple[datetime | None, datetime | None] | None = None
    limit: int = DEFAULT_LIMIT
    sortby: list[tuple[str, bool]] = field(default_factory=list)  # (field, ascending)
    fields: Selection | None = None  # the fields extension; None: whole items
    filter: dict | None = None  # CQL2 JSON AST
    query: dict | None = None
    token: str | None = None
    #: Filters other domains answer (``hooks.search_condition``): parameter name -> value as sent.
    answered: dict = field(default_factory=dict)


#: Search parameters another domain answers (``hooks.search_condition``): licensing's price model
#: of the offers on sale (comma-separated in GET, a list in POST).
ANSWERED_PARAMETERS = ("price_model",)


def _split(value, parameter: str, limit: int = limits.MAX_LIST_ITEMS) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    elif not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise SearchError(f"{parameter}: expected a list of strings, got {_show(value)}")
    if len(value) > limit:
        raise limits.LimitExceeded(parameter, "entries", limit, len(value))
    return value


def _show(value, width: int = 200) -> str:
    """A value for an error message, cut short: the value may be megabytes."""
    text = repr(value)
    return text if len(text) <= width else text[:width] + "…"


def parse_limit(value) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    try:
        limit = int(value)
    except (TypeError, ValueError):
        raise SearchError(f"limit must be an integer, got {value!r}") from None
    if limit < 1:
        raise SearchError("limit must be at least 1")
    return min(limit, MAX_LIMIT)  # above the maximum is answered as the maximum


def parse_bbox(value) -> object:
    if isinstance(value, str):
        try:
            value = [float(v) for v in value.split(",")]
        except ValueError:
            raise SearchError(f"bbox must be 4 or 6 comma-separated numbers, got {value!r}") from None
    if not (isinstance(value, list) and len(value) in (4, 6)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise SearchError("bbox must be 4 numbers (west,south,east,north) or 6 with min/max elevation")
    south, north = (value[1], value[4]) if len(value) == 6 else (value[1], value[3])
    west, east = (value[0], value[3]) if len(value) == 6 else (value[0], value[2])
    if not south <= north:
        raise SearchError("bbox latitudes must satisfy -90 <= south <= north <= 90")
    problem = range_problem(west, south, east, north)
    if problem:
        raise SearchError(f"bbox {problem} (west > east crosses the antimeridian)")
    return bbox_geometry(value)


def _json_parameter(value: str, parameter: str) -> object:
    """A JSON-valued GET parameter, measured before it is parsed."""
    limits.check_json_text(value, parameter, max_chars=limits.MAX_PARAM_CHARS)
    return strict_json.loads(value)  # RFC 8259: no NaN or Infinity, no number beyond a float


def parse_intersects(value) -> object:
    if isinstance(value, str):
        try:
            value = _json_parameter(value, "intersects")
        except ValueError:
            raise SearchError("intersects must be a GeoJSON geometry object") from None
    if not isinstance(value, dict) or "type" not in value:
        raise SearchError("intersects must be a GeoJSON geometry object")
    limits.check_vertices(value, "intersects")  # counted before Shapely builds it
    try:
        geometry = shapely.force_2d(shape(value))  # footprints are 2D: a mixed 2D/3D collection is one too
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, shapely.errors.ShapelyError) as exc:
        raise SearchError(f"intersects is not a valid GeoJSON geometry: {exc}") from None
    if geometry.is_empty:
        raise SearchError("intersects is an empty geometry")
    problem = range_problem(*geometry.bounds)
    if problem:
        raise SearchError(f"intersects {problem} (WGS84 degrees; split a shape that crosses the antimeridian)")
    return geometry if geometry.is_valid else shapely.make_valid(geometry)


def parse_datetime(value) -> tuple[datetime | None, datetime | None] | None:
    """An RFC 3339 instant, a closed interval a/b, or one open at one end with '..' or an empty side
    (the STAC API's rules: open at both ends is refused)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise SearchError("datetime must be a string: an RFC 3339 instant or an interval start/end")
    try:
        if "/" not in value:
            instant = parse_rfc3339(value)
            return instant, instant
        start_text, end_text = value.split("/", 1)
        if start_text in ("", "..") and end_text in ("", ".."):
            raise SearchError(f"datetime interval {_show(value)} is open at both ends; give a start, an end or both")
        start = None if start_text in ("", "..") else parse_rfc3339(start_text)
        end = None if end_text in ("", "..") else parse_rfc3339(end_text)
    except ValueError as exc:
        raise SearchError(f"datetime: {exc}; use e.g. 2020-01-01T00:00:00Z or 2020-01-01T00:00:00Z/..") from None
    if start and end and start > end:
        raise SearchError("datetime interval starts after it ends")
    return start, end


def _sort_field(name: str) -> str:
    """The sort extension's examples and clients (stac-api-validator, pystac-client users) name a
    property by its path, ``properties.datetime``; the bare name works too."""
    return name.removeprefix("properties.")


def parse_sortby(value) -> list[tuple[str, bool]]:
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, str):
        out = []
        for part in _split(value, "sortby", limits.MAX_FIELD_ITEMS):
            ascending = not part.startswith("-")
            out.append((_sort_field(part.lstrip("+- ") or part), ascending))
        return out
    if isinstance(value, list):
        if len(value) > limits.MAX_FIELD_ITEMS:
            raise limits.LimitExceeded("sortby", "entries", limits.MAX_FIELD_ITEMS, len(value))
        out = []
        for entry in value:
            if not isinstance(entry, dict) or not isinstance(entry.get("field"), str) \
                    or entry.get("direction", "asc") not in ("asc", "desc"):
                raise SearchError('sortby entries must be {"field": name, "direction": "asc"|"desc"}')
            out.append((_sort_field(entry["field"]), entry.get("direction", "asc") == "asc"))
        return out
    raise SearchError("sortby must be a string like '-datetime,id' or a list of {field, direction}")


def parse_fields(params: dict) -> Selection | None:
    """The fields extension's request: absent is None (whole items); GET's text cannot say "missing",
    so its include list is empty, never missing (the default set less the excluded)."""
    if "fields" not in params:
        return None
    value = params["fields"]
    if value is None:  # a JSON null is no object (stac-api-validator asks for this 400)
        raise SearchError('fields must be {"include": [...], "exclude": [...]}, not null; leave it out for whole items')
    if value == "":
        return compile_fields([], [])
    if isinstance(value, str):
        parts = _split(value, "fields", 2 * limits.MAX_FIELD_ITEMS)
        return compile_fields([p.lstrip("+") for p in parts if not p.startswith("-")],
                              [p[1:] for p in parts if p.startswith("-")])
    if isinstance(value, dict):
        include = None if "include" not in value else _split(value["include"], "fields.include", limits.MAX_FIELD_ITEMS)
        return compile_fields(include, _split(value.get("exclude"), "fields.exclude", limits.MAX_FIELD_ITEMS))
    raise SearchError('fields must be "a,-b" or {"include": [...], "exclude": [...]}')


def parse_query(value) -> dict | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = _json_parameter(value, "query")
        except ValueError:
            raise SearchError("query must be a JSON object") from None
    if not isinstance(value, dict):
        raise SearchError("query must be a JSON object like {\"eo:cloud_cover\": {\"lt\": 10}}")
    limits.count_nodes(value, "query")
    return value


def build_request(params: dict, *, from_get: bool) -> SearchRequest:
    """Turn GET query parameters or a POST body into a validated SearchRequest."""
    from exchange.catalog.cql2_filter import FilterError, parse_filter

    if params.get("bbox") not in (None, "", []) and params.get("intersects") not in (None, ""):
        raise SearchError("use either bbox or intersects, not both")
    request = SearchRequest(collections=_split(params.get("collections"), "collections"),
                            ids=_split(params.get("ids"), "ids"),
                            limit=parse_limit(params.get("limit")), interval=parse_datetime(params.get("datetime")),
                            sortby=parse_sortby(params.get("sortby")), query=parse_query(params.get("query")),
                            token=params.get("token") or None)
    if params.get("bbox") not in (None, "", []):
        if not from_get and not isinstance(params["bbox"], list):
            raise SearchError(f"bbox in a POST body must be a JSON array of 4 or 6 numbers, got {_show(params['bbox'])}")
        request.geometry = parse_bbox(params["bbox"])
    elif params.get("intersects") not in (None, ""):
        request.geometry = parse_intersects(params["intersects"])
    request.fields = parse_fields(params)
    request.answered = {name: _split(params[name], name) for name in ANSWERED_PARAMETERS
                        if params.get(name) not in (None, "", [])}
    if params.get("filter") not in (None, ""):
        try:
            request.filter = parse_filter(params["filter"], params.get("filter-lang"))
        except FilterError as exc:
            raise SearchError(f"filter: {exc}") from None
    return request


# -- keyset tokens ---------------------------------------------------------------------------------
def encode_token(direction: str, values: list) -> str:
    """A token to the page after (``next``) or before (``prev``) a row with these sort-key values."""
    return paging.encode({"d": direction, "v": [v.isoformat() if isinstance(v, datetime) else v for v in values]})


def decode_token(token: str) -> tuple[str, list]:
    try:
        raw = paging.decode(token)  # ours is an object holding a flat list
        if not isinstance(raw, dict) or raw.get("d") not in ("next", "prev") or not isinstance(raw.get("v"), list):
            raise paging.BadCursor
        return raw["d"], raw["v"]
    except (paging.BadCursor, TypeError):
        raise SearchError("token is not one this server issued; start again from the first page") from None
