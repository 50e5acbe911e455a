"""CQL2 filters translated to SQL and run on a real SQLite database: each case asserts the ids it selects."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import cql2
import pytest
import sqlalchemy as sa

from exchange.catalog.cql2_filter import FilterError, Queryable, parse_filter, to_sqlalchemy
from exchange.core.db import UTCDateTime

metadata = sa.MetaData()
items = sa.Table(
    "items", metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("cloud_cover", sa.Float), sa.Column("gsd", sa.Float), sa.Column("platform", sa.String),
    sa.Column("datetime", UTCDateTime), sa.Column("published", sa.Boolean),
    sa.Column("minx", sa.Float), sa.Column("miny", sa.Float), sa.Column("maxx", sa.Float), sa.Column("maxy", sa.Float),
)

QUERYABLES = {
    "id": Queryable(items.c.id, "string"),
    "eo:cloud_cover": Queryable(items.c.cloud_cover, "number"),
    "gsd": Queryable(items.c.gsd, "number"),
    "platform": Queryable(items.c.platform, "string"),
    "datetime": Queryable(items.c.datetime, "timestamp"),
    "published": Queryable(items.c.published, "boolean"),
    "geometry": Queryable(items.c.minx, "geometry"),  # the footprint is the bbox; minx stands for it in isNull
}


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


# id, cloud_cover, gsd, platform, datetime, published, footprint (minx, miny, maxx, maxy)
ROWS = [
    ("a", 5, 0.5, "Sentinel-2A", utc(2020, 1, 1), True, (0, 0, 1, 1)),
    ("b", 15, 10, "sentinel-2b", utc(2020, 1, 15, 12), False, (2, 2, 3, 3)),
    ("c", 50, 30, "Landsat-8", utc(2020, 2, 1), True, (10, 10, 11, 11)),
    ("d", None, 0.3, "Sentinel-2B", utc(2020, 3, 1), None, (None, None, None, None)),
    ("e", 0, 1, "WorldView_3", utc(2019, 12, 31, 23, 59, 59, 999999), True, (-5, -5, -4, -4)),
    ("f", 100, None, "Pleiades", utc(2021, 6, 1), False, (0.5, 0.5, 0.5, 0.5)),
    ("g", 9.99, 2, "50%Sat", utc(2020, 1, 1, 0, 0, 0, 1), True, (179, 0, 180, 1)),
    ("h", 10, 2, "Sentinel-1A", None, True, (-180, 0, -179, 1)),
    ("i", 20, 5, None, utc(2022, 1, 1), False, (20, 20, 30, 30)),
    # stored through UTCDateTime from +01:00: 2020-01-31T23:00Z
    ("j", 30, 0.5, "WorldView-3", datetime(2020, 2, 1, tzinfo=timezone(timedelta(hours=1))), True, (0.9, 0.9, 2.1, 2.1)),
]
ALL = {row[0] for row in ROWS}


class BBoxOverlap:
    """Test-only SpatialOps: footprint bbox overlaps each part's bounds (exact for the points and boxes used)."""

    def intersects(self, geometry_column, geom):
        parts = getattr(geom, "geoms", [geom])
        return sa.or_(*(sa.and_(items.c.minx <= maxx, items.c.maxx >= minx, items.c.miny <= maxy, items.c.maxy >= miny)
                        for minx, miny, maxx, maxy in (part.bounds for part in parts)))


@pytest.fixture(scope="module")
def engine():
    engine = sa.create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(items.insert(), [
            dict(id=id_, cloud_cover=cc, gsd=gsd, platform=platform, datetime=dt, published=published,
                 minx=box[0], miny=box[1], maxx=box[2], maxy=box[3])
            for id_, cc, gsd, platform, dt, published, box in ROWS])
    yield engine
    engine.dispose()


def select_ids(engine, filter_value, filter_lang=None) -> set[str]:
    where = to_sqlalchemy(parse_filter(filter_value, filter_lang), QUERYABLES, BBoxOverlap())
    with engine.connect() as conn:
        return set(conn.scalars(sa.select(items.c.id).where(where)))


CASES = [
    # basic comparisons, numbers (all parsed as floats), strings, booleans
    ("eo:cloud_cover = 10", {"h"}),
    ("eo:cloud_cover <> 10", ALL - {"d", "h"}),
    ("eo:cloud_cover < 10", {"a", "e", "g"}),
    ("eo:cloud_cover <= 10", {"a", "e", "g", "h"}),
    ("eo:cloud_cover > 50", {"f"}),
    ("eo:cloud_cover >= 50", {"c", "f"}),
    ("eo:cloud_cover > -0.5", ALL - {"d"}),
    ("platform = 'Sentinel-2A'", {"a"}),
    ("published = true", {"a", "c", "e", "g", "h", "j"}),
    ("published = FALSE", {"b", "f", "i"}),
    ("eo:cloud_cover < gsd", {"e"}),
    # the property on the right
    ("10 > eo:cloud_cover", {"a", "e", "g"}),
    ("10 <= eo:cloud_cover", {"b", "c", "f", "h", "i", "j"}),
    ("'Sentinel-2A' = platform", {"a"}),
    ("TIMESTAMP('2020-01-01T00:00:00Z') > datetime", {"e"}),
    # logic
    ("eo:cloud_cover < 10 AND gsd < 1", {"a"}),
    ("eo:cloud_cover < 10 OR gsd >= 10", {"a", "b", "c", "e", "g"}),
    ("NOT (eo:cloud_cover < 10)", {"b", "c", "f", "h", "i", "j"}),
    ("NOT (eo:cloud_cover < 10 OR gsd > 4) AND (platform IS NOT NULL OR id = 'x')", {"h", "j"}),
    ("true", ALL),
    # like: case-sensitive, % and _ wildcards, backslash escapes
    ("platform LIKE 'Sentinel%'", {"a", "d", "h"}),
    ("platform LIKE 'sentinel%'", {"b"}),
    ("platform LIKE 'SENTINEL-2_'", set()),
    ("platform NOT LIKE 'Sentinel%'", {"b", "c", "e", "f", "g", "j"}),
    ("platform LIKE 'WorldView_3'", {"e", "j"}),
    (r"platform LIKE 'WorldView\_3'", {"e"}),
    (r"platform LIKE '50\%%'", {"g"}),
    ("platform LIKE '%a%'", {"c", "f", "g"}),
    # between, in
    ("gsd BETWEEN 0.5 AND 2", {"a", "e", "g", "h", "j"}),
    ("gsd NOT BETWEEN 0.5 AND 2", {"b", "c", "d", "i"}),
    ("platform IN ('Landsat-8', 'Pleiades', 'nope')", {"c", "f"}),
    ("eo:cloud_cover IN (0, 100)", {"e", "f"}),
    ("platform NOT IN ('Landsat-8', 'Pleiades')", ALL - {"c", "f", "i"}),
    ("published IN (false)", {"b", "f", "i"}),
    # isNull on every kind
    ("eo:cloud_cover IS NULL", {"d"}),
    ("platform IS NULL", {"i"}),
    ("datetime IS NULL", {"h"}),
    ("published IS NULL", {"d"}),
    ("geometry IS NULL", {"d"}),
    ("gsd IS NOT NULL", ALL - {"f"}),
    # spatial
    ("S_INTERSECTS(geometry, POLYGON((0.8 0.8, 2.5 0.8, 2.5 2.5, 0.8 2.5, 0.8 0.8)))", {"a", "b", "j"}),
    ("S_INTERSECTS(geometry, BBOX(-6, -6, 0.5, 0.5))", {"a", "e", "f"}),
    ("S_INTERSECTS(geometry, BBOX(-6, -6, -10, 0.5, 0.5, 10))", {"a", "e", "f"}),
    ("S_INTERSECTS(geometry, BBOX(178, 0, -178, 1))", {"g", "h"}),  # crosses the antimeridian
    ("S_INTERSECTS(geometry, POINT(0.5 0.5))", {"a", "f"}),
    ("S_INTERSECTS(BBOX(-6, -6, 0.5, 0.5), geometry)", {"a", "e", "f"}),
    ("S_INTERSECTS(geometry, MULTIPOINT((10.5 10.5), (25 25)))", {"c", "i"}),
    ("NOT S_INTERSECTS(geometry, BBOX(-6, -6, 0.5, 0.5))", {"b", "c", "g", "h", "i", "j"}),
    # timestamps as comparisons (TIMESTAMP, DATE, a plain RFC 3339 string; offsets normalised to UTC)
    ("datetime > TIMESTAMP('2020-01-01T00:00:00Z')", {"b", "c", "d", "f", "g", "i", "j"}),
    ("datetime >= TIMESTAMP('2020-01-01T00:00:00Z')", {"a", "b", "c", "d", "f", "g", "i", "j"}),
    ("datetime = TIMESTAMP('2020-01-01T00:00:00Z')", {"a"}),
    ("datetime < DATE('2020-01-01')", {"e"}),
    ("datetime <= TIMESTAMP('2020-02-01T01:00:00+01:00')", {"a", "b", "c", "e", "g", "j"}),
    ("datetime < '2020-01-01T00:00:00Z'", {"e"}),
    ("datetime IN (TIMESTAMP('2020-02-01T00:00:00Z'), DATE('2022-01-01'))", {"c", "i"}),
    # temporal operators on an instant property
    ("T_BEFORE(datetime, TIMESTAMP('2020-01-01T00:00:00Z'))", {"e"}),
    ("T_AFTER(datetime, DATE('2021-01-01'))", {"f", "i"}),
    ("T_INTERSECTS(datetime, TIMESTAMP('2020-01-01T00:00:00Z'))", {"a"}),
    ("T_INTERSECTS(datetime, INTERVAL('2020-01-01T00:00:00Z', '2020-02-01T00:00:00Z'))", {"a", "b", "c", "g", "j"}),
    ("T_INTERSECTS(datetime, INTERVAL('2020-01-01', '2020-01-31'))", {"a", "b", "g"}),
    ("T_INTERSECTS(datetime, INTERVAL('..', '2020-01-01T00:00:00Z'))", {"a", "e"}),
    ("T_INTERSECTS(datetime, INTERVAL('2021-01-01', '..'))", {"f", "i"}),
    ("T_INTERSECTS(datetime, INTERVAL('..', '..'))", ALL - {"h"}),
    ("T_BEFORE(datetime, INTERVAL('2020-01-01T00:00:00Z', '2020-02-01T00:00:00Z'))", {"e"}),
    ("T_AFTER(datetime, INTERVAL('2020-01-01T00:00:00Z', '2020-02-01T00:00:00Z'))", {"d", "f", "i"}),
    ("T_BEFORE(datetime, INTERVAL('..', '2020-02-01T00:00:00Z'))", set()),
    ("T_AFTER(datetime, INTERVAL('2020-01-01', '..'))", set()),
    ("T_BEFORE(TIMESTAMP('2021-01-01T00:00:00Z'), datetime)", {"f", "i"}),
    ("T_AFTER(INTERVAL('2020-01-01T00:00:00Z', '2020-02-01T00:00:00Z'), datetime)", {"e"}),
]


@pytest.mark.parametrize("text, expected", CASES, ids=[text for text, _ in CASES])
def test_text_and_json_select_the_same_ids(engine, text, expected):
    as_json = cql2.parse_text(text).to_json()
    assert select_ids(engine, text) == expected  # a string defaults to cql2-text
    assert select_ids(engine, text, "cql2-text") == expected
    assert select_ids(engine, as_json) == expected  # a dict defaults to cql2-json
    assert select_ids(engine, json.dumps(as_json), "cql2-json") == expected


def test_handwritten_cql2_json(engine):
    polygon = {"type": "Polygon", "coordinates": [[[0.8, 0.8], [2.5, 0.8], [2.5, 2.5], [0.8, 2.5], [0.8, 0.8]]]}
    assert select_ids(engine, {"op": "and", "args": [
        {"op": "s_intersects", "args": [{"property": "geometry"}, polygon]},
        {"op": "t_intersects", "args": [{"property": "datetime"}, {"interval": ["2020-01-10T00:00:00Z", ".."]}]},
        {"op": ">=", "args": [{"property": "eo:cloud_cover"}, 15]},
    ]}) == {"b", "j"}
    assert select_ids(engine, {"op": "like", "args": [{"property": "platform"}, "Sentinel%"]}) == {"a", "d", "h"}


def test_an_unvalidated_ast_is_translated_too(engine):
    """The STAC query extension hands its own AST (ints, plain timestamp strings) straight to to_sqlalchemy."""
    ast = {"op": "and", "args": [{"op": "<", "args": [{"property": "eo:cloud_cover"}, 20]},
                                 {"op": ">", "args": [{"property": "datetime"}, "2020-01-01T00:00:00Z"]}]}
    with engine.connect() as conn:
        found = set(conn.scalars(sa.select(items.c.id).where(to_sqlalchemy(ast, QUERYABLES, BBoxOverlap()))))
    assert found == {"b", "g"}


def fails(filter_value, filter_lang=None) -> str:
    with pytest.raises(FilterError) as raised:
        to_sqlalchemy(parse_filter(filter_value, filter_lang), QUERYABLES, BBoxOverlap())
    return str(raised.value)


def test_unknown_property_is_named_with_the_queryables():
    message = fails("cloud < 10")
    assert "'cloud'" in message and "eo:cloud_cover" in message and "platform" in message


@pytest.mark.parametrize("text, op", [
    ("A_CONTAINS(platform, ('x'))", "a_contains"),
    ("CASEI(platform) = casei('sentinel-2a')", "casei"),
    ("platform LIKE CASEI('s%')", "casei"),
    ("ACCENTI(platform) = 'x'", "accenti"),
    ("gsd + 1 > 2", "+"),
    ("T_DURING(datetime, INTERVAL('2020-01-01', '2020-02-01'))", "t_during"),
    ("S_WITHIN(geometry, POINT(0 0))", "s_within"),
])
def test_unsupported_operator_is_named(text, op):
    assert f"{op!r}" in fails(text)


@pytest.mark.parametrize("text, named", [
    ("datetime > 'yesterday'", "'yesterday' is not a timestamp"),
    ("datetime = DATE('2020-02-30')", "is not a timestamp"),
    ("gsd < 'abc'", "'abc' is not a number"),
    ("platform = 5", "is not a string"),
    ("eo:cloud_cover = TIMESTAMP('2020-01-01T00:00:00Z')", "is not a number"),
    ("published > true", "'published', a boolean property"),
    ("geometry = 1", "'geometry', a geometry property"),
    ("platform < datetime", "'datetime', a timestamp property"),
    ("S_INTERSECTS(platform, POINT(0 0))", "'platform', a string property"),
    ("T_BEFORE(gsd, DATE('2020-01-01'))", "'gsd', a number property"),
    ("eo:cloud_cover LIKE '1%'", "'eo:cloud_cover', a number property"),
])
def test_type_mismatch(text, named):
    assert named in fails(text)


@pytest.mark.parametrize("value, lang", [
    ("eo:cloud_cover <", None),
    ("platform = 'unterminated", "cql2-text"),
    ('{"op": "=", "args": [', "cql2-json"),
])
def test_malformed_filter(value, lang):
    assert fails(value, lang).startswith("invalid cql2-")


@pytest.mark.parametrize("value, named", [
    ({"op": "=", "args": [{"property": "gsd"}, 1, 2]}, "'=' takes 2 argument(s), got 3"),
    ("gsd = NULL", "None is not a number"),
])
def test_parsed_but_malformed_filter_is_named_by_the_translator(value, named):
    """cql2's schema validation is not run (its cost grows with nesting); the translator refuses these."""
    assert named in fails(value)


def test_unknown_filter_lang_and_wrong_value_type():
    assert "'sql'" in fails("gsd < 1", "sql")
    assert "string" in fails({"op": "isNull", "args": [{"property": "gsd"}]}, "cql2-text")
