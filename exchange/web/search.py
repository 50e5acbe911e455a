"""Everyone's catalogue pages: the map search and a product's page.

Both act as the visitor (signed in or anonymous) through the catalogue's search and read services,
so sharing policies hide and coarsen exactly what the STAC API would; offers come from licensing's
choice of what is on sale, the caller's standing from the sharing explanation service.
"""
from __future__ import annotations

import datetime as dt
import math

from flask import current_app, render_template, request, url_for
from flask_babel import gettext as _

from exchange.catalog import assets, schemas, service
from exchange.catalog.search import SearchError, build_request
from exchange.core.problems import NotFound
from exchange.licensing.availability import active_offers
from exchange.licensing.templates import terms_of
from exchange.policy import ANONYMOUS
from exchange.sharing import explain
from exchange.trading.pricing import geodesic_km2
from exchange.web.pages import current_identity, page_blueprint, whole_number

bp = page_blueprint("search", __name__, template_folder="templates")

BBOX_FIELDS = ("west", "south", "east", "north")
NUMBER_FIELDS = BBOX_FIELDS + ("max_cloud", "max_gsd")
PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
#: The uses of a product (sharing-policy uses, not decision-point actions) whose standing the page shows.
STANDING_USES = ("license", "download")


def visitor():
    """Who the pages act as: the signed-in user, else an anonymous caller (public reads only)."""
    return current_identity() or ANONYMOUS


def map_settings() -> dict:
    """The map's tile server (empty: the offline world map) for the scripts' data attributes."""
    config = current_app.config
    return {"tiles": config.get("MAP_TILE_URL") or "", "attribution": config.get("MAP_TILE_ATTRIBUTION") or "",
            "basemap": url_for("web.static", filename="basemap/land-110m.geojson"),
            "basemap_failed": _("The world map could not be loaded; the results and drawing still work.")}


# -- the search form -------------------------------------------------------------------------------
def _form_values(args) -> dict:
    """The form's fields as typed (re-shown as they were), with bbox=… spread over the four fields."""
    values = {name: args.get(name, "").strip() for name in
              NUMBER_FIELDS + ("from", "to", "collections", "price_model", "intersects", "datetime", "limit", "token")}
    if args.get("bbox") and not any(values[name] for name in BBOX_FIELDS):
        parts = [part.strip() for part in args["bbox"].split(",")]
        if len(parts) == 4:
            values.update(zip(BBOX_FIELDS, parts))
        else:
            values["bbox_text"] = args["bbox"]
    return values


def _date(text: str, end: bool) -> str:
    """A date field (YYYY-MM-DD) as the start or end instant of that day."""
    day = dt.date.fromisoformat(text)
    return f"{day.isoformat()}T{'23:59:59' if end else '00:00:00'}Z"


def search_params(values: dict) -> tuple[dict, dict]:
    """The STAC search parameters the form states, and the errors of its fields (field → [messages])."""
    errors: dict[str, list[str]] = {}
    numbers = {}
    for name in NUMBER_FIELDS:
        if values[name]:
            try:
                numbers[name] = float(values[name])
            except ValueError:
                errors[name] = [_("Enter a number.")]
            else:
                if not math.isfinite(numbers[name]):
                    errors[name] = [_("Enter a number.")]
    limit = values["limit"] or PAGE_SIZE
    if whole_number(limit) is not None:  # a page shows at most MAX_PAGE_SIZE results (the service checks the rest)
        limit = min(whole_number(limit), MAX_PAGE_SIZE)
    params: dict = {"limit": limit, "token": values["token"] or None}
    if values.get("bbox_text"):
        errors["west"] = [_("The bbox parameter must be four numbers: west,south,east,north.")]
    given = [name for name in BBOX_FIELDS if values[name]]
    if given and len(given) < 4:
        for name in BBOX_FIELDS:
            if not values[name]:
                errors[name] = [_("Give all four bounds, or none.")]
    elif given and not any(name in errors for name in BBOX_FIELDS):
        params["bbox"] = ",".join(str(numbers[name]) for name in BBOX_FIELDS)
    if values["intersects"] and not given:
        params["intersects"] = values["intersects"]
    if values["datetime"]:
        params["datetime"] = values["datetime"]
    else:
        ends = {}
        for name, end in (("from", False), ("to", True)):
            if values[name]:
                try:
                    ends[name] = _date(values[name], end)
                except ValueError:
                    errors[name] = [_("Enter a date as YYYY-MM-DD.")]
        if ends and not ({"from", "to"} & set(errors)):
            params["datetime"] = f"{ends.get('from', '..')}/{ends.get('to', '..')}"
    for name in ("collections", "price_model"):
        if values[name]:
            params[name] = values[name]
    query = {}
    if "max_cloud" in numbers:
        query["eo:cloud_cover"] = {"lte": numbers["max_cloud"]}
    if "max_gsd" in numbers:
        query["gsd"] = {"lte": numbers["max_gsd"]}
    if query:
        params["query"] = query
    return params, errors


#: Which form field a search service's message is about (its message starts with the parameter).
PARAMETER_FIELDS = (("bbox", "west"), ("intersects", "intersects"), ("datetime", "from"), ("limit", "form"),
                    ("token", "form"), ("collections", "collections"), ("price_model", "price_model"),
                    ("query", "form"))


def _field_of(message: str) -> str:
    for parameter, name in PARAMETER_FIELDS:
        if message.startswith(parameter):
            return name
    return "form"


def _page_url(args, token: str) -> str:
    kept = {key: value for key, value in args.items() if key != "token" and value}
    return url_for("search.search", **kept, token=token)


@bp.get("/search")
def search():
    """The map search: a GET form, its results rendered here (works without scripts), with paging."""
    identity = visitor()
    values = _form_values(request.args)
    params, errors = search_params(values)
    collections = service.list_collections(identity)
    page = documents = None
    if not errors:
        try:
            query = build_request(params, from_get=True)
            page = service.search(identity, query)
        except SearchError as problem:
            errors.setdefault(_field_of(problem.detail or ""), []).append(problem.detail or problem.title)
    if page is not None:
        documents = schemas.items(page.items, current_app.config["PUBLIC_BASE_URL"], withheld=page.withheld)
    features = [{"type": "Feature", "id": item.key, "geometry": doc["geometry"],
                 "properties": {"title": doc["properties"].get("title") or item.item_id}}
                for item, doc in zip(page.items, documents)] if page else []
    context = {"features": features, "values": values, "errors": errors, "collections": collections, "page": page,
               "results": list(zip(page.items, documents)) if page else [], "map": map_settings(),
               "next_url": _page_url(request.args, page.next_token) if page and page.next_token else None,
               "previous_url": _page_url(request.args, page.prev_token) if page and page.prev_token else None}
    return render_template("search/search.html", **context), 422 if errors else 200


# -- a product's page -------------------------------------------------------------------------------
def _product_key(product_id: str) -> int:
    try:
        key = int(product_id)
    except ValueError:
        raise NotFound(f"No product {product_id!r}.") from None
    if not 0 < key < 2 ** 63:
        raise NotFound(f"No product {product_id!r}.")
    return key


def _standing(identity, key: int) -> dict | None:
    """Whether the visitor may license or download the product, and why (None for anonymous visitors:
    they are asked to sign in)."""
    if identity.anonymous:
        return None
    return {use: explain.explain(identity, use, key) for use in STANDING_USES}


@bp.get("/products/<product_id>")
def product(product_id: str):
    """A product: metadata, footprint, thumbnail, assets, offers with their licence terms, standing."""
    identity = visitor()
    item = service.product_for(identity, _product_key(product_id), "item:read")
    withheld = service.withheld_footprints(identity, [item])
    document = schemas.item(item, current_app.config["PUBLIC_BASE_URL"], withheld)
    offers = [{"offer": offer, "terms": terms_of(offer.template)}
              for offer in active_offers([item]).get(item.key, [])]
    return render_template("search/product.html", item=item, doc=document, offers=offers,
                           withheld=withheld.get(item.key), standing=_standing(identity, item.key),
                           area_km2=None if item.key in withheld else geodesic_km2(item.geometry), map=map_settings())


@bp.get("/products/<product_id>/thumbnail")
def thumbnail(product_id: str):
    """The product's preview for this visitor (the STAC route serves only API tokens and anonymous callers)."""
    identity = visitor()
    item = service.product_for(identity, _product_key(product_id), "item:read")
    png = assets.thumbnail(identity, item.collection_id, item.item_id)
    return current_app.response_class(png, mimetype="image/png", headers={"Cache-Control": "private, max-age=300"})

