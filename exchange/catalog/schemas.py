"""The catalogue's documents: STAC JSON as the API answers it, and the schemas that describe it in OpenAPI.

The renderers build the answers as dicts (``jsonify`` writes them). The marshmallow schemas only
document: STAC documents are open-ended GeoJSON and every extension adds fields, so they are
permissive (unknown fields pass), and no answer is ever loaded or dumped through them — a page of
items stays the dicts ``render_item`` made, at the speed it made them.
"""
from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields

from exchange.catalog import hooks
from exchange.catalog.coarse import coarsen
from exchange.catalog.models import Collection, Item
from exchange.catalog.query import QUERYABLES, Page
from exchange.catalog.search import SearchRequest
from exchange.catalog.stac import render_item
from exchange.core.responses import OPENAPI_MEDIA_TYPE

GEOJSON = "application/geo+json"
_CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf"
CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#fields",
    "https://api.stacspec.org/v1.0.0/item-search#sort",
    "https://api.stacspec.org/v1.1.0/item-search#sort",
    "https://api.stacspec.org/v1.0.0/item-search#query",
    "https://api.stacspec.org/v1.0.0/item-search#filter",
    "https://api.stacspec.org/v1.0.0/ogcapi-features#fields",
    "https://api.stacspec.org/v1.0.0/ogcapi-features#sort",
    "https://api.stacspec.org/v1.0.0/ogcapi-features#query",
    "https://api.stacspec.org/v1.0.0/ogcapi-features/extensions/transaction",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/simpletx",
    f"{_CQL2}/cql2-text", f"{_CQL2}/cql2-json", f"{_CQL2}/basic-cql2",
    f"{_CQL2}/advanced-comparison-operators", f"{_CQL2}/basic-spatial-functions",
]
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
#: How a count of matches is named in a page: OGC API Features' numberMatched only when counted, so no
#: client takes an estimate or a lower bound for a count (STAC's context extension is deprecated).
MATCHED_FIELDS = {"exact": "numberMatched", "estimate": "sdx:numberMatchedEstimate",
                  "at_least": "sdx:numberMatchedAtLeast"}
PAGE_DESCRIPTION = (
    "A page of items (a GeoJSON FeatureCollection). The first page says how many items match: "
    "`numberMatched` when they were counted; otherwise `sdx:numberMatchedEstimate` (the database's "
    "estimate, possibly below the truth) and/or `sdx:numberMatchedAtLeast` (a lower bound).")


# -- rendering ----------------------------------------------------------------------------------------
def landing(base_url: str) -> dict:
    stac = f"{base_url}/stac"
    return {
        "type": "Catalog", "stac_version": "1.0.0", "id": "sdx", "title": "SDX — Satellite Data Exchange",
        "description": "Satellite products published on SDX.", "conformsTo": CONFORMANCE,
        "links": [
            {"rel": "self", "type": "application/json", "href": f"{stac}/"},
            {"rel": "root", "type": "application/json", "href": f"{stac}/"},
            {"rel": "conformance", "type": "application/json", "href": f"{stac}/conformance"},
            {"rel": "data", "type": "application/json", "href": f"{stac}/collections"},
            {"rel": "search", "type": GEOJSON, "method": "GET", "href": f"{stac}/search"},
            {"rel": "search", "type": GEOJSON, "method": "POST", "href": f"{stac}/search"},
            {"rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables", "type": "application/schema+json",
             "href": f"{stac}/queryables"},
            {"rel": "service-desc", "type": OPENAPI_MEDIA_TYPE, "href": f"{base_url}/api/openapi.json"},
            {"rel": "service-doc", "type": "text/html", "href": f"{base_url}/api/docs"},
        ],
    }


def queryables(url: str, carried: dict[str, set[str]]) -> dict:
    """The promoted columns plus every property the items carry (``carried``: name -> JSON types).
    ``additionalProperties: false``: the list is complete, a filter on any other name is refused."""
    kinds = {"number": {"type": "number"}, "string": {"type": "string"},
             "timestamp": {"type": "string", "format": "date-time"},
             "geometry": {"$ref": "https://geojson.org/schema/Geometry.json"}}
    listed = {name: dict(kinds[q.kind], title=name) for name, q in QUERYABLES.items()}
    for name, types in sorted(carried.items()):
        listed[name] = {"title": name, "type": types.pop() if len(types) == 1 else sorted(types)}
    return {"$schema": "https://json-schema.org/draft/2019-09/schema", "$id": url, "type": "object",
            "title": "Queryables", "additionalProperties": False, "properties": listed}


def collection(collection: Collection, base_url: str) -> dict:
    doc = dict(collection.data)
    url = f"{base_url}/stac/collections/{collection.id}"
    doc["links"] = [
        {"rel": "self", "type": "application/json", "href": url},
        {"rel": "root", "type": "application/json", "href": f"{base_url}/stac/"},
        {"rel": "parent", "type": "application/json", "href": f"{base_url}/stac/"},
        {"rel": "items", "type": GEOJSON, "href": f"{url}/items"},
        {"rel": QUERYABLES_REL, "type": "application/schema+json", "href": f"{url}/queryables"},
        *(link for link in doc.get("links", []) if link.get("rel") != QUERYABLES_REL),  # ours replaces theirs
    ]
    doc["sdx:owner"] = str(collection.owner_org_id)
    return doc


def collections(found: list[Collection], base_url: str) -> dict:
    return {"collections": [collection(c, base_url) for c in found], "links": [
        {"rel": "self", "type": "application/json", "href": f"{base_url}/stac/collections"},
        {"rel": "root", "type": "application/json", "href": f"{base_url}/stac/"}]}


def items(rows: list[Item], base_url: str, request: SearchRequest | None = None, withheld=()) -> list[dict]:
    """Items as STAC JSON — coarsened (``coarse.coarsen``) where their key is in ``withheld`` — with
    what other domains add (``hooks.items_rendered``: one call for the page), cut to the fields a
    search asked for."""
    docs = [coarsen(render_item(row, base_url), row) if row.key in withheld else render_item(row, base_url)
            for row in rows]
    if docs:
        hooks.items_rendered.send(rows, documents=docs)
    if request is not None and request.fields is not None:
        return [request.fields.apply(doc) for doc in docs]
    return docs


def item(row: Item, base_url: str, withheld=()) -> dict:
    """An item as STAC JSON (coarsened if its key is in ``withheld``)."""
    return items([row], base_url, withheld=withheld)[0]


def feature_collection(page: Page, base_url: str, search: SearchRequest, link_for, self_link: dict) -> dict:
    """A page of a search as a FeatureCollection; ``link_for(token)``: the link to another page."""
    features = items(page.items, base_url, search, page.withheld)
    links = [dict(self_link, rel="self", type=GEOJSON),
             {"rel": "root", "type": "application/json", "href": f"{base_url}/stac/"}]
    for rel, token in (("next", page.next_token), ("prev", page.prev_token)):
        if token:
            links.append(dict(link_for(token), rel=rel, type=GEOJSON))
    body = {"type": "FeatureCollection", "features": features, "links": links, "numberReturned": len(features)}
    if page.matched is not None:
        body.update({name: getattr(page.matched, kind) for kind, name in MATCHED_FIELDS.items()
                     if getattr(page.matched, kind) is not None})
    return body


# -- OpenAPI (documentation only) ------------------------------------------------------------------------
class _Open(Schema):
    """Fields beyond the listed ones are allowed: STAC extensions add their own."""

    class Meta:
        unknown = INCLUDE


class LinkSchema(_Open):
    rel = fields.String(required=True)
    href = fields.String(required=True)
    type = fields.String()
    title = fields.String()
    method = fields.String(metadata={"description": "GET or POST, on search links"})
    body = fields.Dict(metadata={"description": "The POST body of a search's next/prev page"})
    merge = fields.Boolean()


class LandingSchema(_Open):
    type = fields.String(metadata={"example": "Catalog"})
    stac_version = fields.String()
    id = fields.String()
    title = fields.String()
    description = fields.String()
    conformsTo = fields.List(fields.String())
    links = fields.List(fields.Nested(LinkSchema))


class ConformanceSchema(_Open):
    conformsTo = fields.List(fields.String())


class CollectionSchema(_Open):
    type = fields.String(metadata={"example": "Collection"})
    stac_version = fields.String()
    id = fields.String(required=True)
    title = fields.String()
    description = fields.String(required=True)
    license = fields.String()
    extent = fields.Dict(metadata={"description": "spatial bbox and temporal interval"})
    links = fields.List(fields.Nested(LinkSchema))
    owner = fields.String(data_key="sdx:owner", dump_only=True,
                          metadata={"description": "The provider organisation's id (set by SDX)"})


class CollectionsSchema(_Open):
    collections = fields.List(fields.Nested(CollectionSchema))
    links = fields.List(fields.Nested(LinkSchema))


class ItemSchema(_Open):
    type = fields.String(required=True, metadata={"example": "Feature"})
    stac_version = fields.String()
    stac_extensions = fields.List(fields.String())
    id = fields.String(required=True)
    collection = fields.String()
    geometry = fields.Dict(required=True, metadata={"description": "GeoJSON geometry (WGS84)"})
    bbox = fields.List(fields.Float())
    properties = fields.Dict(required=True, metadata={
        "description": "`datetime` (or `start_datetime` and `end_datetime`) and any other properties"})
    assets = fields.Dict()
    links = fields.List(fields.Nested(LinkSchema))


class ItemCollectionSchema(_Open):
    type = fields.String(metadata={"example": "FeatureCollection"})
    features = fields.List(fields.Nested(ItemSchema))
    links = fields.List(fields.Nested(LinkSchema))
    numberReturned = fields.Integer()
    numberMatched = fields.Integer(metadata={"description": "Only when the matches were counted"})
    estimate = fields.Integer(data_key="sdx:numberMatchedEstimate")
    at_least = fields.Integer(data_key="sdx:numberMatchedAtLeast")


class QueryablesSchema(_Open):
    schema = fields.String(data_key="$schema")
    id = fields.String(data_key="$id")
    type = fields.String()
    title = fields.String()
    additionalProperties = fields.Boolean()
    properties = fields.Dict(metadata={"description": "JSON Schema of each property a filter may name"})


PRICE_MODEL = ("Only products with an offer on sale priced by one of these models (free, per_scene, per_km2, "
               "per_gb): the product's own offers, else its collection's, as sdx:offers shows")


class SearchBodySchema(_Open):
    collections = fields.List(fields.String())
    ids = fields.List(fields.String())
    bbox = fields.List(fields.Float(), metadata={"description": "west, south, east, north (or 6 numbers)"})
    intersects = fields.Dict(metadata={"description": "A GeoJSON geometry"})
    datetime = fields.String(metadata={"description": "An RFC 3339 instant or an interval start/end ('..' open)"})
    limit = fields.Integer(metadata={"minimum": 1, "maximum": 10_000, "default": 10})
    sortby = fields.List(fields.Dict(), metadata={"description": '[{"field": "datetime", "direction": "desc"}]'})
    fields_ = fields.Dict(data_key="fields", metadata={"description": '{"include": [...], "exclude": [...]}'})
    filter = fields.Raw(metadata={"description": "CQL2 text or JSON"})
    filter_lang = fields.String(data_key="filter-lang", metadata={"enum": ["cql2-text", "cql2-json"]})
    query = fields.Dict(metadata={"description": 'The query extension: {"eo:cloud_cover": {"lt": 10}}'})
    price_model = fields.List(fields.String(), metadata={"description": PRICE_MODEL})
    token = fields.String(metadata={"description": "The token of a next or prev link"})


class SearchArgsSchema(Schema):
    """A search as GET query parameters (lists comma-separated, JSON as text)."""

    collections = fields.String()
    ids = fields.String()
    bbox = fields.String(metadata={"description": "west,south,east,north"})
    intersects = fields.String(metadata={"description": "A GeoJSON geometry, as JSON"})
    datetime = fields.String()
    limit = fields.Integer(metadata={"minimum": 1, "maximum": 10_000, "default": 10})
    sortby = fields.String(metadata={"description": "e.g. -datetime,id"})
    fields_ = fields.String(data_key="fields", metadata={"description": "e.g. id,properties.datetime,-assets"})
    filter = fields.String(metadata={"description": "CQL2 text (or JSON with filter-lang=cql2-json)"})
    filter_lang = fields.String(data_key="filter-lang", metadata={"enum": ["cql2-text", "cql2-json"]})
    query = fields.String(metadata={"description": "The query extension, as JSON"})
    price_model = fields.String(metadata={"description": PRICE_MODEL + " (comma-separated)"})
    token = fields.String(metadata={"description": "The token of a next or prev link"})


class RepairArgsSchema(Schema):
    repair = fields.String(metadata={"enum": ["true", "false"], "description": (
        "true: make an invalid geometry valid instead of refusing the item")})


class BulkItemsSchema(_Open):
    items = fields.Raw(required=True, metadata={"description": "Items by id (an object), or an array of items"})
    method = fields.String(metadata={"enum": ["insert", "upsert"], "default": "insert"})


class BulkResultSchema(_Open):
    written = fields.Integer()
    failed = fields.List(fields.Dict(), metadata={"description": "Each refused item with its errors"})


class PropertyIndexRequestSchema(_Open):
    name = fields.String(required=True, metadata={"description": "A property the items carry"})
    kind = fields.String(required=True, metadata={"enum": ["number", "string"]})


class PropertyIndexSchema(_Open):
    name = fields.String()
    kind = fields.String()
    status = fields.String()
    index = fields.String()
    created_at = fields.DateTime()
    error = fields.String()


class PropertyIndexListSchema(_Open):
    indexes = fields.List(fields.Nested(PropertyIndexSchema))


class ProblemSchema(_Open):
    """RFC 9457 problem details, as every STAC error answers."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.List(fields.Dict(), metadata={"description": "Each bad field: {field, message}"})
    request_id = fields.String()
