"""STAC documents in and out: validate an item against the core rules, promote its searchable
fields into columns, and render stored items with the platform's links, asset hrefs and `sdx:` block.

Validation checks what the STAC 1.0 core item schema requires and the indexed extension fields
(offline; the rules are in validation.py): a GeoJSON Feature with an id, a valid geometry in range with
a bbox containing it (computed when absent), a ``datetime`` or a ``start_datetime``/``end_datetime``
pair in RFC 3339, links and assets with hrefs. Every error is reported with a JSON pointer.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urlsplit

import numpy as np
import shapely
from shapely.geometry import shape

from exchange.catalog.spatial import envelope
from exchange.catalog.validation import check_bbox, check_document, check_geojson, check_properties, \
    check_validity, error

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


CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def _has_control_chars(text: str) -> bool:
    return CONTROL_CHARS.search(text) is not None


def is_web_link(href: object) -> bool:
    """An absolute http(s) URL: an external link, returned as it is and never followed by SDX."""
    if not isinstance(href, str) or href[:5].lower() not in ("http:", "https") or _has_control_chars(href):
        return False  # most hrefs of a bulk load are file names: no URL parsing for them
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


def pointer(*parts: object) -> str:
    """An RFC 6901 JSON pointer to a field (``~`` and ``/`` in a key escaped)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def href_problems(doc: dict, *, files: bool = True, platform_assets: set[str] = frozenset()) -> list[dict]:
    """What a provider may not write in a document's hrefs, as errors with JSON pointers. An asset href
    is an http(s) link or the bare name of a file to upload: the server never resolves a provider's
    href (an s3:// or /vsis3/ path could name another organisation's object). A collection's assets
    (``files`` false) and links are text only: see LINK_SCHEMES. Nothing may hold control characters
    (CR/LF would reach HTTP headers). ``platform_assets`` are assets whose href the platform keeps."""
    errors = []
    assets = doc.get("assets")
    for key, asset in assets.items() if isinstance(assets, dict) else ():
        if not isinstance(key, str) or ASSET_KEY_PATTERN.fullmatch(key) is None:
            errors.append(error(pointer("assets", key), "the asset key must be 1 to 100 letters, digits or _.:- "
                                                         "starting with a letter or digit"))
            continue
        href = asset.get("href") if isinstance(asset, dict) else None
        if key in platform_assets or not isinstance(href, str) or is_web_link(href):
            continue
        if not files:
            if _link_problem(href):
                errors.append(error(pointer("assets", key, "href"), f"must be {LINK_RULE}"))
        elif not is_file_name(href):
            errors.append(error(pointer("assets", key, "href"), "must be an http(s) URL or the bare name of a "
                                                                 "file to upload (no other scheme, path or control characters)"))
    links = doc.get("links")
    for number, link in enumerate(links if isinstance(links, list) else ()):
        if _link_problem(link.get("href") if isinstance(link, dict) else None):
            errors.append(error(pointer("links", number, "href"), f"must be {LINK_RULE}"))
    return errors


class InvalidItem(ValueError):
    """Every error of an item: ``errors`` as ``{"field": JSON pointer, "message"}``, ``reasons`` as text."""

    def __init__(self, errors: list[dict]) -> None:
        self.errors = errors
        self.reasons = [f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors]
        super().__init__("; ".join(self.reasons))


#: RFC 3339 section 5.6 ``date-time``: ``T`` and ``Z`` in either case, seconds required, a fraction
#: of one digit or more, and a time zone (``Z`` or ``±hh:mm``). ``datetime.fromisoformat`` alone would
#: also take ``2020-01-01``, ``…50,52Z``, ``…+0100`` or no zone at all.
RFC3339 = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]([0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]+))?([Zz]|[+-][0-9]{2}:[0-9]{2})")
RFC3339_RULE = "an RFC 3339 date-time such as 2020-01-01T00:00:00Z or 2020-01-01T01:00:00.5+01:00"


def parse_rfc3339(value: object) -> datetime:
    """An RFC 3339 date-time as an aware UTC datetime, or ValueError saying what is wrong. The one
    parser of timestamps: search ``datetime``, item properties and CQL2 literals."""
    match = RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{shown(value)} is not {RFC3339_RULE}")
    day, clock, fraction, zone = match.groups()
    micro = f".{(fraction or '')[:6]:0<6}" if fraction else ""  # Python keeps microseconds only
    try:
        parsed = datetime.fromisoformat(f"{day}T{clock}{micro}{'+00:00' if zone in 'Zz' else zone}")
    except ValueError as exc:  # a shape that fits but a date or time that does not exist
        raise ValueError(f"{shown(value)} is not a valid date-time ({exc})") from None
    return parsed.astimezone(timezone.utc)


def shown(value: object, width: int = 60) -> str:
    """A value for an error message, cut short (a provider's value may be megabytes)."""
    text = repr(value)
    return text if len(text) <= width else text[:width] + "…"


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
    #: the GeoJSON footprint is 2D: the footprint column holds all of it
    flat: bool = True
    #: what the stored document must change: a computed ``bbox``, a repaired ``geometry``
    amend: dict = field(default_factory=dict)

    def columns(self) -> dict:
        return {name: value for name, value in self.__dict__.items() if name not in ("amend", "flat")}


def validate_item(item: object, *, repair: bool = False) -> Promoted:
    """Check an item against the core and extension rules (exchange/catalog/validation.py) and return
    its promoted columns, or raise InvalidItem with every error. ``repair``: make an invalid geometry
    valid instead of refusing it."""
    if not isinstance(item, dict):
        raise InvalidItem([error("", "an item must be a JSON object")])
    errors: list[dict] = []
    check_document(item, errors)
    item_id = item.get("id")
    if not valid_id(item_id):
        errors.append(error("/id", f"must be {ID_RULE}"))
    props = item.get("properties")
    if not isinstance(props, dict):
        errors.append(error("/properties", "must be an object"))
        props = {}
    check_properties(props, errors)

    geometry = None
    repaired, flat = False, True
    if item.get("geometry") is None:
        errors.append(error("/geometry", "is required: SDX catalogues located products only"))
    else:
        shape_errors = len(errors)
        check_geojson(item["geometry"], errors)
        if len(errors) == shape_errors:
            try:
                geometry = _shape(item["geometry"])
                flat = not shapely.has_z(geometry)
                geometry = geometry if flat else shapely.force_2d(geometry)  # the footprint column is 2D
            except (ValueError, TypeError, AttributeError, KeyError, IndexError, shapely.errors.ShapelyError) as exc:
                errors.append(error("/geometry", f"is not valid GeoJSON ({exc})"))
            else:
                if geometry.is_empty:
                    errors.append(error("/geometry", "is empty"))
                    geometry = None
                else:
                    checked = check_validity(geometry, repair, errors)
                    repaired = checked is not None and checked is not geometry
                    geometry = checked
    bbox = check_bbox(item.get("bbox"), geometry, errors)

    stamps = {}
    for name in ("datetime", "start_datetime", "end_datetime"):
        if props.get(name) is not None:
            try:
                stamps[name] = parse_rfc3339(props[name])
            except ValueError as exc:
                errors.append(error(f"/properties/{name}", f"must be an RFC 3339 timestamp: {exc}"))
    instant, start, end = stamps.get("datetime"), stamps.get("start_datetime"), stamps.get("end_datetime")
    if start is not None and end is not None and start > end:
        errors.append(error("/properties/start_datetime", 'is after "end_datetime"'))
    if (props.get("start_datetime") is None) != (props.get("end_datetime") is None):
        missing = "end_datetime" if props.get("end_datetime") is None else "start_datetime"
        errors.append(error(f"/properties/{missing}", "is required with the other end of the range"))
    elif props.get("datetime") is None and props.get("start_datetime") is None:
        errors.append(error("/properties/datetime", 'is required, or both "start_datetime" and "end_datetime"'))
    if errors:
        raise InvalidItem(errors)

    minx, miny, maxx, maxy = envelope(bbox)
    instruments = props.get("instruments")
    promoted = Promoted(
        item_id=item_id, dt_start=start or instant, dt_end=end or instant,
        range_end=end if start is not None and end is not None and start < end else None,
        gsd=_number(props.get("gsd")), cloud_cover=_number(props.get("eo:cloud_cover")),
        off_nadir=_number(props.get("view:off_nadir")),
        platform=props.get("platform") if isinstance(props.get("platform"), str) else None,
        constellation=props.get("constellation") if isinstance(props.get("constellation"), str) else None,
        instruments=" ".join(i for i in instruments if isinstance(i, str)) if isinstance(instruments, list) else None,
        minx=minx, miny=miny, maxx=maxx, maxy=maxy, geometry=geometry, flat=flat)
    promoted.amend = {} if item.get("bbox") is not None else {"bbox": bbox}
    if repaired:
        promoted.amend["geometry"] = shapely.geometry.mapping(geometry)
    return promoted


def stored_document(item: dict, collection_id: str, promoted: Promoted) -> dict:
    """What is kept of a valid item (``promoted`` its columns): its JSON without the links and `sdx:`
    fields SDX renders itself (a provider's value for a platform field is ignored: status changes
    only through the lifecycle), and without what the row's columns restate exactly, which
    ``full_document`` puts back: over a third of a typical item's JSONB, and the difference between 7
    and 8 rows to a page. That is ``type`` (always Feature), ``id`` and ``collection`` (the row's ids),
    ``geometry`` when 2D (the footprint column holds the same doubles, so it renders to the same JSON
    numbers), a ``bbox`` equal to the row's envelope, and the defaults: a ``stac_version`` of 1.0.0
    and empty ``links``. Anything else (a 3D footprint, a bbox across the antimeridian or with
    heights) stays in the document.

    Only the top level and ``properties`` are copied: the caller's document is not changed, and
    a bulk load does not pay for a deep copy of every item.
    """
    doc = {**item, **promoted.amend} if promoted.amend else dict(item)
    doc["properties"] = {k: v for k, v in (doc.get("properties") or {}).items()
                         if not k.startswith("sdx:") or k in PROVIDER_PROPERTIES}
    doc.setdefault("stac_version", STAC_VERSION)
    doc.setdefault("stac_extensions", [])
    doc["links"] = [link for link in doc.get("links", []) if isinstance(link, dict)
                    and link.get("rel") not in {"self", "root", "parent", "collection"}]
    doc.setdefault("assets", {})
    for name in ("type", "id", "collection"):
        doc.pop(name, None)
    if doc["stac_version"] == STAC_VERSION:
        del doc["stac_version"]
    if not doc["links"]:
        del doc["links"]
    if promoted.flat and _plain_geometry(doc.get("geometry")):
        del doc["geometry"]
    if doc.get("bbox") == [promoted.minx, promoted.miny, promoted.maxx, promoted.maxy]:
        del doc["bbox"]
    return doc


def _plain_geometry(geometry: object) -> bool:
    """A GeoJSON geometry with no member beyond what the footprint column keeps."""
    return isinstance(geometry, dict) and geometry.keys() <= {"type", "coordinates", "geometries"}


def full_document(row) -> dict:
    """An item row's STAC JSON as it was written (a shallow copy): the stored document with what the
    row's columns restate put back (see ``stored_document``; documents stored before keep it all)."""
    data = row.data
    doc = {"type": "Feature", "stac_version": data.get("stac_version", STAC_VERSION),
           "stac_extensions": data.get("stac_extensions", []), "id": row.item_id, "collection": row.collection_id}
    if "geometry" not in data and row.geometry is not None:
        doc["geometry"] = shapely.geometry.mapping(row.geometry)
    if "bbox" not in data and row.geometry is not None:
        doc["bbox"] = [row.minx, row.miny, row.maxx, row.maxy]
    doc.update(data)
    doc.setdefault("links", [])
    return doc


def render_item(row, base_url: str) -> dict:
    """An item as the API serves it: links to itself and its collection; an asset with an http(s)
    href is an external link, shown as it is; any other (a file on SDX) points to its download route.

    Copies only what it changes (links, assets, properties): a deep copy of every item would
    dominate the time of a large page.
    """
    doc = full_document(row)
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
