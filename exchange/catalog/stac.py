"""STAC documents in and out: validate an item against the core rules, promote its searchable
fields into columns, and render stored items with the platform's links, asset hrefs and `sdx:` block.

Validation checks what the STAC 1.0 core item schema requires (offline — extension schemas live
online and are not fetched): a GeoJSON Feature with an id, a valid geometry with a bbox (or a null
geometry), a ``datetime`` or a ``start_datetime``/``end_datetime`` pair in RFC 3339, links and assets
with hrefs. Every problem found is reported, not just the first.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import shapely
from shapely.geometry import shape

from exchange.catalog.spatial import envelope

STAC_VERSION = "1.0.0"
#: Asset roles anyone may fetch directly; every other asset is data, served through the platform.
PUBLIC_ASSET_ROLES = {"thumbnail", "overview", "metadata", "visual-preview"}


def is_public_asset(asset: dict) -> bool:
    return bool(PUBLIC_ASSET_ROLES.intersection(asset.get("roles") or ["data"]))


class InvalidItem(ValueError):
    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def parse_rfc3339(value: str) -> datetime:
    """An RFC 3339 timestamp as an aware UTC datetime (a trailing Z or an offset is required)."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an RFC 3339 timestamp")
    text = value.strip().replace("z", "Z")
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone (add Z)")
    return parsed.astimezone(timezone.utc)


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _shape(geojson) -> object:
    """A GeoJSON geometry as Shapely: ``shape`` for any type, a shorter way for the commonest
    footprint (a polygon without holes) that halves the cost of a bulk load's validation."""
    if isinstance(geojson, dict) and geojson.get("type") == "Polygon":
        rings = geojson.get("coordinates")
        if isinstance(rings, list) and len(rings) == 1 and isinstance(rings[0], list) and rings[0]:
            return shapely.polygons(np.asarray(rings[0], dtype=float))
    return shape(geojson)


@dataclass
class Promoted:
    """The columns of an item row derived from its STAC JSON."""

    item_id: str
    datetime: datetime | None
    dt_start: datetime
    dt_end: datetime
    range_end: datetime | None
    gsd: float | None
    cloud_cover: float | None
    off_nadir: float | None
    platform: str | None
    constellation: str | None
    instruments: str | None
    minx: float
    miny: float
    maxx: float
    maxy: float
    geometry: object

    def columns(self) -> dict:
        return dict(self.__dict__)


def validate_item(item: object) -> Promoted:
    """Check an item against the core rules and return its promoted columns, or raise InvalidItem."""
    reasons: list[str] = []
    if not isinstance(item, dict):
        raise InvalidItem(["an item must be a JSON object"])
    if item.get("type") != "Feature":
        reasons.append('"type" must be "Feature"')
    item_id = item.get("id")
    if not isinstance(item_id, str) or not item_id.strip() or len(item_id) > 255 or "/" in item_id:
        reasons.append('"id" must be a non-empty string of at most 255 characters without "/"')
    if not isinstance(item.get("stac_version", STAC_VERSION), str):
        reasons.append('"stac_version" must be a string')
    props = item.get("properties")
    if not isinstance(props, dict):
        reasons.append('"properties" must be an object')
        props = {}
    for key in ("links", "assets"):
        if key in item and not isinstance(item[key], list if key == "links" else dict):
            reasons.append(f'"{key}" must be {"an array" if key == "links" else "an object"}')
    for name, asset in (item.get("assets") or {}).items() if isinstance(item.get("assets"), dict) else []:
        if not isinstance(asset, dict) or not isinstance(asset.get("href"), str):
            reasons.append(f'asset "{name}" needs an "href"')

    geometry = None
    try:
        if item.get("geometry") is None:
            reasons.append('"geometry" is required: SDX catalogues located products only')
        else:
            geometry = shapely.force_2d(_shape(item["geometry"]))  # the footprint column is 2D (no altitude)
            if geometry.is_empty:
                reasons.append('"geometry" is empty')
            elif not geometry.is_valid:
                geometry = shapely.make_valid(geometry)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, shapely.errors.ShapelyError) as exc:
        reasons.append(f'"geometry" is not valid GeoJSON ({exc})')
        geometry = None

    bbox = item.get("bbox")
    if bbox is None and geometry is not None:
        bbox = list(geometry.bounds)
    elif not (isinstance(bbox, list) and len(bbox) in (4, 6) and all(_number(v) is not None for v in bbox)):
        reasons.append('"bbox" must be an array of 4 or 6 numbers')
        bbox = None

    instant = start = end = None
    try:
        if props.get("datetime") is not None:
            instant = parse_rfc3339(props["datetime"])
        if props.get("start_datetime") is not None or props.get("end_datetime") is not None:
            start = parse_rfc3339(props.get("start_datetime"))
            end = parse_rfc3339(props.get("end_datetime"))
            if start > end:
                reasons.append('"start_datetime" is after "end_datetime"')
        if instant is None and (start is None or end is None):
            reasons.append('"properties.datetime" is required, or both "start_datetime" and "end_datetime"')
    except ValueError as exc:
        reasons.append(f"bad timestamp: {exc}")
    if reasons:
        raise InvalidItem(reasons)

    minx, miny, maxx, maxy = envelope(bbox)
    instruments = props.get("instruments")
    return Promoted(
        item_id=item_id, datetime=instant, dt_start=start or instant, dt_end=end or instant,
        range_end=end if start is not None and end is not None and start < end else None,
        gsd=_number(props.get("gsd")), cloud_cover=_number(props.get("eo:cloud_cover")),
        off_nadir=_number(props.get("view:off_nadir")),
        platform=props.get("platform") if isinstance(props.get("platform"), str) else None,
        constellation=props.get("constellation") if isinstance(props.get("constellation"), str) else None,
        instruments=" ".join(i for i in instruments if isinstance(i, str)) if isinstance(instruments, list) else None,
        minx=minx, miny=miny, maxx=maxx, maxy=maxy, geometry=geometry)


def stored_document(item: dict, collection_id: str) -> dict:
    """What is kept of an item: its JSON without the links and `sdx:` fields SDX renders itself.

    Only the top level and ``properties`` are copied: the caller's document is not changed, and
    a bulk load does not pay for a deep copy of every item.
    """
    doc = dict(item)
    doc["properties"] = {k: v for k, v in (doc.get("properties") or {}).items()
                         if k not in ("sdx:provider", "sdx:status", "sdx:product_id")}
    doc["collection"] = collection_id
    doc.setdefault("stac_version", STAC_VERSION)
    doc.setdefault("stac_extensions", [])
    doc["links"] = [link for link in doc.get("links", []) if isinstance(link, dict)
                    and link.get("rel") not in {"self", "root", "parent", "collection"}]
    doc.setdefault("assets", {})
    return doc


def render_item(row, base_url: str) -> dict:
    """An item as the API serves it: links to itself and its collection, data assets through SDX.

    Copies only what it changes (links, assets, properties): a deep copy of every item would
    dominate the time of a large page.
    """
    doc = dict(row.data)
    collection_url = f"{base_url}/stac/collections/{row.collection_id}"
    self_url = f"{collection_url}/items/{row.item_id}"
    doc["links"] = [
        {"rel": "self", "type": "application/geo+json", "href": self_url},
        {"rel": "parent", "type": "application/json", "href": collection_url},
        {"rel": "collection", "type": "application/json", "href": collection_url},
        {"rel": "root", "type": "application/json", "href": f"{base_url}/stac/"},
        *doc.get("links", []),
    ]
    doc["assets"] = {key: asset if is_public_asset(asset) and not asset["href"].startswith("s3://")
                     else dict(asset, href=f"{self_url}/assets/{key}/download")
                     for key, asset in doc.get("assets", {}).items()}
    doc["properties"] = dict(doc.get("properties") or {})
    doc["properties"]["sdx:provider"] = str(row.provider_org_id)
    doc["properties"]["sdx:status"] = row.status.value
    doc["properties"]["sdx:product_id"] = row.key
    return doc
