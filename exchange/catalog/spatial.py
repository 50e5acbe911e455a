"""Spatial predicates that give identical answers on PostgreSQL+PostGIS and on SQLite.

PostgreSQL: ``ST_Intersects`` on the SP-GiST-indexed geometry. SQLite: the R*Tree over item envelopes
prefilters, then ``sdx_intersects`` — Shapely, registered as an SQL function on every SQLite
connection — decides exactly. Bounding boxes crossing the antimeridian (west > east) are split in two.
"""
from __future__ import annotations

import sqlite3

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine, LargeBinary, and_, bindparam, event, func, literal_column, or_, select, table, \
    column

#: The SQLite R*Tree over item envelopes, maintained by triggers (see the catalog migration).
ITEMS_RTREE = table("items_rtree", column("id"), column("minx"), column("maxx"), column("miny"), column("maxy"))


def _sdx_intersects(geometry_wkb: bytes | None, query_wkb: bytes) -> int:
    if geometry_wkb is None:
        return 0
    return int(shapely.intersects(shapely.from_wkb(geometry_wkb), shapely.from_wkb(query_wkb)))


@event.listens_for(Engine, "connect")
def _register_sqlite_functions(dbapi_connection, connection_record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.create_function("sdx_intersects", 2, _sdx_intersects, deterministic=True)


def range_problem(west: float, south: float, east: float, north: float) -> str | None:
    """What of an extent lies outside WGS84 degrees, or None: the one rule for a search ``bbox``, an
    ``intersects`` geometry and a CQL2 ``s_intersects`` literal (none is wrapped around the globe)."""
    if not (-180 <= west <= 180 and -180 <= east <= 180):
        return "longitudes must be within -180..180"
    if not (-90 <= south <= 90 and -90 <= north <= 90):
        return "latitudes must be within -90..90"
    return None


def bbox_geometry(bbox: list[float]) -> BaseGeometry:
    """A 2D or 3D STAC bbox as a (multi)polygon; west > east crosses the antimeridian."""
    if len(bbox) == 6:
        west, south, _, east, north, _ = bbox
    else:
        west, south, east, north = bbox
    if west > east:
        return shapely.MultiPolygon([shapely.box(west, south, 180.0, north), shapely.box(-180.0, south, east, north)])
    return shapely.box(west, south, east, north)


def envelope(bbox: list[float]) -> tuple[float, float, float, float]:
    """The (minx, miny, maxx, maxy) indexed for an item: a bbox crossing the antimeridian spans all longitudes."""
    if len(bbox) == 6:
        west, south, _, east, north, _ = bbox
    else:
        west, south, east, north = bbox
    if west > east:
        west, east = -180.0, 180.0
    return west, south, east, north


class SpatialOps:
    """Builds "footprint intersects this geometry" for the dialect in use."""

    def __init__(self, dialect_name: str, item_table) -> None:
        self.dialect_name = dialect_name
        self.items = item_table

    def intersects(self, geometry_column, geom: BaseGeometry, *, indexed: bool = True):
        """``indexed=False`` (PostgreSQL): the same test without the spatial index, for searches that
        another index narrows down better — PostGIS's ``_ST_Intersects`` is ST_Intersects without
        the ``&&`` index condition."""
        wkb = bindparam(None, shapely.to_wkb(geom), type_=LargeBinary)
        if self.dialect_name == "postgresql":
            test = func.ST_Intersects if indexed else getattr(func, "_ST_Intersects")
            return test(geometry_column, func.ST_SetSRID(func.ST_GeomFromWKB(wkb), 4326))
        parts = list(geom.geoms) if isinstance(geom, shapely.MultiPolygon) else [geom]
        boxes = []
        for part in parts:
            minx, miny, maxx, maxy = part.bounds
            boxes.append(and_(ITEMS_RTREE.c.minx <= maxx, ITEMS_RTREE.c.maxx >= minx,
                              ITEMS_RTREE.c.miny <= maxy, ITEMS_RTREE.c.maxy >= miny))
        candidates = select(ITEMS_RTREE.c.id).where(or_(*boxes))
        return and_(self.items.c.key.in_(candidates), func.sdx_intersects(geometry_column, wkb) == literal_column("1"))
