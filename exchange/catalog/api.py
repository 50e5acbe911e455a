"""The STAC API under /stac (thin: parse, call the catalogue services, render STAC JSON)."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, jsonify, redirect, request

from auth.tokens import current_identity, require_scopes
from exchange.catalog import assets, batches, property_indexes, service, transactions
from exchange.catalog.models import Collection
from exchange.catalog.search import build_request
from exchange.catalog.stac import pointer
from exchange.core.body import json_object
from exchange.core.limits import LimitExceeded
from exchange.core.location import location
from exchange.core.problems import ValidationProblem
from exchange.core.responses import OPENAPI_MEDIA_TYPE

bp = Blueprint("stac", __name__, url_prefix="/stac")

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
#: Items of one bulk request or posted FeatureCollection (the console import streams any number).
MAX_BULK_ITEMS = 10_000
READ = require_scopes("catalog:read", allow_anonymous=True)
WRITE = require_scopes("catalog:write")


def base_url() -> str:
    return current_app.config["PUBLIC_BASE_URL"]


def _stac(payload: dict, status: int = 200, media_type: str = "application/json", headers: dict | None = None):
    response = jsonify(payload)
    response.status_code = status
    response.mimetype = media_type
    response.headers.update(headers or {})
    return response


# -- landing, conformance, queryables ---------------------------------------------------------------
@bp.get("/")
@READ
def landing():
    stac = f"{base_url()}/stac"
    return _stac({
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
            {"rel": "service-desc", "type": OPENAPI_MEDIA_TYPE,
             "href": f"{base_url()}/api/openapi.json"},
            {"rel": "service-doc", "type": "text/html", "href": f"{base_url()}/api/docs"},
        ],
    })


@bp.get("/conformance")
@READ
def conformance():
    return _stac({"conformsTo": CONFORMANCE})


def _queryables_schema(url: str, carried: dict[str, set[str]]) -> dict:
    """The promoted columns plus every property the items carry (``carried``: name -> JSON types).
    ``additionalProperties: false``: the list is complete, a filter on any other name is refused."""
    kinds = {"number": {"type": "number"}, "string": {"type": "string"},
             "timestamp": {"type": "string", "format": "date-time"},
             "geometry": {"$ref": "https://geojson.org/schema/Geometry.json"}}
    listed = {name: dict(kinds[q.kind], title=name) for name, q in service.QUERYABLES.items()}
    for name, types in sorted(carried.items()):
        listed[name] = {"title": name, "type": types.pop() if len(types) == 1 else sorted(types)}
    return {"$schema": "https://json-schema.org/draft/2019-09/schema", "$id": url, "type": "object",
            "title": "Queryables", "additionalProperties": False, "properties": listed}


@bp.get("/queryables")
@READ
def queryables():
    return _stac(_queryables_schema(f"{base_url()}/stac/queryables", service.carried_properties(current_identity())),
                 media_type="application/schema+json")


@bp.get("/collections/<cid>/queryables")
@READ
def collection_queryables(cid: str):
    carried = service.carried_properties(current_identity(), cid)
    return _stac(_queryables_schema(f"{base_url()}/stac/collections/{cid}/queryables", carried),
                 media_type="application/schema+json")


# -- property indexes (the collection's provider or an admin) -----------------------------------------
@bp.get("/collections/<cid>/property-indexes")
@WRITE
def list_property_indexes(cid: str):
    """The indexes asked for on properties of the collection's items, with their status."""
    return _stac({"indexes": [property_indexes.view(i) for i in property_indexes.list_indexes(current_identity(), cid)]})


@bp.post("/collections/<cid>/property-indexes")
@WRITE
def create_property_index(cid: str):
    """Ask for an index on a property (body {"name", "kind": "number"|"string"}); built in the background."""
    index = property_indexes.request_index(current_identity(), cid, json_object())
    return _stac(property_indexes.view(index), 202)


@bp.delete("/collections/<cid>/property-indexes/<name>")
@WRITE
def delete_property_index(cid: str, name: str):
    """Drop the indexes on a property of the collection (each kind)."""
    property_indexes.drop_indexes(current_identity(), cid, name)
    return "", 204


# -- collections ------------------------------------------------------------------------------------
def render_collection(collection: Collection) -> dict:
    doc = dict(collection.data)
    url = f"{base_url()}/stac/collections/{collection.id}"
    doc["links"] = [
        {"rel": "self", "type": "application/json", "href": url},
        {"rel": "root", "type": "application/json", "href": f"{base_url()}/stac/"},
        {"rel": "parent", "type": "application/json", "href": f"{base_url()}/stac/"},
        {"rel": "items", "type": GEOJSON, "href": f"{url}/items"},
        {"rel": QUERYABLES_REL, "type": "application/schema+json", "href": f"{url}/queryables"},
        *(link for link in doc.get("links", []) if link.get("rel") != QUERYABLES_REL),  # ours replaces theirs
    ]
    doc["sdx:owner"] = str(collection.owner_org_id)
    return doc


@bp.get("/collections")
@READ
def collections():
    rendered = [render_collection(c) for c in service.list_collections(current_identity())]
    return _stac({"collections": rendered, "links": [
        {"rel": "self", "type": "application/json", "href": f"{base_url()}/stac/collections"},
        {"rel": "root", "type": "application/json", "href": f"{base_url()}/stac/"}]})


@bp.get("/collections/<cid>")
@READ
def collection(cid: str):
    return _stac(render_collection(service.get_collection(current_identity(), cid)))


@bp.post("/collections")
@WRITE
def create_collection():
    created = transactions.create_collection(current_identity(), json_object())
    return _stac(render_collection(created), 201, headers=location("stac.collection", cid=created.id))


@bp.put("/collections/<cid>")
@WRITE
def replace_collection(cid: str):
    return _stac(render_collection(transactions.update_collection(current_identity(), cid, json_object())))


@bp.delete("/collections/<cid>")
@WRITE
def delete_collection(cid: str):
    transactions.delete_collection(current_identity(), cid)
    return "", 204


# -- items and search -------------------------------------------------------------------------------
#: How a count of matches is named in a page: OGC API Features' numberMatched only when counted, so no
#: client takes an estimate or a lower bound for a count (STAC's context extension is deprecated).
MATCHED_FIELDS = {"exact": "numberMatched", "estimate": "sdx:numberMatchedEstimate",
                  "at_least": "sdx:numberMatchedAtLeast"}


def _feature_collection(page: service.Page, search, link_for, self_link: dict) -> dict:
    features = [service.render(item, base_url(), search) for item in page.items]
    links = [dict(self_link, rel="self", type=GEOJSON),
             {"rel": "root", "type": "application/json", "href": f"{base_url()}/stac/"}]
    for rel, token in (("next", page.next_token), ("prev", page.prev_token)):
        if token:
            links.append(dict(link_for(token), rel=rel, type=GEOJSON))
    body = {"type": "FeatureCollection", "features": features, "links": links, "numberReturned": len(features)}
    if page.matched is not None:
        body.update({name: getattr(page.matched, kind) for kind, name in MATCHED_FIELDS.items()
                     if getattr(page.matched, kind) is not None})
    return body


def _get_link(path: str):
    params = {k: v for k, v in request.args.items() if k != "token"}
    return lambda token: {"href": f"{base_url()}{path}?{urlencode({**params, 'token': token})}", "method": "GET"}


def _get_self() -> dict:
    """The page as it was asked for: the request's own URL, under the public base URL."""
    query = request.query_string.decode()
    return {"href": f"{base_url()}{request.path}" + (f"?{query}" if query else ""), "method": "GET"}


@bp.get("/collections/<cid>/items")
@READ
def items(cid: str):
    service.get_collection(current_identity(), cid)
    search = build_request(request.args.to_dict(), from_get=True)
    page = service.search(current_identity(), search, collection_id=cid)
    return _stac(_feature_collection(page, search, _get_link(f"/stac/collections/{cid}/items"), _get_self()),
                 media_type=GEOJSON)


@bp.get("/collections/<cid>/items/<iid>")
@READ
def item(cid: str, iid: str):
    return _stac(service.render(service.get_item(current_identity(), cid, iid), base_url()), media_type=GEOJSON)


@bp.route("/search", methods=["GET", "POST"])
@READ
def search():
    if request.method == "GET":
        params = request.args.to_dict()
        link_for, self_link = _get_link("/stac/search"), _get_self()
    else:
        params = json_object()
        link_for = lambda token: {"href": f"{base_url()}/stac/search", "method": "POST",  # noqa: E731
                                  "body": {**params, "token": token}, "merge": False}
        self_link = {"href": f"{base_url()}/stac/search", "method": "POST", "body": params}
    query = build_request(params, from_get=request.method == "GET")
    page = service.search(current_identity(), query)
    return _stac(_feature_collection(page, query, link_for, self_link), media_type=GEOJSON)


def _repair() -> bool:
    """``?repair=true``: the provider asks for an invalid geometry to be made valid, not refused."""
    value = request.args.get("repair", "false").lower()
    if value not in ("true", "false"):
        raise ValidationProblem("The query is invalid; see errors.",
                                errors=[{"field": "repair", "message": 'must be "true" or "false"'}])
    return value == "true"


@bp.post("/collections/<cid>/items")
@WRITE
def create_items(cid: str):
    """Create an item, or every item of a FeatureCollection (all or nothing)."""
    body = json_object()
    if body.get("type") == "FeatureCollection":
        features = body.get("features")
        _check_count(features, "features")
        created = batches.create_items(current_identity(), cid, features, repair=_repair())
        return _stac({"created": created}, 201)
    created = transactions.create_item(current_identity(), cid, body, repair=_repair())
    return _stac(service.render(created, base_url()), 201, GEOJSON,
                 headers=location("stac.item", cid=cid, iid=created.item_id))


def _check_count(docs: object, parameter: str) -> None:
    if isinstance(docs, (list, dict)) and len(docs) > MAX_BULK_ITEMS:
        raise LimitExceeded(parameter, "items", MAX_BULK_ITEMS, len(docs))


def _bulk_items(body: dict) -> tuple[list, str]:
    """The items (``{id: item}`` or a list) and the method of a bulk request, or a 422 naming each bad field."""
    items, method, errors = body.get("items"), body.get("method", "insert"), []
    if not isinstance(items, (dict, list)):
        errors.append({"field": "/items", "message": "is required: an object of items by id, or an array of items"})
    if method not in batches.METHODS:
        errors.append({"field": "/method", "message": f"must be one of {', '.join(batches.METHODS)}"})
    if errors:
        raise ValidationProblem("The bulk request is invalid; see errors.", errors=errors)
    _check_count(items, "items")
    if isinstance(items, list):
        return items, method
    errors = [{"field": pointer("items", key, "id"), "message": f"is {doc['id']!r}, not its key"}
              for key, doc in items.items() if isinstance(doc, dict) and doc.get("id", key) != key]
    if errors:
        raise ValidationProblem("The bulk request is invalid; see errors.", errors=errors)
    # each item under its own id (an item without one takes its key)
    return [dict(doc, id=key) if isinstance(doc, dict) else doc for key, doc in items.items()], method


@bp.post("/collections/<cid>/bulk_items")
@WRITE
def bulk_items(cid: str):
    """Insert (method insert) or insert and replace (upsert) many items; each is written or reported."""
    items, method = _bulk_items(json_object())
    result = batches.bulk_write(current_identity(), cid, items, method=method, repair=_repair())
    failures = [{"item": label, "errors": errors} for label, errors in result.failures]
    return _stac({"written": result.written, "failed": failures}, 200 if not failures else 207)


@bp.put("/collections/<cid>/items/<iid>")
@WRITE
def replace_item(cid: str, iid: str):
    updated = transactions.replace_item(current_identity(), cid, iid, json_object(), repair=_repair())
    return _stac(service.render(updated, base_url()), media_type=GEOJSON)


@bp.patch("/collections/<cid>/items/<iid>")
@WRITE
def patch_item(cid: str, iid: str):
    updated = transactions.patch_item(current_identity(), cid, iid, json_object(), repair=_repair())
    return _stac(service.render(updated, base_url()), media_type=GEOJSON)


@bp.delete("/collections/<cid>/items/<iid>")
@WRITE
def delete_item(cid: str, iid: str):
    transactions.delete_item(current_identity(), cid, iid)
    return "", 204


@bp.get("/collections/<cid>/items/<iid>/assets/<key>/download")
@READ
def download_asset(cid: str, iid: str, key: str):
    """A file SDX stores for the product, by a short-lived presigned URL (never an item's own href).
    Until the download gateway lands, only the owning provider may fetch a data file."""
    return redirect(assets.asset_source(current_identity(), cid, iid, key))


@bp.get("/collections/<cid>/items/<iid>/thumbnail")
@READ
def item_thumbnail(cid: str, iid: str):
    """The product's preview (PNG), made by ingest from its first GeoTIFF."""
    response = Response(assets.thumbnail(current_identity(), cid, iid), mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


def document(app, spec) -> None:
    """Describe the STAC endpoints in the platform's OpenAPI document (its `service-desc`)."""
    answers = {"200": {"description": "STAC JSON"}, "201": {"description": "Created (transactions)"},
               "400": {"description": "Invalid parameters (problem+json)"}}
    pages = dict(answers, **{"200": {"description": (
        "A page of items (a GeoJSON FeatureCollection). The first page says how many items match: "
        "`numberMatched` when they were counted; otherwise `sdx:numberMatchedEstimate` (the database's "
        "estimate, possibly below the truth) and/or `sdx:numberMatchedAtLeast` (a lower bound).")}})
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("stac."):
            continue
        view = app.view_functions[rule.endpoint]
        scopes = list(getattr(view, "required_scopes", ()))
        summary = (view.__doc__ or rule.endpoint.removeprefix("stac.").replace("_", " ")).strip().splitlines()[0]
        responses = pages if rule.endpoint in ("stac.search", "stac.items") else answers
        operations = {method.lower(): {"summary": summary, "tags": ["STAC"], "responses": responses,
                                       "security": [{"oauth2": scopes}] + ([{}] if "catalog:read" in scopes else [])}
                      for method in rule.methods - {"HEAD", "OPTIONS"}}
        spec.path(rule=rule, operations=operations)
