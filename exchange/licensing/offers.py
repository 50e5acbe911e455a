"""Offers: a price for licensing a product, or every product of a collection without its own offer.

Providers sell their own organisation's products and collections, admins any (``offer:write``);
a product or collection the caller may not see reads as absent (404), one it sees but does not own
is refused (403). An offer is read by whoever may read what it is on (``offer:read``). A change of
what a buyer pays or accepts bumps ``revision``, which an order compares with its quote's. Deleting
withdraws: the row stays for the licences sold under it.
"""
from __future__ import annotations

import uuid

from sqlalchemy import select

from exchange.catalog.service import find_collection, product_for
from exchange.core import paging
from exchange.core.db import db, unit_of_work, utcnow
from exchange.core.problems import Conflict, NotFound, ValidationProblem, load_or_problem
from exchange.licensing import templates
from exchange.licensing.models import Offer
from exchange.licensing.schemas import OfferInSchema
from exchange.policy import Identity, decide, query_filter, require

#: What a buyer pays or accepts: a change of any bumps the offer's revision.
PRICED_FIELDS = ("template_id", "pricing_model", "price", "currency", "min_km2", "gb", "discounts")
PATCHABLE = ("license", "pricing", "discounts", "valid_from", "valid_until")


def status_of(offer: Offer, now=None) -> str:
    now = now or utcnow()
    if offer.withdrawn_at is not None:
        return "withdrawn"
    if offer.valid_from > now:
        return "scheduled"
    if offer.valid_until is not None and offer.valid_until <= now:
        return "expired"
    return "on_sale"


def pricing_of(offer: Offer) -> dict:
    return {"model": offer.pricing_model.value, "price": offer.price, "currency": offer.currency,
            "min_km2": offer.min_km2, "gb": offer.gb}


def view(offer: Offer) -> dict:
    return {"id": offer.id, "product_id": offer.item_key, "collection_id": offer.collection_id,
            "provider_org_id": offer.provider_org_id, "license": offer.template.ref, "pricing": pricing_of(offer),
            "discounts": offer.discounts, "valid_from": offer.valid_from, "valid_until": offer.valid_until,
            "withdrawn_at": offer.withdrawn_at, "revision": offer.revision, "status": status_of(offer),
            "created_at": offer.created_at, "updated_at": offer.updated_at}


def _terms(data: dict) -> dict:
    """The offer's columns from a loaded body; 422 if its licence names no template version."""
    template = templates.by_ref(data["license"])
    if template is None:
        raise ValidationProblem("One or more fields are invalid; see errors.", errors=[
            {"field": "license", "message": f"no licence template version {data['license']!r}"}])
    pricing = data["pricing"]
    return {"template_id": template.id, "pricing_model": pricing["model"], "price": pricing["price"] or 0,
            "currency": pricing["currency"], "min_km2": pricing["min_km2"], "gb": pricing["gb"],
            "discounts": data["discounts"], "valid_from": data["valid_from"] or utcnow(),
            "valid_until": data["valid_until"]}


def create_offer(identity: Identity, body: object) -> Offer:
    """Put a product (``product_id``) or a collection (``collection_id``) on sale."""
    data = load_or_problem(OfferInSchema(), body)
    if data["product_id"] is not None:
        target = product_for(identity, data["product_id"], "offer:write")
        where = {"item_key": target.key, "provider_org_id": target.provider_org_id}
    else:
        collection = find_collection(identity, data["collection_id"])
        if collection is None:
            raise NotFound(f"No collection {data['collection_id']!r}.")
        require(identity, "offer:write", collection)
        where = {"collection_id": collection.id, "provider_org_id": collection.owner_org_id}
    with unit_of_work():
        offer = Offer(**where, **_terms(data), created_by=identity.user_id)
        db.session.add(offer)
    return offer


def _readable(identity: Identity, offer_id: uuid.UUID) -> Offer:
    offer = db.session.get(Offer, offer_id)
    if offer is None or not decide(identity, "offer:read", offer):
        raise NotFound(f"No offer {offer_id}.")  # hidden reads as absent
    return offer


def get_offer(identity: Identity, offer_id: uuid.UUID) -> dict:
    return view(_readable(identity, offer_id))


def list_offers(identity: Identity, *, collection: str | None = None, product: int | None = None,
                after: str | None = None, limit: int = 50) -> tuple[list[dict], str | None]:
    """The offers the caller may read, on one collection or product if asked, in id order."""
    query = select(Offer).where(query_filter(identity, "offer:read", Offer))
    if collection is not None:
        query = query.where(Offer.collection_id == collection)
    if product is not None:
        query = query.where(Offer.item_key == product)
    if after:
        try:
            query = query.where(Offer.id > uuid.UUID(paging.decode_key(after)))
        except ValueError:  # paging.BadCursor is one
            raise ValidationProblem("The cursor is not valid.", errors=[
                {"field": "after", "message": "is not a cursor this listing issued"}]) from None
    rows, more = paging.cut(list(db.session.scalars(query.order_by(Offer.id).limit(limit + 1))), limit)
    return [view(o) for o in rows], (paging.encode(str(rows[-1].id)) if more else None)


def _for_write(identity: Identity, offer_id: uuid.UUID) -> Offer:
    offer = _readable(identity, offer_id)
    require(identity, "offer:write", offer)
    return offer


def _as_sent(offer: Offer) -> dict:
    """The offer as a POST body would state it: what a PATCH merges into."""
    target = {"product_id": offer.item_key} if offer.item_key is not None else {"collection_id": offer.collection_id}
    pricing = {k: v for k, v in pricing_of(offer).items() if v is not None}
    return {**target, "license": offer.template.ref, "pricing": pricing, "discounts": offer.discounts,
            "valid_from": offer.valid_from.isoformat(),
            "valid_until": offer.valid_until.isoformat() if offer.valid_until else None}


def update_offer(identity: Identity, offer_id: uuid.UUID, patch: dict) -> Offer:
    """Change an offer (a JSON merge patch of license, pricing, discounts, valid_from, valid_until).
    The merged offer is checked as a whole; a change of what a buyer pays or accepts bumps the revision."""
    offer = _for_write(identity, offer_id)
    errors = [{"field": name, "message": "cannot be changed: withdraw the offer and make another"
               if name in ("product_id", "collection_id") else f"is not a field of an offer ({', '.join(PATCHABLE)})"}
              for name in patch if name not in PATCHABLE]
    if "pricing" in patch and not isinstance(patch["pricing"], dict):
        errors.append({"field": "pricing", "message": "must be an object (merged into the current pricing)"})
    if "valid_from" in patch and patch["valid_from"] is None:  # else it would quietly become "now"
        errors.append({"field": "valid_from", "message": "cannot be cleared: give the moment the offer goes on sale"})
    if errors:
        raise ValidationProblem("One or more fields are invalid; see errors.", errors=errors)
    if offer.withdrawn_at is not None:
        raise Conflict("The offer is withdrawn and cannot be changed; make another.")
    merged = {**_as_sent(offer), **patch}
    merged["pricing"] = {k: v for k, v in {**_as_sent(offer)["pricing"], **patch.get("pricing", {})}.items()
                         if v is not None}
    terms = _terms(load_or_problem(OfferInSchema(), merged))
    with unit_of_work():
        priced = any(getattr(offer, name) != terms[name] for name in PRICED_FIELDS)
        for name, value in terms.items():
            setattr(offer, name, value)
        if priced:
            offer.revision = Offer.revision + 1  # in SQL: two changes at once both count
    return offer


def withdraw_offer(identity: Identity, offer_id: uuid.UUID) -> None:
    """Take an offer off sale for good; licences sold under it keep their copied terms."""
    offer = _for_write(identity, offer_id)
    with unit_of_work():
        if offer.withdrawn_at is None:
            offer.withdrawn_at = utcnow()
            offer.revision = Offer.revision + 1
