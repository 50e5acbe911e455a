"""The STAC API under /stac (thin: parse, call the catalogue services, answer STAC JSON).

A flask-smorest blueprint, so the routes are in the OpenAPI document like every other domain's; its
decorators here only document (``doc``/``alt_response``): the answers are the renderers' dicts as
``jsonify`` writes them, never loaded or dumped through marshmallow.
"""
from __future__ import annotations

from flask import Response, current_app, jsonify, request
from flask.views import MethodView
from flask_smorest import Blueprint

from auth.tokens import current_identity, require_scopes
from exchange.catalog import assets, batches, property_indexes, schemas, service, transactions
from exchange.catalog.schemas import GEOJSON
from exchange.catalog.search import build_request
from exchange.catalog.stac import pointer
from exchange.core import paging
from exchange.core.body import json_object
from exchange.core.limits import LimitExceeded
from exchange.core.location import LOCATION_HEADER, location
from exchange.core.problems import ValidationProblem

blp = Blueprint("stac", __name__, url_prefix="/stac", description="STAC API: collections, items and item search")
#: Items of one bulk request or posted FeatureCollection (the console import streams any number).
MAX_BULK_ITEMS = 10_000
PROBLEM = "application/problem+json"


def _security(scopes: tuple[str, ...], anonymous: bool) -> list[dict]:
    return [{"oauth2": list(scopes)}] + ([{}] if anonymous else [])


def _guard(*scopes: str, anonymous: bool = False):
    """``require_scopes``, and the same scopes stated in the OpenAPI document (anonymous: no token too)."""
    def decorate(view):
        return require_scopes(*scopes, allow_anonymous=anonymous)(blp.doc(security=_security(scopes, anonymous))(view))
    return decorate


READ = _guard("catalog:read", anonymous=True)
READ_SECURITY = _security(("catalog:read",), True)
WRITE = _guard("catalog:write")


def _answers(status: int, schema, *, media_type: str = "application/json", description: str | None = None,
             problems: tuple[int, ...] = (400,), headers: dict | None = None):
    """Document the answer and the problems a route gives (documentation only: nothing is serialised)."""
    def decorate(view):
        for code in problems:
            view = blp.alt_response(code, schema=schemas.ProblemSchema, content_type=PROBLEM,
                                    description="Invalid parameters or body" if code == 400 else None)(view)
        return blp.alt_response(status, schema=schema, content_type=media_type, description=description,
                                headers=headers, success=True)(view)
    return decorate


def _body(schema):
    return blp.doc(requestBody={"content": {"application/json": {"schema": schema}}})


def _query(schema):
    return blp.doc(parameters=[{"in": "query", "schema": schema}])


def base_url() -> str:
    return current_app.config["PUBLIC_BASE_URL"]


def _stac(payload: dict, status: int = 200, media_type: str = "application/json", headers: dict | None = None):
    response = jsonify(payload)
    response.status_code = status
    response.mimetype = media_type
    response.headers.update(headers or {})
    return response


# -- landing, conformance, queryables ---------------------------------------------------------------
@blp.get("/")
@READ
@_answers(200, schemas.LandingSchema, problems=())
def landing():
    """The STAC landing page: what this API conforms to and where everything is."""
    return _stac(schemas.landing(base_url()))


@blp.get("/conformance")
@READ
@_answers(200, schemas.ConformanceSchema, problems=())
def conformance():
    """The conformance classes this API implements."""
    return _stac({"conformsTo": schemas.CONFORMANCE})


@blp.get("/queryables")
@READ
@_answers(200, schemas.QueryablesSchema, media_type="application/schema+json", problems=())
def queryables():
    """The properties a filter may name, across every collection the caller may see (JSON Schema)."""
    return _stac(schemas.queryables(f"{base_url()}/stac/queryables", service.carried_properties(current_identity())),
                 media_type="application/schema+json")


@blp.get("/collections/<cid>/queryables")
@READ
@_answers(200, schemas.QueryablesSchema, media_type="application/schema+json", problems=(404,))
def collection_queryables(cid: str):
    """The properties a filter may name within one collection (JSON Schema)."""
    carried = service.carried_properties(current_identity(), cid)
    return _stac(schemas.queryables(f"{base_url()}/stac/collections/{cid}/queryables", carried),
                 media_type="application/schema+json")


# -- property indexes (the collection's provider or an admin) -----------------------------------------
@blp.get("/collections/<cid>/property-indexes")
@WRITE
@_answers(200, schemas.PropertyIndexListSchema, problems=(404,))
def list_property_indexes(cid: str):
    """The indexes asked for on properties of the collection's items, with their status."""
    return _stac({"indexes": [property_indexes.view(i) for i in property_indexes.list_indexes(current_identity(), cid)]})


@blp.post("/collections/<cid>/property-indexes")
@WRITE
@_body(schemas.PropertyIndexRequestSchema)
@_answers(202, schemas.PropertyIndexSchema, problems=(400, 404))
def create_property_index(cid: str):
    """Ask for an index on a property (body {"name", "kind": "number"|"string"}); built in the background."""
    index = property_indexes.request_index(current_identity(), cid, json_object())
    return _stac(property_indexes.view(index), 202)


@blp.delete("/collections/<cid>/property-indexes/<name>")
@WRITE
@_answers(204, None, problems=(404,))
def delete_property_index(cid: str, name: str):
    """Drop the indexes on a property of the collection (each kind)."""
    property_indexes.drop_indexes(current_identity(), cid, name)
    return "", 204


# -- collections ------------------------------------------------------------------------------------
@blp.get("/collections")
@READ
@_answers(200, schemas.CollectionsSchema, problems=())
def collections():
    """The collections the caller may see."""
    return _stac(schemas.collections(service.list_collections(current_identity()), base_url()))


@blp.get("/collections/<cid>")
@READ
@_answers(200, schemas.CollectionSchema, problems=(404,))
def collection(cid: str):
    """One collection."""
    return _stac(schemas.collection(service.get_collection(current_identity(), cid), base_url()))


@blp.post("/collections")
@WRITE
@_body(schemas.CollectionSchema)
@_answers(201, schemas.CollectionSchema, headers=LOCATION_HEADER)
def create_collection():
    """Create a collection, owned by the caller's organisation."""
    created = transactions.create_collection(current_identity(), json_object())
    return _stac(schemas.collection(created, base_url()), 201, headers=location("stac.collection", cid=created.id))


@blp.put("/collections/<cid>")
@WRITE
@_body(schemas.CollectionSchema)
@_answers(200, schemas.CollectionSchema, problems=(400, 404))
def replace_collection(cid: str):
    """Replace a collection's document (its owner or an admin)."""
    updated = transactions.update_collection(current_identity(), cid, json_object())
    return _stac(schemas.collection(updated, base_url()))


@blp.delete("/collections/<cid>")
@WRITE
@_answers(204, None, problems=(404,))
def delete_collection(cid: str):
    """Delete a collection (its owner or an admin)."""
    transactions.delete_collection(current_identity(), cid)
    return "", 204


# -- items and search -------------------------------------------------------------------------------
def _get_link(path: str):
    return lambda token: {"href": paging.link(f"{base_url()}{path}", request.args, token), "method": "GET"}


def _get_self() -> dict:
    """The page as it was asked for: the request's own URL, under the public base URL."""
    query = request.query_string.decode()
    return {"href": f"{base_url()}{request.path}" + (f"?{query}" if query else ""), "method": "GET"}


@blp.get("/collections/<cid>/items")
@READ
@_query(schemas.SearchArgsSchema)
@_answers(200, schemas.ItemCollectionSchema, media_type=GEOJSON, description=schemas.PAGE_DESCRIPTION,
          problems=(400, 404))
def items(cid: str):
    """The items of a collection, a page at a time (the search parameters apply)."""
    service.get_collection(current_identity(), cid)
    search = build_request(request.args.to_dict(), from_get=True)
    page = service.search(current_identity(), search, collection_id=cid)
    return _stac(schemas.feature_collection(page, base_url(), search, _get_link(f"/stac/collections/{cid}/items"),
                                            _get_self()), media_type=GEOJSON)


@blp.get("/collections/<cid>/items/<iid>")
@READ
@_answers(200, schemas.ItemSchema, media_type=GEOJSON, problems=(404,))
def item(cid: str, iid: str):
    """One item (its footprint coarsened to a 0.1° grid, without previews, for a caller a sharing policy
    refuses view_footprint)."""
    identity = current_identity()
    found = service.get_item(identity, cid, iid)
    return _stac(schemas.item(found, base_url(), service.withheld_footprints(identity, [found])), media_type=GEOJSON)


def _search_page(params: dict, from_get: bool, link_for, self_link: dict):
    query = build_request(params, from_get=from_get)
    page = service.search(current_identity(), query)
    return _stac(schemas.feature_collection(page, base_url(), query, link_for, self_link), media_type=GEOJSON)


@blp.route("/search", endpoint="search")
class Search(MethodView):
    """Search the items the caller may see: area, time, CQL2 filter, sort and fields."""

    decorators = [require_scopes("catalog:read", allow_anonymous=True)]

    @blp.doc(security=READ_SECURITY)
    @_query(schemas.SearchArgsSchema)
    @_answers(200, schemas.ItemCollectionSchema, media_type=GEOJSON, description=schemas.PAGE_DESCRIPTION)
    def get(self):
        """Search the items the caller may see, by query parameters."""
        return _search_page(request.args.to_dict(), True, _get_link("/stac/search"), _get_self())

    @blp.doc(security=READ_SECURITY)
    @_body(schemas.SearchBodySchema)
    @_answers(200, schemas.ItemCollectionSchema, media_type=GEOJSON, description=schemas.PAGE_DESCRIPTION)
    def post(self):
        """Search the items the caller may see, by a JSON body (CQL2 JSON, sort and fields as objects)."""
        params = json_object()
        link_for = lambda token: {"href": f"{base_url()}/stac/search", "method": "POST",  # noqa: E731
                                  "body": {**params, "token": token}, "merge": False}
        return _search_page(params, False, link_for, {"href": f"{base_url()}/stac/search", "method": "POST",
                                                      "body": params})


def _repair() -> bool:
    """``?repair=true``: the provider asks for an invalid geometry to be made valid, not refused."""
    value = request.args.get("repair", "false").lower()
    if value not in ("true", "false"):
        raise ValidationProblem("The query is invalid; see errors.",
                                errors=[{"field": "repair", "message": 'must be "true" or "false"'}])
    return value == "true"


@blp.post("/collections/<cid>/items")
@WRITE
@_query(schemas.RepairArgsSchema)
@_body(schemas.ItemSchema)
@_answers(201, schemas.ItemSchema, media_type=GEOJSON, problems=(400, 404), headers=LOCATION_HEADER,
          description="Created: the item; for a posted FeatureCollection, {\"created\": how many}")
def create_items(cid: str):
    """Create an item, or every item of a FeatureCollection (all or nothing)."""
    body = json_object()
    if body.get("type") == "FeatureCollection":
        features = body.get("features")
        _check_count(features, "features")
        created = batches.create_items(current_identity(), cid, features, repair=_repair())
        return _stac({"created": created}, 201)
    created = transactions.create_item(current_identity(), cid, body, repair=_repair())
    return _stac(schemas.item(created, base_url()), 201, GEOJSON,
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


@blp.post("/collections/<cid>/bulk_items")
@WRITE
@_query(schemas.RepairArgsSchema)
@_body(schemas.BulkItemsSchema)
@_answers(200, schemas.BulkResultSchema, problems=(400, 404))
@blp.alt_response(207, schema=schemas.BulkResultSchema, description="Some items were refused (listed in failed)")
def bulk_items(cid: str):
    """Insert (method insert) or insert and replace (upsert) many items; each is written or reported."""
    items, method = _bulk_items(json_object())
    result = batches.bulk_write(current_identity(), cid, items, method=method, repair=_repair())
    failures = [{"item": label, "errors": errors} for label, errors in result.failures]
    return _stac({"written": result.written, "failed": failures}, 200 if not failures else 207)


@blp.put("/collections/<cid>/items/<iid>")
@WRITE
@_query(schemas.RepairArgsSchema)
@_body(schemas.ItemSchema)
@_answers(200, schemas.ItemSchema, media_type=GEOJSON, problems=(400, 404))
def replace_item(cid: str, iid: str):
    """Replace an item (its provider or an admin)."""
    updated = transactions.replace_item(current_identity(), cid, iid, json_object(), repair=_repair())
    return _stac(schemas.item(updated, base_url()), media_type=GEOJSON)


@blp.patch("/collections/<cid>/items/<iid>")
@WRITE
@_query(schemas.RepairArgsSchema)
@_body(schemas.ItemSchema)
@_answers(200, schemas.ItemSchema, media_type=GEOJSON, problems=(400, 404))
def patch_item(cid: str, iid: str):
    """Change some of an item's fields (a JSON merge patch)."""
    updated = transactions.patch_item(current_identity(), cid, iid, json_object(), repair=_repair())
    return _stac(schemas.item(updated, base_url()), media_type=GEOJSON)


@blp.delete("/collections/<cid>/items/<iid>")
@WRITE
@_answers(204, None, problems=(404,))
def delete_item(cid: str, iid: str):
    """Delete an item (its provider or an admin)."""
    transactions.delete_item(current_identity(), cid, iid)
    return "", 204


@blp.get("/collections/<cid>/items/<iid>/thumbnail")
@READ
@_answers(200, None, media_type="image/png", problems=(403, 404))
def item_thumbnail(cid: str, iid: str):
    """The product's preview (PNG), made by ingest from its first GeoTIFF (403 where a sharing policy
    refuses the caller view_footprint)."""
    response = Response(assets.thumbnail(current_identity(), cid, iid), mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=300"
    return response
