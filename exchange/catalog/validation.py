"""The rules a STAC item must meet beyond "it parses", each error with a JSON pointer to its field.

Offline and cheap, because bulk imports of millions of items go through here: the STAC 1.0 core item
rules (GeoJSON geometry with positions in range, a bbox containing it, links and assets shapes) and the
fields of the common metadata and of the eo, view and projection extensions that SDX indexes or that
clients filter on (types and ranges). Extension fields are checked whenever present, declared in
``stac_extensions`` or not: a property named ``eo:cloud_cover`` means the extension's field.

A geometry that is not valid (a self-intersecting polygon...) is refused with Shapely's reason, unless
the provider asks for it to be repaired (``repair=True``: Shapely's ``make_valid``, polygonal parts kept).
"""
from __future__ import annotations

import math

import shapely
from flask import current_app, has_app_context

#: Positions a footprint may have, unless the SDX_STAC_MAX_VERTICES setting says otherwise.
DEFAULT_MAX_VERTICES = 10_000
#: Errors reported per item: a 200,000-vertex footprint out of range is not 200,000 errors.
MAX_ERRORS = 50
#: Degrees a bbox may miss its geometry by (rounding in real catalogues' bboxes).
BBOX_TOLERANCE = 1e-6

#: depth of the ``coordinates`` arrays above a position, per GeoJSON geometry type
DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}
POLYGONAL = ("Polygon", "MultiPolygon")


def error(field: str, message: str) -> dict:
    return {"field": field, "message": message}


def is_number(value) -> bool:
    """A JSON number: int or float (numpy's float64 too), finite, not a bool (an int in Python)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def max_vertices() -> int:
    if has_app_context():
        return int(current_app.config.get("STAC_MAX_VERTICES", DEFAULT_MAX_VERTICES))
    return DEFAULT_MAX_VERTICES


# -- document shape -------------------------------------------------------------------------------
def check_document(item: dict, errors: list[dict]) -> None:
    """type, stac_version, stac_extensions, collection, links and assets."""
    if item.get("type") != "Feature":
        errors.append(error("/type", 'must be "Feature"'))
    if not isinstance(item.get("stac_version", ""), str):
        errors.append(error("/stac_version", "must be a string"))
    extensions = item.get("stac_extensions", [])
    if not isinstance(extensions, list):
        errors.append(error("/stac_extensions", "must be an array of schema URLs"))
    else:
        errors.extend(error(f"/stac_extensions/{i}", "must be a string (a schema URL)")
                      for i, url in enumerate(extensions) if not isinstance(url, str))
    if "collection" in item and not isinstance(item["collection"], (str, type(None))):
        errors.append(error("/collection", "must be a string"))
    links = item.get("links", [])
    if not isinstance(links, list):
        errors.append(error("/links", "must be an array"))
    else:
        for i, link in enumerate(links):
            if not isinstance(link, dict):
                errors.append(error(f"/links/{i}", "must be an object"))
                continue
            for key in ("href", "rel"):
                if not isinstance(link.get(key), str):
                    errors.append(error(f"/links/{i}/{key}", "is required, a string"))
    assets = item.get("assets", {})
    if not isinstance(assets, dict):
        errors.append(error("/assets", "must be an object"))
        return
    for key, asset in assets.items():
        where = f"/assets/{_escape(key)}"
        if not isinstance(asset, dict):
            errors.append(error(where, "must be an object"))
            continue
        if not isinstance(asset.get("href"), str):
            errors.append(error(f"{where}/href", "is required, a string"))
        for name in ("type", "title", "description"):
            if name in asset and not isinstance(asset[name], str):
                errors.append(error(f"{where}/{name}", "must be a string"))
        if "roles" in asset and not _strings(asset["roles"]):
            errors.append(error(f"{where}/roles", "must be an array of strings"))


def _escape(key: str) -> str:
    """A key as a JSON pointer token (RFC 6901)."""
    return str(key).replace("~", "~0").replace("/", "~1")


def _strings(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# -- properties -----------------------------------------------------------------------------------
#: numeric properties: (lowest, highest, lowest excluded)
RANGES = {
    "gsd": (0.0, math.inf, True),
    "eo:cloud_cover": (0.0, 100.0, False),
    "eo:snow_cover": (0.0, 100.0, False),
    "view:off_nadir": (0.0, 90.0, False),
    "view:incidence_angle": (0.0, 90.0, False),
    "view:azimuth": (0.0, 360.0, False),
    "view:sun_azimuth": (0.0, 360.0, False),
    "view:sun_elevation": (-90.0, 90.0, False),
}
STRINGS = ("platform", "constellation", "mission", "title", "description", "license")


def check_properties(props: dict, errors: list[dict]) -> None:
    """Types and ranges of the common metadata and the eo/view/proj fields present."""
    for name, (low, high, low_excluded) in RANGES.items():
        if name not in props:
            continue
        value = props[name]
        where = f"/properties/{name}"
        if not is_number(value):
            errors.append(error(where, f"must be a number, not {_json_type(value)}"))
        elif value < low or value > high or (low_excluded and value == low):
            bound = f"greater than {low:g}" if high == math.inf else f"between {low:g} and {high:g}"
            errors.append(error(where, f"must be {bound} (got {value})"))
    for name in STRINGS:
        if name in props and not isinstance(props[name], str):
            errors.append(error(f"/properties/{name}", f"must be a string, not {_json_type(props[name])}"))
    if "instruments" in props and not _strings(props["instruments"]):
        errors.append(error("/properties/instruments", "must be an array of strings"))
    if "proj:code" in props and not isinstance(props["proj:code"], (str, type(None))):
        errors.append(error("/properties/proj:code", 'must be a string such as "EPSG:32633", or null'))
    if "proj:epsg" in props and props["proj:epsg"] is not None and \
            not (_integer(props["proj:epsg"]) and props["proj:epsg"] > 0):
        errors.append(error("/properties/proj:epsg", "must be a positive integer (an EPSG code), or null"))
    if "proj:shape" in props and not (isinstance(props["proj:shape"], list) and len(props["proj:shape"]) == 2
                                      and all(_integer(v) and v >= 0 for v in props["proj:shape"])):
        errors.append(error("/properties/proj:shape", "must be an array of 2 integers (rows, columns)"))
    for name, sizes in (("proj:bbox", (4, 6)), ("proj:transform", (6, 9))):
        value = props.get(name)
        if name in props and not (isinstance(value, list) and len(value) in sizes and all(map(is_number, value))):
            errors.append(error(f"/properties/{name}", f"must be an array of {' or '.join(map(str, sizes))} numbers"))
    if "providers" in props:
        providers = props["providers"]
        if not isinstance(providers, list):
            errors.append(error("/properties/providers", "must be an array"))
        else:
            errors.extend(error(f"/properties/providers/{i}/name", "is required, a string")
                          for i, provider in enumerate(providers)
                          if not (isinstance(provider, dict) and isinstance(provider.get("name"), str)))


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return f"a string ({value[:40]!r})"
    if isinstance(value, (int, float)):
        return "a non-finite number" if not math.isfinite(value) else "a number"
    return "an array" if isinstance(value, list) else "an object"


# -- geometry -------------------------------------------------------------------------------------
def check_geojson(geometry, errors: list[dict], where: str = "/geometry") -> None:
    """The GeoJSON structure of a geometry: its type, nesting, positions of 2-3 numbers in range
    (lon -180..180, lat -90..90), rings closed with 4+ positions, at most ``max_vertices()`` positions.
    Run before Shapely sees it, so a bad position is named by its pointer."""
    before = len(errors)
    limit = max_vertices()
    if not isinstance(geometry, dict):
        errors.append(error(where, "must be a GeoJSON geometry object"))
        return
    kind = geometry.get("type")
    if kind == "GeometryCollection":
        parts = geometry.get("geometries")
        if not isinstance(parts, (list, tuple)) or not parts:
            errors.append(error(f"{where}/geometries", "must be a non-empty array of geometries"))
            return
        count = sum(_count(part.get("coordinates"), DEPTH.get(part.get("type"), 0))
                    for part in parts if isinstance(part, dict))
        if count > limit:
            errors.append(error(f"{where}/geometries", f"has more than {limit:,} positions; simplify the footprint"))
            return
        for i, part in enumerate(parts):
            if isinstance(part, dict) and part.get("type") == "GeometryCollection":
                errors.append(error(f"{where}/geometries/{i}", "must not be a GeometryCollection"))
            else:
                check_geojson(part, errors, f"{where}/geometries/{i}")
        return
    if kind not in DEPTH:
        errors.append(error(f"{where}/type", f"must be one of {', '.join(DEPTH)} or GeometryCollection"))
        return
    coordinates = geometry.get("coordinates")
    count = _count(coordinates, DEPTH[kind])
    if count > limit:
        errors.append(error(f"{where}/coordinates",
                            f"has {count:,} positions, more than {limit:,}; simplify the footprint"))
        return
    _check_coordinates(coordinates, DEPTH[kind], kind, f"{where}/coordinates", errors)
    if len(errors) - before > MAX_ERRORS:
        del errors[before + MAX_ERRORS:]
        errors.append(error(f"{where}/coordinates", f"more errors not listed (first {MAX_ERRORS} shown)"))


def _count(coordinates, depth: int) -> int:
    """Positions in a coordinates array (0 if it is malformed: the walk reports that)."""
    if not isinstance(coordinates, (list, tuple)):
        return 0
    if depth <= 1:
        return len(coordinates) if depth == 1 else 1
    return sum(_count(c, depth - 1) for c in coordinates)


def _check_coordinates(coordinates, depth: int, kind: str, where: str, errors: list[dict]) -> None:
    if depth == 0:
        _check_position(coordinates, where, errors)
        return
    if not isinstance(coordinates, (list, tuple)):  # tuples: GeoJSON made by Shapely's mapping()
        errors.append(error(where, "must be an array"))
        return
    if depth == 1:
        minimum = 4 if kind in POLYGONAL else 2 if kind in ("LineString", "MultiLineString") else 1
        if len(coordinates) < minimum:
            what = "a linear ring" if kind in POLYGONAL else "a line" if minimum == 2 else "it"
            errors.append(error(where, f"{what} needs at least {minimum} positions"))
        for i, position in enumerate(coordinates):
            if len(errors) > MAX_ERRORS + 1:
                return
            if not _plain(position):
                _check_position(position, f"{where}/{i}", errors)
        if kind in POLYGONAL and len(coordinates) >= minimum and list(coordinates[0]) != list(coordinates[-1]):
            errors.append(error(where, "a linear ring must be closed (its last position equal to its first)"))
        return
    if kind in POLYGONAL and depth == 2 and not coordinates:
        errors.append(error(where, "a polygon needs at least an exterior ring"))
    for i, part in enumerate(coordinates):
        _check_coordinates(part, depth - 1, kind, f"{where}/{i}", errors)


def _plain(position) -> bool:
    """The commonest valid position, recognised at once: [lon, lat] as floats in range (NaN and
    infinities fail the comparisons and get the full check)."""
    if type(position) is list and len(position) == 2:
        x, y = position
        return type(x) is float and type(y) is float and -180.0 <= x <= 180.0 and -90.0 <= y <= 90.0
    return False


def _check_position(position, where: str, errors: list[dict]) -> None:
    if _plain(position):
        return
    if not (isinstance(position, (list, tuple)) and 2 <= len(position) <= 3 and all(map(is_number, position))):
        errors.append(error(where, "a position must be an array of 2 or 3 numbers [longitude, latitude(, height)]"))
    elif not (-180.0 <= position[0] <= 180.0 and -90.0 <= position[1] <= 90.0):
        errors.append(error(where, f"[{position[0]}, {position[1]}] is out of range: longitude must be within "
                                   f"-180..180 and latitude within -90..90 (WGS84 degrees)"))


def check_validity(geometry, repair: bool, errors: list[dict]):
    """The Shapely geometry if valid; repaired if asked; else an error with Shapely's reason."""
    if geometry.is_valid:
        return geometry
    if not repair:
        errors.append(error("/geometry", f"is not a valid geometry: {shapely.is_valid_reason(geometry)}; "
                                         "fix it, or ask for a repair (?repair=true; import-stac --repair)"))
        return None
    fixed = shapely.make_valid(geometry)
    if geometry.geom_type in POLYGONAL and fixed.geom_type not in POLYGONAL:
        # make_valid may leave lines or points where the polygon folded: keep its area only
        polygons = [part for part in shapely.get_parts(fixed) if part.geom_type in POLYGONAL]
        fixed = shapely.union_all(polygons) if polygons else shapely.Polygon()
    if fixed.is_empty:
        errors.append(error("/geometry", f"cannot be repaired: {shapely.is_valid_reason(geometry)}"))
        return None
    return fixed


def check_bbox(bbox, geometry, errors: list[dict], where: str = "/bbox") -> list | None:
    """The bbox as given (4 or 6 numbers in range, containing the geometry), or computed from the
    geometry when absent (STAC requires one on every item with a geometry)."""
    if bbox is None:
        return list(geometry.bounds) if geometry is not None else None
    if not (isinstance(bbox, (list, tuple)) and len(bbox) in (4, 6) and all(map(is_number, bbox))):
        errors.append(error(where, "must be an array of 4 or 6 numbers"))
        return None
    west, south, east, north = (bbox[0], bbox[1], bbox[3], bbox[4]) if len(bbox) == 6 else bbox
    if not (-180.0 <= west <= 180.0 and -180.0 <= east <= 180.0 and -90.0 <= south <= north <= 90.0):
        errors.append(error(where, "must be [west, south, east, north] with longitudes within -180..180, "
                                     "latitudes within -90..90 and south <= north"))
        return None
    if len(bbox) == 6 and bbox[2] > bbox[5]:
        errors.append(error(where, "its lowest height is above its highest"))
        return None
    if geometry is not None and not _contains(west, south, east, north, geometry):
        errors.append(error(where, f"does not contain the geometry (whose bounds are "
                                     f"{[round(v, 6) for v in geometry.bounds]}); fix it, or leave it out to "
                                     "have it computed"))
        return None
    return bbox


def _contains(west: float, south: float, east: float, north: float, geometry) -> bool:
    minx, miny, maxx, maxy = geometry.bounds
    eps = BBOX_TOLERANCE
    if not (south - eps <= miny and maxy <= north + eps):
        return False
    if west <= east:
        return west - eps <= minx and maxx <= east + eps
    # across the antimeridian: every position east of west or west of east
    xs = shapely.get_coordinates(geometry)[:, 0]
    return bool(((xs >= west - eps) | (xs <= east + eps)).all())


# -- collections ----------------------------------------------------------------------------------
def check_extent(extent, errors: list[dict]) -> None:
    """A collection's extent: spatial bboxes as an item's, temporal intervals of timestamps or null."""
    if not isinstance(extent, dict):
        errors.append(error("/extent", "must be an object"))
        return
    spatial = extent.get("spatial", {})
    bboxes = spatial.get("bbox", []) if isinstance(spatial, dict) else None
    if not isinstance(bboxes, list):
        errors.append(error("/extent/spatial/bbox", "must be an array of bboxes"))
    else:
        for i, bbox in enumerate(bboxes):
            check_bbox(bbox, None, errors, f"/extent/spatial/bbox/{i}")
    temporal = extent.get("temporal", {})
    intervals = temporal.get("interval", []) if isinstance(temporal, dict) else None
    if not isinstance(intervals, list):
        errors.append(error("/extent/temporal/interval", "must be an array of [start, end] intervals"))
        return
    for i, interval in enumerate(intervals):
        if not (isinstance(interval, list) and len(interval) == 2 and
                all(isinstance(v, (str, type(None))) for v in interval)):
            errors.append(error(f"/extent/temporal/interval/{i}", "must be [start, end]: timestamps or null"))
