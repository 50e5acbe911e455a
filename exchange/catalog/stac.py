"""STAC documents in and out: validate an item against the core rules, promote its searchable
fields into columns, and render stored items with the platform's links, asset hrefs and `sdx:` block.

Validation checks what the STAC 1.0 core item schema requires (offline — extension schemas live
online and are not fetched): a GeoJSON Feature with an id, a valid geometry with a bbox (or a null
geometry), a ``datetime`` or a ``start_datetime``/``end_datetime`` pair in RFC 3339, links and assets
with hrefs. Every problem found is reported, not just the first.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

import numpy as np
import shapely
from shapely.geometry import shape

from exchange.catalog.spatial import envelope

STAC_VERSION = "1.0.0"
#: Asset roles anyone may fetch directly; every other asset is data, served through the platform.
PUBLIC_ASSET_ROLES = {"thumbnail", "overview", "metadata", "visual-preview"}


#: Collection and item ids: they become URL path segments and object-store key prefixes.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
ID_RULE = ("1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit "
           "(pattern ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$)")
#: Asset keys: a URL path segment of the download route (the upload API uses the same rule).
ASSET_KEY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")
#: Properties the platform sets; a provider's value for them is ignored (the stored one is kept).
PLATFORM_PROPERTIES = ("sdx:provider", "sdx:status", "sdx:product_id")
#: The one ``sdx:`` property a provider may set: ask ingest to take the footprint from the data.
PROVIDER_PROPERTIES = {"sdx:footprint_from_data"}
#: Schemes of text-only hrefs (links, collection assets): relative, web and cloud-storage URLs, shown
#: as they are and never resolved by SDX. Not javascript:, data:, file: and the like.
LINK_SCHEMES = {"", "http", "https", "s3", "gs", "abfs", "az"}
LINK_RULE = "a relative, http(s) or cloud-storage (s3, gs, abfs, az) URL without control characters"


def _link_problem(href: object) -> bool:
    if not isinstance(href, str) or _has_control_chars(href):
        return True
    try:
        return urlsplit(href).scheme.lower() not in LINK_SCHEMES
    except ValueError:
        return True


def valid_id(value: object) -> bool:
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def is_public_asset(asset: dict) -> bool:
    return bool(PUBLIC_ASSET_ROLES.intersection(asset.get("roles") or ["data"]))


def _has_control_chars(text: str) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def is_web_link(href: object) -> bool:
    """An absolute http(s) URL: an external link, returned as it is and never followed by SDX."""
    if not isinstance(href, str) or _has_control_chars(href):
        return False
    try:
        parts = urlsplit(href)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def is_file_name(href: object) -> bool:
    """A bare file name, optionally written ``./name`` as in a static catalogue: a file the provider
    will upload to SDX (no scheme, no directory, no control characters)."""
    if not isinstance(href, str):
        return False
    name = href.removeprefix("./")
    return 0 < len(name) <= 255 and name not in (".", "..") and not _has_control_chars(name) and \
        not any(ch in name for ch in '/\\:')


def href_problems(doc: dict, *, files: bool = True, platform_assets: set[str] = frozenset()) -> list[str]:
    """What a provider may not write in a document's hrefs. An asset href is an http(s) link or
    the bare name of a file to upload: the server never resolves a provider's href (an s3:// or
    /vsis3/ path could name another organisation's object). A collection's assets (``files`` false)
    and links are text only: see LINK_SCHEMES. Nothing may hold control characters (CR/LF would
    reach HTTP headers). ``platform_assets`` are assets whose href the platform keeps (its uploads)."""
    reasons = []
    assets = doc.get("assets")
    for key, asset in assets.items() if isinstance(assets, dict) else ():
        if not isinstance(key, str) or ASSET_KEY_PATTERN.fullmatch(key) is None:
            reasons.append(f"asset key {key!r} must be 1 to 100 letters, digits or _.:- "
                           "starting with a letter or digit")
            continue
        href = asset.get("href") if isinstance(asset, dict) else None
        if key in platform_assets or not isinstance(href, str) or is_web_link(href):
            continue
        if not files:
            if _link_problem(href):
                reasons.append(f'"assets.{key}.href" must be {LINK_RULE}')
        elif not is_file_name(href):
            reasons.append(f'"assets.{key}.href" must be an http(s) URL or the bare name of a file to upload '
                           "(no other scheme, path or control characters)")
    links = doc.get("links")
    for number, link in enumerate(links if isinstance(links, list) else ()):
        if _link_problem(link.get("href") if isinstance(link, dict) else None):
            reasons.append(f'"links[{number}].href" must be {LINK_RULE}')
    return reasons


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
    if not valid_id(item_id):
        reasons.append(f'"id" must be {ID_RULE}')
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
            geometry = _shape(item["geometry"])
            if geometry.is_empty:
                reasons.append('"geometry" is empty')
            elif not geometry.is_valid:
                geometry = shapely.make_valid(geometry)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, shapely.errors.GEOSException) as exc:
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
    """What is kept of an item: its JSON without the links and `sdx:` fields SDX renders itself
    (a provider's value for a platform field is ignored: status changes only through the lifecycle).

    Only the top level and ``properties`` are copied: the caller's document is not changed, and
    a bulk load does not pay for a deep copy of every item.
    """
    doc = dict(item)
    doc["properties"] = {k: v for k, v in (doc.get("properties") or {}).items()
                         if not k.startswith("sdx:") or k in PROVIDER_PROPERTIES}
    doc["collection"] = collection_id
    doc.setdefault("stac_version", STAC_VERSION)
    doc.setdefault("stac_extensions", [])
    doc["links"] = [link for link in doc.get("links", []) if isinstance(link, dict)
                    and link.get("rel") not in {"self", "root", "parent", "collection"}]
    doc.setdefault("assets", {})
    return doc


def render_item(row, base_url: str) -> dict:
    """An item as the API serves it: links to itself and its collection; an asset with an http(s)
    href is an external link, shown as it is; any other (a file on SDX) points to its download route.

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
    doc["assets"] = {key: asset if is_web_link(asset.get("href"))
                     else dict(asset, href=f"{self_url}/assets/{key}/download")
                     for key, asset in doc.get("assets", {}).items()}
    doc["properties"] = dict(doc.get("properties") or {})
    doc["properties"]["sdx:provider"] = str(row.provider_org_id)
    doc["properties"]["sdx:status"] = row.status.value
    doc["properties"]["sdx:product_id"] = row.key
    return doc
