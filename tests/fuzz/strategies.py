"""Hypothesis strategies for the fuzz pass: hostile JSON, hostile strings, OpenAPI bodies and STAC inputs.

Each strategy mixes values a client would plausibly send (so the request gets past the first check and
reaches the service code) with values no client should send (deep nesting, huge numbers, NaN, control
characters, path tricks), because a 500 usually hides just behind the first validation step.
"""
from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

#: Strings that broke parsers somewhere once: path tricks, control characters, odd Unicode, SQL/LIKE wildcards.
NASTY_STRINGS = [
    "", " ", ".", "..", "../..", "../../etc/passwd", "%2e%2e", "a/b", "a\\b", "a\x00b", "\x00", "a\r\nb",
    "\r\nX-Injected: 1", "\t", "\u202eevil", "\ufeff", "\ud7ff", "\U0001f6f0\ufe0f", "é" * 3, "ǅ", "𝔰𝔡𝔵",
    "%", "_", "%%", "*", "'", "\"", "' OR '1'='1", "\\", "{}", "[]", "null", "NaN", "-1", "0", "1e309",
    "9" * 40, "x" * 300, "x" * 5000, "http://", "javascript:alert(1)", "https://evil.example/x\r\ny",
    "2024-13-45T25:61:61Z", "../", "a" + "\u0301" * 50, "\x7f", "\x1b[31m",
]

#: Numbers at the edges: sign, size, precision, and the non-finite floats Python's json writes as NaN/Infinity.
NASTY_NUMBERS = [0, -0.0, -1, 1, 2**31, -(2**31) - 1, 2**63, 2**64 + 1, 10**40, -(10**40), 1e308, -1e308,
                 5e-324, 0.1, 180.0000001, -90.0000001, 1e16, float("nan"), float("inf"), float("-inf")]

nasty_text = st.one_of(st.sampled_from(NASTY_STRINGS), st.text(max_size=40))
nasty_number = st.one_of(st.sampled_from(NASTY_NUMBERS), st.integers(), st.floats(allow_nan=True))
scalar = st.one_of(st.none(), st.booleans(), nasty_number, nasty_text)


def weird_json(max_leaves: int = 12) -> st.SearchStrategy:
    """Any JSON value, scalars and containers of any shape (NaN and Infinity included)."""
    return st.recursive(scalar, lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(nasty_text, children, max_size=4)), max_leaves=max_leaves)


class Raw(str):
    """JSON text written verbatim by ``dumps``: nesting or numbers Python's own encoder would not write."""


def dumps(value: Any) -> str:
    """JSON with ``Raw`` parts inserted as they are (and NaN/Infinity as Python writes them)."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


def nested(depth: int, kind: str = "list") -> Raw:
    """A value nested ``depth`` levels deep."""
    if kind == "list":
        return Raw("[" * depth + "1" + "]" * depth)
    return Raw('{"a":' * depth + "1" + "}" * depth)


deep_json = st.builds(nested, st.sampled_from([50, 200, 1000, 5000, 20000]), st.sampled_from(["list", "dict"]))
raw_numbers = st.sampled_from([Raw("1" * 5000), Raw("1e999999"), Raw("-1e-999999"), Raw("-0"), Raw("1E+2"),
                               Raw("0." + "0" * 400 + "1"), Raw("NaN"), Raw("-Infinity")])
#: Mostly shapes of the wrong kind; now and then nesting or numbers no parser should have to take.
hostile = st.one_of(weird_json(), weird_json(), weird_json(), deep_json, raw_numbers)


# -- OpenAPI schemas --------------------------------------------------------------------------------
class SchemaStrategies:
    """Turn the OpenAPI 3.0 schemas of /api/openapi.json into strategies.

    Most draws follow the schema (valid values, so the request reaches the service); a share of every
    field, and of the whole body, is replaced by hostile JSON so the validation itself is exercised.
    """

    def __init__(self, spec: dict) -> None:
        self.components = spec.get("components", {}).get("schemas", {})

    def resolve(self, schema: dict) -> dict:
        while "$ref" in schema:
            schema = self.components[schema["$ref"].rsplit("/", 1)[1]]
        return schema

    def valid(self, schema: dict, depth: int = 0) -> st.SearchStrategy:
        schema = self.resolve(schema)
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        for combinator in ("oneOf", "anyOf", "allOf"):
            if combinator in schema:
                return st.one_of([self.valid(s, depth + 1) for s in schema[combinator]])
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            if depth > 4:
                return st.just({})
            properties = schema.get("properties", {})
            required = set(schema.get("required", []))
            fields = {name: self.field(sub, depth + 1) for name, sub in properties.items()
                      if not sub.get("readOnly")}
            return st.fixed_dictionaries({k: v for k, v in fields.items() if k in required},
                                         optional={k: v for k, v in fields.items() if k not in required})
        if kind == "array":
            return st.lists(self.field(schema.get("items", {}), depth + 1),
                            min_size=schema.get("minItems", 0), max_size=min(schema.get("maxItems", 4), 4))
        if kind == "integer":
            return st.integers(schema.get("minimum"), schema.get("maximum"))
        if kind == "number":
            return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False)
        if kind == "boolean":
            return st.booleans()
        if kind == "string":
            return self.string(schema)
        return weird_json(6)

    def string(self, schema: dict) -> st.SearchStrategy:
        fmt = schema.get("format")
        if fmt == "email":
            return st.sampled_from(["fuzz@example.com", "a.b+c@sub.example.org"])
        if fmt == "uuid":
            return st.uuids().map(str)
        if fmt == "date-time":
            return st.datetimes().map(lambda d: d.isoformat() + "Z")
        if fmt in ("uri", "url"):
            return st.sampled_from(["https://app.example/cb", "http://127.0.0.1/x"])
        low, high = schema.get("minLength", 0), min(schema.get("maxLength", 60), 60)
        return st.text(min_size=low, max_size=max(low, high))

    def field(self, schema: dict, depth: int) -> st.SearchStrategy:
        return st.one_of(self.valid(schema, depth), hostile) if depth < 3 else self.valid(schema, depth)

    def body(self, schema: dict) -> st.SearchStrategy:
        return st.one_of(self.valid(schema), hostile)


# -- STAC ---------------------------------------------------------------------------------------------
coordinate = st.one_of(st.floats(-200, 200, allow_nan=False), nasty_number)
bbox = st.one_of(st.lists(coordinate, min_size=4, max_size=4), st.lists(coordinate, min_size=6, max_size=6),
                 st.lists(coordinate, max_size=8), hostile)
instant = st.one_of(st.datetimes().map(lambda d: d.isoformat() + "Z"), st.sampled_from(
    ["..", "", "2024-01-01T00:00:00Z", "2024-02-30T00:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
     "2024-01-01", "2024-01-01T00:00:00+25:00", "-2024-01-01T00:00:00Z", "2024-01-01T00:00:00.1234567890Z"]),
    nasty_text)
interval = st.one_of(instant, st.builds(lambda a, b: f"{a}/{b}", instant, instant), hostile)
position = st.lists(coordinate, min_size=2, max_size=3)
ring = st.lists(position, min_size=0, max_size=6)
geometry = st.one_of(
    st.builds(lambda c: {"type": "Point", "coordinates": c}, position),
    st.builds(lambda r: {"type": "Polygon", "coordinates": [r]}, ring),
    st.builds(lambda r: {"type": "LineString", "coordinates": r}, ring),
    st.builds(lambda r: {"type": "MultiPolygon", "coordinates": [[r]]}, ring),
    st.builds(lambda g: {"type": "GeometryCollection", "geometries": g},
              st.lists(st.builds(lambda c: {"type": "Point", "coordinates": c}, position), max_size=3)),
    st.fixed_dictionaries({"type": st.sampled_from(["Point", "Polygon", "Feature", "Nope", ""]),
                           "coordinates": hostile}),
    hostile)
property_name = st.sampled_from(["datetime", "eo:cloud_cover", "gsd", "id", "collection", "geometry", "platform",
                                 "properties.datetime", "sdx:status", "nope", "", "a.b.c", "*"])
cql2_text = st.one_of(st.sampled_from([
    "eo:cloud_cover < 5", "gsd = 0.5 AND platform = 'x'", "S_INTERSECTS(geometry, POINT(0 0))",
    "datetime > TIMESTAMP('2024-01-01T00:00:00Z')", "id LIKE 'a%'", "id IN ('a', 'b')",
    "eo:cloud_cover BETWEEN 1 AND 2", "NOT (gsd > 1)", "A_CONTAINS(instruments, ('msi'))",
    "gsd = 1e400", "gsd = NaN", "((((((((((gsd = 1))))))))))", "id = '" + "x" * 2000 + "'",
    "S_INTERSECTS(geometry, POLYGON((0 0, 1 0, 0 0)))", "CASEI(id) = 'a'", "gsd + 1 = 2", "'a' = 'a'",
]), nasty_text, st.builds(lambda n: "(" * n + "gsd = 1" + ")" * n, st.sampled_from([100, 1000, 5000])),
    st.builds(lambda n: " AND ".join(["gsd = 1"] * n), st.sampled_from([50, 500, 3000])))
cql2_json = st.one_of(
    st.fixed_dictionaries({"op": st.sampled_from(["=", "<", "and", "or", "not", "s_intersects", "like", "in",
                                                  "between", "isNull", "t_after", "a_contains", "casei", "nope"]),
                           "args": st.lists(st.one_of(st.fixed_dictionaries({"property": property_name}),
                                                      geometry, scalar, hostile), max_size=4)}),
    st.builds(lambda n: nested_op(n), st.sampled_from([50, 500, 5000])),
    hostile)


def nested_op(depth: int) -> Raw:
    """A CQL2-JSON ``not`` wrapped ``depth`` times around one comparison."""
    return Raw('{"op":"not","args":[' * depth + '{"op":"=","args":[{"property":"gsd"},1]}' + "]}" * depth)


sortby_text = st.one_of(st.lists(st.builds(lambda s, p: s + p, st.sampled_from(["", "+", "-"]), property_name),
                                 max_size=4).map(",".join), nasty_text)
sortby_json = st.one_of(st.lists(st.fixed_dictionaries({"field": st.one_of(property_name, hostile),
                                                        "direction": st.one_of(st.sampled_from(["asc", "desc"]),
                                                                               hostile)}), max_size=4), hostile)
fields_json = st.one_of(st.fixed_dictionaries({}, optional={"include": st.lists(st.one_of(property_name, scalar)),
                                                            "exclude": st.lists(st.one_of(property_name, scalar))}),
                        hostile)
query_ext = st.one_of(st.dictionaries(property_name, st.dictionaries(
    st.sampled_from(["eq", "neq", "lt", "lte", "gt", "gte", "startsWith", "in", "nope"]), hostile, max_size=2),
    max_size=3), hostile)
limit = st.one_of(st.integers(-5, 20000), nasty_number, nasty_text)
token = st.one_of(nasty_text, st.binary(max_size=40).map(lambda b: b.hex()),
                  st.sampled_from(["next:1", "eyJ9", "e30", "W10", "bnVsbA", "=" * 8]))
ids = st.one_of(st.lists(st.one_of(nasty_text, scalar), max_size=4), hostile)


def search_body(collections: list[str]) -> st.SearchStrategy:
    """A POST /stac/search body: every member optional, each either plausible or hostile."""
    names = st.one_of(st.lists(st.sampled_from(collections + NASTY_STRINGS[:6]), max_size=3), hostile)
    return st.one_of(st.fixed_dictionaries({}, optional={
        "collections": names, "ids": ids, "bbox": bbox, "datetime": interval, "intersects": geometry,
        "limit": limit, "token": token, "sortby": sortby_json, "fields": fields_json, "query": query_ext,
        "filter": st.one_of(cql2_json, cql2_text), "filter-lang": st.one_of(
            st.sampled_from(["cql2-json", "cql2-text"]), nasty_text), "filter-crs": nasty_text,
    }), hostile)


def _text_param(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def search_query(collections: list[str]) -> st.SearchStrategy:
    """GET /stac/search (or items) query parameters, all as strings like a URL would carry them."""
    text = st.one_of(st.sampled_from(collections).map(str), nasty_text)
    return st.fixed_dictionaries({}, optional={
        "collections": st.lists(text, max_size=3).map(",".join), "ids": st.lists(nasty_text, max_size=3).map(",".join),
        "bbox": bbox.map(_text_param), "datetime": interval.map(_text_param), "limit": limit.map(str),
        "intersects": geometry.map(dumps), "token": token, "sortby": sortby_text,
        "fields": st.lists(st.builds(lambda s, p: s + p, st.sampled_from(["", "+", "-"]), property_name),
                           max_size=4).map(",".join),
        "filter": st.one_of(cql2_text, cql2_json.map(dumps)),
        "filter-lang": st.one_of(st.sampled_from(["cql2-json", "cql2-text"]), nasty_text), "filter-crs": nasty_text,
        "query": query_ext.map(dumps),
    })


# -- STAC transactions ----------------------------------------------------------------------------
def item_body(template: dict) -> st.SearchStrategy:
    """An item document: the valid template with some members replaced or removed, or anything at all."""
    members = {"type": st.one_of(st.just("Feature"), nasty_text), "stac_version": st.one_of(st.just("1.0.0"), scalar),
               "id": st.one_of(nasty_text, st.just(template["id"])), "geometry": geometry, "bbox": bbox,
               "collection": st.one_of(st.just(template.get("collection")), nasty_text, hostile),
               "properties": properties(template["properties"]), "assets": assets, "links": links,
               "stac_extensions": st.one_of(st.lists(nasty_text, max_size=3), hostile)}
    return st.one_of(mutated(template, members), hostile)


def properties(template: dict) -> st.SearchStrategy:
    keys = st.one_of(st.sampled_from(["datetime", "start_datetime", "end_datetime", "gsd", "eo:cloud_cover",
                                      "sdx:status", "sdx:footprint_from_data", "sdx:product_id", "platform",
                                      "proj:epsg", "title"]), nasty_text)
    values = st.one_of(instant, scalar, hostile, st.sampled_from(["draft", "published", "withdrawn", "archived"]))
    return st.one_of(st.builds(lambda extra: {**template, **extra}, st.dictionaries(keys, values, max_size=4)),
                     hostile)


href = st.one_of(st.sampled_from(["https://example.com/a.tif", "s3://bucket/key.tif", "/relative/path",
                                  "file:///etc/passwd", "https://example.com/a\r\nb", "javascript:x", ""]), nasty_text)
asset = st.one_of(st.fixed_dictionaries({"href": href}, optional={
    "roles": st.one_of(st.lists(st.sampled_from(["data", "thumbnail", "overview", "metadata"]), max_size=3), hostile),
    "type": nasty_text, "title": nasty_text, "file:size": nasty_number, "file:checksum": nasty_text}), hostile)
assets = st.one_of(st.dictionaries(st.one_of(st.sampled_from(["data", "thumbnail"]), nasty_text), asset, max_size=3),
                   hostile)
links = st.one_of(st.lists(st.fixed_dictionaries({"rel": nasty_text, "href": href}), max_size=3), hostile)


def collection_body(template: dict) -> st.SearchStrategy:
    members = {"type": st.one_of(st.just("Collection"), nasty_text), "id": st.one_of(nasty_text, st.just(template["id"])),
               "description": st.one_of(nasty_text, hostile), "license": st.one_of(nasty_text, hostile),
               "title": nasty_text, "stac_version": scalar, "links": links, "keywords": hostile,
               "providers": hostile, "summaries": hostile, "assets": assets, "extent": st.one_of(
                   st.fixed_dictionaries({"spatial": st.fixed_dictionaries({"bbox": st.lists(bbox, max_size=2)}),
                                          "temporal": st.fixed_dictionaries({"interval": st.lists(
                                              st.lists(st.one_of(instant, st.none()), max_size=3), max_size=2)})}),
                   hostile)}
    return st.one_of(mutated(template, members), hostile)


def mutated(template: dict, members: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    """The template with a few members replaced by draws from ``members`` and a few removed."""
    names = sorted(members)

    def build(replaced: dict, removed: list[str]) -> dict:
        doc = {**template, **replaced}
        for name in removed:
            doc.pop(name, None)
        return doc

    return st.builds(build, st.fixed_dictionaries({}, optional=members), st.lists(st.sampled_from(names), max_size=2))
