"""A buyer's purchase path: cart, quote, checkout with acceptance of each licence, orders, downloads.

Every step calls the trading, licensing and metering services acting as the signed-in user, so the
rules are those of the API: the cart asks the quote service whether a line could be licensed, the
quote and the order are the API's, and a download issues the same metered presigned link as
``POST /api/v1/licenses/{id}/links`` before sending the browser to it. The cart lives in the
session (a short list of product and offer ids): trading has no cart, and a quote is the first
thing worth storing.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from auth.models import Organisation
from exchange.catalog.models import Item
from exchange.catalog.service import product_for
from exchange.core.db import db, utcnow
from exchange.core.problems import NotFound, Problem, ValidationProblem
from exchange.ingest.models import AssetState, ProductAsset
from exchange.licensing import entitlements, offers, templates
from exchange.licensing.schemas import MAX_ID
from exchange.metering import links
from exchange.metering.quotas import RequestMeta, client_hash
from exchange.policy import ANONYMOUS
from exchange.trading import orders as trading_orders
from exchange.trading import pricing, quotes
from exchange.web.pages import BUYERS, current_identity, error_page, page, page_blueprint

bp = page_blueprint("buyer", __name__, template_folder="templates")

#: The most lines a cart holds (a cookie session must stay small; a quote takes at most 100).
MAX_CART = 20
PAGE_SIZE = 20
CART_KEY = "cart"


@bp.context_processor
def _names() -> dict:
    """How the services' codes read on the pages, in the page's language."""
    return {"model_names": {"free": _("free"), "per_scene": _("per scene"), "per_km2": _("per km²"),
                            "per_gb": _("per GB")},
            "unit_names": {"scene": _("scene"), "km2": "km²", "GB": "GB"},
            "status_names": {"created": _("created"), "paid": _("paid"), "fulfilled": _("fulfilled"),
                             "refunded": _("refunded"), "cancelled": _("cancelled"), "active": _("active"),
                             "expired": _("expired"), "revoked": _("revoked")}}


# -- the cart (in the session) ------------------------------------------------------------------------
def _cart() -> list[dict]:
    return list(session.get(CART_KEY, []))


def _save_cart(lines: list[dict]) -> None:
    session[CART_KEY] = lines


def _product_id(value: str | None) -> int | None:
    """A product id as the API takes it (1 to MAX_ID), or None."""
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 1 <= number <= MAX_ID else None


def _parse_line(form) -> tuple[dict, dict]:
    """(line, errors): the product and offer ids of a posted form, each bad one named."""
    errors: dict[str, list[str]] = {}
    line = {"product_id": _product_id(form.get("product_id"))}
    if line["product_id"] is None:
        errors["product_id"] = [_("Give a product id (a whole number).")]
    try:
        line["offer_id"] = str(uuid.UUID(form.get("offer_id", "")))
    except ValueError:
        errors["offer_id"] = [_("Give an offer id (a UUID).")]
    return line, errors


def _org_kind() -> str:
    identity = current_identity()
    return db.session.get(Organisation, identity.org_id).kind.value


def _moment(value: str | None) -> dt.datetime | None:
    """A service view's ISO timestamp as a datetime, so that pages show it as ``|isodate`` does."""
    return dt.datetime.fromisoformat(value) if value else None


def _title(item: Item) -> str:
    return (item.data or {}).get("properties", {}).get("title") or item.item_id


@dataclass
class CartLine:
    product_id: int
    offer_id: str
    title: str | None = None
    offer: dict | None = None
    template: dict | None = None
    estimate: pricing.Priced | None = None
    reason: str | None = None


def _cart_lines() -> list[CartLine]:
    """Each cart line as the quote service would price it now, or the reason it could not."""
    identity, kind, now = current_identity(), _org_kind(), utcnow()
    shown = []
    for stored in _cart():
        line = CartLine(stored["product_id"], stored["offer_id"])
        try:
            item, offer, line.estimate = quotes.price_line(identity, kind, line.product_id,
                                                           uuid.UUID(line.offer_id), None, now)
        except quotes.Unlicensable as exc:
            line.reason = str(exc)
        else:
            line.title, line.offer = _title(item), offers.view(offer)
            line.template = templates.view(offer.template)
        shown.append(line)
    return shown


def _cart_page(errors: dict | None = None, status: int = 200):
    return render_template("buyer/cart.html", lines=_cart_lines(), errors=errors or {}, max_lines=MAX_CART), status


@bp.get("/cart")
@page(BUYERS)
def cart():
    return _cart_page()


@bp.post("/cart/add")
@page(BUYERS)
def cart_add():
    """Add a product under one of its offers; refused with the quote service's reason if the buyer
    could not license it. One line per product: another offer of it replaces the line."""
    line, errors = _parse_line(request.form)
    if errors:
        return _cart_page(errors, 422)
    try:
        quotes.price_line(current_identity(), _org_kind(), line["product_id"], uuid.UUID(line["offer_id"]), None,
                          utcnow())
    except quotes.Unlicensable as exc:
        return _cart_page({"form": [_("Not added to the cart: %(reason)s", reason=str(exc))]}, 422)
    lines = [kept for kept in _cart() if kept["product_id"] != line["product_id"]]
    if len(lines) >= MAX_CART:
        return _cart_page({"form": [_("The cart holds at most %(n)d lines; get a quote for these first.",
                                      n=MAX_CART)]}, 422)
    _save_cart(lines + [line])
    flash(_("Added to the cart."), "success")
    return redirect(url_for("buyer.cart"))


@bp.post("/cart/remove")
@page(BUYERS)
def cart_remove():
    product_id = _product_id(request.form.get("product_id"))
    _save_cart([kept for kept in _cart() if kept["product_id"] != product_id])
    flash(_("Removed from the cart."), "success")
    return redirect(url_for("buyer.cart"))


@bp.post("/cart/quote")
@page(BUYERS)
def cart_quote():
    """Ask the trading service for a quote of the whole cart, as the buyer."""
    lines = _cart()
    if not lines:
        return _cart_page({"form": [_("The cart is empty: add a product from its page first.")]}, 422)
    try:
        quote = quotes.create_quote(current_identity(), [
            {"product_id": line["product_id"], "offer_id": uuid.UUID(line["offer_id"])} for line in lines])
    except ValidationProblem as problem:
        reasons = [error["message"] for error in problem.errors or []]
        return _cart_page({"form": [_("No line of the cart can be licensed: %(reasons)s",
                                      reasons="; ".join(reasons))]}, 422)
    # What a sharing policy said of a refused line (its remedy) is shown with the quote it was made with.
    session["quote_refusals"] = {str(quote.id): {str(position): {"rule": str(refusal.get("rule") or ""),
                                                                 "remedy": str(refusal.get("remedy") or "")}
                                                 for position, refusal in quote.refusals.items()}}
    return redirect(url_for("buyer.quote", quote_id=quote.id))


# -- the quote and the checkout ---------------------------------------------------------------------------
def _readable_item(product_id: int | None) -> Item | None:
    try:
        return product_for(current_identity(), product_id, "item:read") if product_id is not None else None
    except Problem:
        return None


def _template_of(ref: str) -> dict | None:
    template = templates.by_ref(ref)
    return templates.view(template) if template is not None else None


def _quote_page(quote_id: uuid.UUID, *, errors: dict | None = None, problem: Problem | None = None,
                accepted: list[str] | None = None, status: int = 200):
    quote = quotes.get_quote(current_identity(), quote_id)
    refusals = session.get("quote_refusals", {}).get(str(quote.id), {})
    rows = []
    for line in quote.lines:
        item = _readable_item(line.item_key)
        model = None
        if line.offer_id is not None and line.reason is None:
            try:
                model = offers.get_offer(current_identity(), line.offer_id)["pricing"]["model"]
            except Problem:
                model = None
        area = None
        if item is not None and item.geometry is not None:
            area = line.quantity if line.unit == "km2" else round(pricing.geodesic_km2(item.geometry), 2)
        rows.append({"line": line, "title": _title(item) if item else None, "model": model, "area": area,
                     "refusal": refusals.get(str(line.position), {})})
    licences = [(ref, _template_of(ref)) for ref in sorted(quotes.licenses_of(quote))]
    return render_template("buyer/quote.html", quote=quote, rows=rows, licences=licences, errors=errors or {},
                           problem=problem, accepted=accepted or [], expired=quote.expires_at <= utcnow(),
                           idempotency_key=str(uuid.uuid4())), status


@bp.get("/quotes/<uuid:quote_id>")
@page(BUYERS)
def quote(quote_id):
    return _quote_page(quote_id)


@bp.post("/quotes/<uuid:quote_id>/order")
@page(BUYERS)
def place_order(quote_id):
    """Place the order as the API does (the form's Idempotency-Key, made when the form was shown,
    makes a double submit place one order)."""
    accepted = request.form.getlist("accept_licenses")
    body = {"quote_id": quote_id, "accept_licenses": accepted}
    try:
        status, answer = trading_orders.place_order(current_identity(), body, request.form.get("idempotency_key"))
    except ValidationProblem as problem:
        missing = problem.extra.get("missing_licenses")
        if missing:
            errors = {ref: [_("Accept the licence %(ref)s to place the order.", ref=ref)] for ref in missing}
            errors["form"] = [_("Accept every licence of the quote: %(refs)s is not accepted.",
                                refs=", ".join(missing))]
            return _quote_page(quote_id, errors=errors, accepted=accepted, status=422)
        return _quote_page(quote_id, problem=problem, accepted=accepted, status=422)
    except NotFound:
        raise
    except Problem as problem:  # expired, out of date, already ordered, insufficient funds, a policy
        return _quote_page(quote_id, problem=problem, accepted=accepted, status=problem.status)
    if status >= 400:  # the first answer to this form, a refusal, replayed
        return _quote_page(quote_id, problem=Problem(answer.get("detail"), status=status, title=answer.get("title")),
                           accepted=accepted, status=status)
    ordered = {line["product_id"] for line in answer["lines"]}
    _save_cart([line for line in _cart() if line["product_id"] not in ordered])
    flash(_("Order placed: your licences are issued."), "success")
    return redirect(url_for("buyer.order", order_id=answer["id"]))


@bp.get("/license-terms/<code>/<int:n>")
def license_terms(code: str, n: int):
    """One version of a licence's terms: public, as the API's (anyone may read them before buying)."""
    template = templates.get_version(current_identity() or ANONYMOUS, code, n)
    return render_template("buyer/terms.html", template=template)


# -- orders -------------------------------------------------------------------------------------------------
@bp.get("/orders")
@page(BUYERS)
def orders():
    after = request.args.get("after") or None
    try:
        items, next_cursor = trading_orders.list_orders(current_identity(), after=after, limit=PAGE_SIZE)
    except ValidationProblem:
        return error_page(422, _("That page of orders does not exist; start from the first."))
    for item in items:
        item["created_at"] = _moment(item["created_at"])
    return render_template("buyer/orders.html", items=items, next_cursor=next_cursor, after=after)


def _data_assets(product_id: int | None) -> list[ProductAsset]:
    """The product's stored data files a licence downloads (ready ones, in key order)."""
    if product_id is None:
        return []
    rows = db.session.scalars(select(ProductAsset).where(ProductAsset.item_key == product_id,
                                                         ProductAsset.state == AssetState.ready)
                              .order_by(ProductAsset.asset_key))
    return [row for row in rows if row.is_data]


@bp.get("/orders/<uuid:order_id>")
@page(BUYERS)
def order(order_id):
    identity = current_identity()
    found = trading_orders.get_order(identity, order_id)
    found["created_at"] = _moment(found["created_at"])
    rows = []
    for line in found["lines"]:
        licence = None
        if line["license_id"]:
            try:
                licence = entitlements.get_entitlement(identity, uuid.UUID(line["license_id"]))
            except Problem:
                licence = None
        item = _readable_item(line["product_id"])
        rows.append({"line": line, "title": _title(item) if item else None, "licence": licence,
                     "assets": _data_assets(line["product_id"]) if licence else []})
    return render_template("buyer/order.html", order=found, rows=rows)


# -- downloads ------------------------------------------------------------------------------------------------
@bp.post("/licenses/<license_id>/download/<int:product_id>/<key>")
@page(BUYERS)
def download(license_id: str, product_id: int, key: str):
    """One asset of a licensed product: a metered presigned link (charged to the licence as the API's
    links are), then the browser is sent to it. A refusal is a page saying why and what would help.
    A POST with the form's CSRF token: each call draws on the licence, so a link another site (or a
    prefetcher) makes the browser follow must not spend it."""
    try:
        licence = uuid.UUID(license_id)
    except ValueError:
        return error_page(404, _("No such licence."))
    identity = current_identity()
    meta = RequestMeta(method="GET", via="link", client_hash=client_hash(request.remote_addr),
                       user_agent=request.user_agent.string)
    try:
        _status, answer = links.issue_links(identity, licence, [{"product_id": product_id, "key": key}], meta)
    except NotFound:
        return error_page(404, _("No such licence."))
    except Problem as refusal:
        return render_template("buyer/refused.html", refusal=refusal, remedy=refusal.extra.get("remedy"),
                               product_id=product_id), refusal.status
    return redirect(answer["links"][0]["url"], code=303)

