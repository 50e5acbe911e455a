"""Quotes: what a list of products would cost under the offers the buyer chose, line by line.

A line the caller may not license keeps its reason (not visible, own product, the offer withdrawn,
expired or not for this product, a bad AOI) and the rest of the quote stands; a quote with no valid
line is refused (422) naming each line's reason, and nothing is written. A quote holds for 24 hours;
each valid line records the offer's ``revision`` so that an order can tell the offer changed since.
"""
from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import timedelta

import shapely
from auth.models import Organisation
from exchange.catalog.models import Item
from exchange.core.db import db, unit_of_work, utcnow
from exchange.core.problems import ValidationProblem
from exchange.licensing.availability import active_offers
from exchange.licensing.models import Offer
from exchange.policy import Decision, Identity, decide, require, require_own
from exchange.trading import pricing
from exchange.trading.models import Quote, QuoteLine

QUOTE_LIFETIME = timedelta(hours=24)
MAX_LINES = 100
#: The largest total one line may come to, in minor units (a hundred lines still fit a BIGINT).
MAX_LINE_TOTAL = 10**15


class Unlicensable(Exception):
    """Why one line cannot be licensed (its message is the line's reason); refused by a sharing
    policy, also the ``rule``, ``policy`` and ``remedy`` of that refusal (``refusal``)."""

    def __init__(self, reason: str, refusal: dict | None = None) -> None:
        super().__init__(reason)
        self.refusal = refusal or {}


def license_refusal(decision: Decision) -> dict:
    """What a line refused by ``item:license`` shows besides its reason: the rule, the sharing policy
    and what would change the answer."""
    return {"rule": decision.rule, "policy": decision.policy,
            **({"remedy": decision.remedy} if decision.remedy else {})}


def offer_for(offer_id: uuid.UUID, item: Item, now) -> tuple[Offer | None, str | None]:
    """The offer, and why it cannot sell ``item`` at ``now`` (None: it can)."""
    on_sale = active_offers([item], now).get(item.key, [])
    offer = db.session.get(Offer, offer_id)  # no query when it is on sale: the line above loaded it
    if offer in on_sale:
        return offer, None
    if offer is None:
        return None, "no such offer"
    if offer.withdrawn_at is not None:
        return offer, "the offer has been withdrawn"
    if offer.valid_until is not None and offer.valid_until <= now:
        return offer, "the offer has expired"
    if offer.valid_from > now:
        return offer, "the offer is not valid yet"
    return offer, "the offer is not for this product"


def price_line(identity: Identity, org_kind: str, product_id: int, offer_id: uuid.UUID, aoi_json: dict | None,
               now) -> tuple[Item, Offer, pricing.Priced]:
    """The priced line, or ``Unlicensable`` with the reason."""
    item = db.session.get(Item, product_id)
    if item is None or not decide(identity, "item:read", item):
        raise Unlicensable(f"no product {product_id} that you may see")  # absent and hidden read alike
    if item.provider_org_id == identity.org_id:
        raise Unlicensable("this is your own organisation's product")
    licensing = decide(identity, "item:license", item)
    if not licensing:
        raise Unlicensable(licensing.reason, license_refusal(licensing))
    offer, why = offer_for(offer_id, item, now)
    if why:
        raise Unlicensable(why)
    aoi = None
    if aoi_json is not None:
        try:
            aoi = pricing.parse_aoi(aoi_json)
        except pricing.BadAoi as exc:
            raise Unlicensable(str(exc)) from None
        # A shared edge or corner intersects but has no area: it would be a line of 0 km² and total 0.
        if item.geometry is None or pricing.geodesic_km2(shapely.intersection(item.geometry, aoi)) <= 0:
            raise Unlicensable("the AOI does not overlap the product's footprint")
    priced = pricing.price(offer, item.geometry, aoi, org_kind)
    if priced.total > MAX_LINE_TOTAL:  # a BIGINT holds it, but no ledger should carry it
        raise Unlicensable(f"the line's total {priced.total} exceeds the maximum of {MAX_LINE_TOTAL} minor units")
    return item, offer, priced


def create_quote(identity: Identity, items: list[dict]) -> Quote:
    """Price ``items`` (``product_id``, ``offer_id``, ``aoi``?) for the caller's organisation."""
    require(identity, "quote:create")
    if len(items) > MAX_LINES:
        raise ValidationProblem(f"A quote has at most {MAX_LINES} lines.",
                                errors=[{"field": "items", "message": f"at most {MAX_LINES} lines"}])
    now = utcnow()
    org_kind = db.session.get(Organisation, identity.org_id).kind.value
    quote = Quote(id=uuid.uuid4(), org_id=identity.org_id, user_id=identity.user_id, created_at=now,
                  expires_at=now + QUOTE_LIFETIME)
    totals: dict[str, int] = defaultdict(int)
    seen: set[int] = set()
    refusals: dict[int, dict] = {}  # position -> rule, policy, remedy of a line a sharing policy refused
    for position, asked in enumerate(items):
        line = QuoteLine(position=position, item_key=asked["product_id"], offer_id=asked["offer_id"],
                         aoi=asked.get("aoi"))
        try:
            _, offer, priced = price_line(identity, org_kind, asked["product_id"], asked["offer_id"],
                                          asked.get("aoi"), now)
            if asked["product_id"] in seen:  # one entitlement per product: the first valid line stands
                raise Unlicensable("this product is already in the quote")
        except Unlicensable as exc:
            line.reason = str(exc)
            if exc.refusal:
                refusals[position] = exc.refusal
        else:
            seen.add(asked["product_id"])
            line.offer_revision, line.license_ref = offer.revision, offer.template.ref
            line.quantity, line.unit, line.unit_price = priced.quantity, priced.unit, priced.unit_price
            line.discount_percent, line.total, line.currency = priced.discount_percent, priced.total, priced.currency
            totals[priced.currency] += priced.total
        quote.lines.append(line)
    if all(line.reason for line in quote.lines):
        raise ValidationProblem("No line of this quote can be licensed.", errors=[
            {"field": f"items.{line.position}", "message": line.reason, **refusals.get(line.position, {})}
            for line in quote.lines])
    quote.totals = dict(totals)
    # Shown with the quote as it is made (not stored: a later read of the quote keeps the reason only).
    quote.refusals = refusals
    with unit_of_work() as uow:
        uow.add(quote)
    return quote


def get_quote(identity: Identity, quote_id: uuid.UUID) -> Quote:
    """One of the caller's organisation's quotes; another organisation's reads as absent (404)."""
    quote = db.session.get(Quote, quote_id)
    require_own(identity, "quote:read", quote, "quote", quote_id)
    return quote


def line_view(line: QuoteLine, refusal: dict | None = None) -> dict:
    return {"product_id": line.item_key, "offer_id": str(line.offer_id) if line.offer_id else None, "license": line.license_ref,
            "quantity": line.quantity, "unit": line.unit, "unit_price": line.unit_price,
            "discount_percent": line.discount_percent if line.reason is None else None, "total": line.total,
            "currency": line.currency, "aoi": line.aoi, "reason": line.reason, **(refusal or {})}


def quote_view(quote: Quote) -> dict:
    refused = getattr(quote, "refusals", {})  # set by create_quote on the quote it makes
    return {"id": str(quote.id), "created_at": quote.created_at.isoformat(), "expires_at": quote.expires_at.isoformat(),
            "lines": [line_view(line, refused.get(line.position)) for line in quote.lines], "totals": quote.totals,
            "licenses": sorted(licenses_of(quote))}


def licenses_of(quote: Quote) -> set[str]:
    return {line.license_ref for line in quote.lines if line.reason is None}


def valid_lines(quote: Quote) -> list[QuoteLine]:
    return [line for line in quote.lines if line.reason is None]

