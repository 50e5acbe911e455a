"""A provider's pages: products and their status, offers and prices (this module); sales and
statements, access requests to review and usage by buyer (``provider_review``).

Thin views: each parses its form, calls the service the API calls (acting as the signed-in user)
and renders. Lists show the provider's own organisation's things only (``provider_reads``); another
organisation's offer or request answers the same 404 page as an unknown id.
"""
from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation

from babel.numbers import get_currency_precision
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from exchange.core.problems import Forbidden, NotFound, Problem, ValidationProblem, load_or_problem
from exchange.licensing import offers as offer_service
from exchange.licensing import templates
from exchange.licensing.models import CURRENCIES
from exchange.licensing.schemas import DISCOUNT_KINDS, OfferInSchema
from exchange.web import provider_reads as reads
from exchange.web.pages import PROVIDERS, current_identity, page, page_blueprint, whole_number

bp = page_blueprint("provider", __name__, url_prefix="/provider", template_folder="templates")

PAGE_SIZE = 20
OFFER_FIELDS = ("target", "product_id", "collection_id", "license", "model", "price", "currency", "min_km2", "gb",
                "discount_government", "discount_research")
#: Where on the offer form each field a service names belongs.
SERVICE_FIELDS = {"product_id": "product_id", "collection_id": "collection_id", "license": "license",
                  "pricing": "model", "pricing.model": "model", "pricing.price": "price",
                  "pricing.currency": "currency", "pricing.min_km2": "min_km2", "pricing.gb": "gb"}


def form_errors(problem: Problem, fields: dict[str, str], default: str = "form") -> dict[str, list[str]]:
    """A service's refusal as messages per form field (``fields`` maps the service's field names);
    a field the form does not have, or no field, goes to the top of the form."""
    errors: dict[str, list[str]] = {}
    for error in problem.errors or [{"field": None, "message": problem.detail or problem.title}]:
        name = error.get("field") or ""
        target = fields.get(name)
        if target is None and name.startswith("discounts"):
            kind = name.split(".")[1] if "." in name else ""
            target = f"discount_{kind}" if kind in DISCOUNT_KINDS else "discount_government"
        errors.setdefault(target or default, []).append(error["message"])
    return errors


# -- money --------------------------------------------------------------------------------------------
#: A price has at most this many digits before the decimal point (a BIGINT of minor units keeps 18).
MAX_PRICE_DIGITS = 14

def to_minor(text: str, currency: str) -> tuple[int | None, str | None]:
    """A price typed in major units ("12.50") as minor units of ``currency`` (1250), or an error."""
    text = (text or "").strip().replace(",", "")
    if not text:
        return None, None
    digits = get_currency_precision(currency if currency in CURRENCIES else "CNY")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None, _("Enter a number, such as 12.50.")
    if not amount.is_finite() or amount < 0:
        return None, _("Enter a price of 0 or more.")
    if amount.adjusted() > MAX_PRICE_DIGITS:  # 1e30 would overflow quantize (and any ledger)
        return None, _("Enter a smaller price.")
    if amount != amount.quantize(Decimal(1).scaleb(-digits)):
        return None, _("Use at most %(digits)s decimal places.", digits=digits)
    return int(amount.scaleb(digits)), None


def to_major(minor: int | None, currency: str) -> str:
    """Minor units as the plain number a person types ("12.50"), for refilling a form."""
    if minor is None:
        return ""
    return str(Decimal(int(minor)).scaleb(-get_currency_precision(currency)))


def _number(text: str) -> float | None | str:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return "bad"


# -- products -----------------------------------------------------------------------------------------
@bp.get("/products")
@page(PROVIDERS)
def products():
    identity = current_identity()
    collection, status = request.args.get("collection") or None, request.args.get("status") or None
    found = reads.own_products(identity, collection=collection, status=status, after=request.args.get("after"),
                               limit=PAGE_SIZE)
    next_url = url_for("provider.products", collection=collection, status=status, after=found.next_after) \
        if found.next_after else None
    previous_url = url_for("provider.products", collection=collection, status=status) \
        if request.args.get("after") else None
    return render_template("provider/products.html", rows=found.rows, collections=reads.own_collections(identity),
                           collection=collection, status=status, statuses=reads.PRODUCT_STATUSES,
                           next_url=next_url, previous_url=previous_url)


# -- offers -------------------------------------------------------------------------------------------
def _offer_form() -> dict:
    return {name: request.form.get(name, "").strip() for name in OFFER_FIELDS}


def _offer_body(form: dict) -> tuple[dict, dict[str, list[str]]]:
    """The API body the form stands for, and what the form itself got wrong (numbers and the like);
    the service checks everything else."""
    errors: dict[str, list[str]] = {}
    body: dict = {"license": form["license"], "pricing": {"model": form["model"], "currency": form["currency"]}}
    if form["target"] == "collection":
        body["collection_id"] = form["collection_id"] or None
        if not form["collection_id"]:
            errors["collection_id"] = [_("Choose one of your collections.")]
    else:
        product = whole_number(form["product_id"])
        if product is None:
            errors["product_id"] = [_("Enter the product's number (its id).")]
        else:
            body["product_id"] = product
    minor, problem = to_minor(form["price"], form["currency"])
    if problem:
        errors["price"] = [problem]
    body["pricing"]["price"] = minor
    for name in ("min_km2", "gb"):
        value = _number(form[name])
        if value == "bad":
            errors[name] = [_("Enter a number.")]
        elif value is not None:
            body["pricing"][name] = value
    discounts = {}
    for kind in DISCOUNT_KINDS:
        text = form[f"discount_{kind}"]
        if text:
            if whole_number(text) is not None:
                discounts[kind] = whole_number(text)
            else:
                errors[f"discount_{kind}"] = [_("Enter a whole percentage from 0 to 100.")]
    body["discounts"] = discounts
    return body, errors


def _service_check(body: dict) -> dict[str, list[str]]:
    """What the service would refuse of ``body``, asked without writing (to name every bad field at
    once when the form itself already found some)."""
    checked = {**body, "pricing": {**body["pricing"], "price": body["pricing"].get("price") or None}}
    if "product_id" not in checked and "collection_id" not in checked:
        checked["product_id"] = 1  # the form named the target already
    try:
        load_or_problem(OfferInSchema(), checked)
    except ValidationProblem as problem:
        return form_errors(problem, SERVICE_FIELDS)
    return {}


def licence_options(licences: list[dict]) -> list[tuple[str, str]]:
    return [(t["ref"], f'{t["title"]} ({t["ref"]})') for t in licences]


def _offers_page(form: dict | None = None, errors: dict | None = None, status: int = 200):
    identity = current_identity()
    found = reads.own_offers(identity, after=request.args.get("after"), limit=PAGE_SIZE)
    licences, _next = templates.list_latest(identity, limit=100)
    product_id = request.args.get("product_id", "")
    form = form or {"target": "product" if product_id or not request.args.get("collection_id") else "collection",
                    "product_id": product_id, "collection_id": request.args.get("collection_id", ""),
                    "model": "per_scene", "currency": "CNY"}
    names = reads.product_names(offer["product_id"] for offer in found.rows)
    next_url = url_for("provider.offers", after=found.next_after) if found.next_after else None
    previous_url = url_for("provider.offers") if request.args.get("after") else None
    return render_template("provider/offers.html", offers=found.rows, names=names,
                           licence_options=licence_options(licences),
                           collection_options=[(c.id, c.id) for c in reads.own_collections(identity)],
                           currency_options=[(c, c) for c in CURRENCIES], form=form, errors=errors or {},
                           next_url=next_url, previous_url=previous_url), status


@bp.get("/offers")
@page(PROVIDERS)
def offers():
    return _offers_page()


@bp.post("/offers")
@page(PROVIDERS)
def create_offer():
    form = _offer_form()
    body, errors = _offer_body(form)
    if errors:
        for name, messages in _service_check(body).items():
            errors.setdefault(name, messages)
        return _offers_page(form, errors, 422)
    try:
        offer = offer_service.create_offer(current_identity(), body)
    except ValidationProblem as problem:
        return _offers_page(form, form_errors(problem, SERVICE_FIELDS), 422)
    except (NotFound, Forbidden) as problem:  # a product or collection not theirs: said next to it
        target = "collection_id" if form["target"] == "collection" else "product_id"
        return _offers_page(form, {target: [_("You have no such product or collection to sell.")]}, problem.status)
    flash(_("The offer is on sale."))
    return redirect(url_for("provider.offer", offer_id=offer.id))


def _offer_page(offer_id: uuid.UUID, errors: dict | None = None, price: str | None = None, status: int = 200):
    identity = current_identity()
    offer = reads.own_offer(identity, offer_id)
    names = reads.product_names([offer["product_id"]])
    currency = offer["pricing"]["currency"]
    return render_template("provider/offer.html", offer=offer, names=names, errors=errors or {},
                           price=to_major(offer["pricing"]["price"], currency) if price is None else price), status


@bp.get("/offers/<uuid:offer_id>")
@page(PROVIDERS)
def offer(offer_id):
    return _offer_page(offer_id)


@bp.post("/offers/<uuid:offer_id>/price")
@page(PROVIDERS)
def change_price(offer_id):
    """A new price for the offer: the service updates it in place and raises its revision, so an
    order quoted at the old price is refused and re-quoted."""
    identity = current_identity()
    current = reads.own_offer(identity, offer_id)
    text = request.form.get("price", "")
    minor, problem = to_minor(text, current["pricing"]["currency"])
    if problem or minor is None:
        return _offer_page(offer_id, {"price": [problem or _("Enter the new price.")]}, text, 422)
    try:
        offer_service.update_offer(identity, offer_id, {"pricing": {"price": minor}})
    except ValidationProblem as problem:
        return _offer_page(offer_id, form_errors(problem, SERVICE_FIELDS, default="price"), text, 422)
    flash(_("The new price applies to quotes from now on."))
    return redirect(url_for("provider.offer", offer_id=offer_id))


@bp.post("/offers/<uuid:offer_id>/retire")
@page(PROVIDERS)
def retire_offer(offer_id):
    """Take the offer off sale for good; licences sold under it keep their terms."""
    identity = current_identity()
    reads.own_offer(identity, offer_id)
    offer_service.withdraw_offer(identity, offer_id)
    flash(_("The offer is withdrawn."))
    return redirect(url_for("provider.offer", offer_id=offer_id))


from exchange.web import provider_review  # noqa: E402,F401  (its routes are on this blueprint)
