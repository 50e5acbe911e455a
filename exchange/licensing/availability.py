"""Which offers are on sale for a product now: its own active offers, else its collection's.

One query for a whole page of products, so that search results can carry their offers cheaply.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import or_, select

from exchange.core.db import db, utcnow
from exchange.licensing.models import Offer


def on_sale(now: dt.datetime):
    """The SQL condition of an offer open for business at ``now``."""
    return (Offer.withdrawn_at.is_(None), Offer.valid_from <= now,
            or_(Offer.valid_until.is_(None), Offer.valid_until > now))


def active_offers(products: Iterable, now: dt.datetime | None = None) -> dict[int, list[Offer]]:
    """``{item key: [offers]}`` for products (anything with ``key`` and ``collection_id``): a product's
    own offers on sale; a product without any gets its collection's. Oldest offer first."""
    now = now or utcnow()
    products = list(products)
    if not products:
        return {}
    keys = {p.key for p in products}
    collections = {p.collection_id for p in products}
    rows = db.session.scalars(select(Offer).where(
        or_(Offer.item_key.in_(keys), Offer.collection_id.in_(collections)), *on_sale(now))
        .order_by(Offer.created_at, Offer.id)).all()
    own: dict[int, list[Offer]] = defaultdict(list)
    by_collection: dict[str, list[Offer]] = defaultdict(list)
    for offer in rows:
        if offer.item_key is not None:
            own[offer.item_key].append(offer)
        else:
            by_collection[offer.collection_id].append(offer)
    return {p.key: own.get(p.key) or by_collection.get(p.collection_id, []) for p in products}
