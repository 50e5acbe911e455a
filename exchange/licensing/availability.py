"""Which offers are on sale for a product now: its own active offers, else its collection's.

One query for a whole page of products, so that search results can carry their offers cheaply.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import BigInteger, String, and_, any_, bindparam, exists, or_, select
from sqlalchemy.dialects.postgresql import ARRAY

from exchange.catalog.models import Item
from exchange.core.db import db, utcnow
from exchange.licensing.models import LicenseTemplate, Offer, PricingModel


def on_sale(now: dt.datetime):
    """The SQL condition of an offer open for business at ``now``."""
    return (Offer.withdrawn_at.is_(None), Offer.valid_from <= now,
            or_(Offer.valid_until.is_(None), Offer.valid_until > now))


def _one_of(column, values: set, item_type):
    """``column`` is one of ``values``. On PostgreSQL one array parameter (``= ANY``), so that the
    statement's text is the same for any page size and the driver and server reuse its preparation;
    elsewhere ``IN``."""
    if db.engine.dialect.name == "postgresql":
        return column == any_(bindparam(None, sorted(values), type_=ARRAY(item_type)))
    return column.in_(values)


def _on_sale_for(query, products: list, now: dt.datetime):
    """``query`` narrowed to the offers on sale on the products or their collections, oldest first."""
    return query.where(or_(_one_of(Offer.item_key, {p.key for p in products}, BigInteger),
                           _one_of(Offer.collection_id, {p.collection_id for p in products}, String)),
                       *on_sale(now)).order_by(Offer.created_at, Offer.id)


def _by_product(products: list, rows) -> dict[int, list]:
    """Each product's own rows, else its collection's (rows: anything with ``item_key``, ``collection_id``)."""
    own: dict[int, list] = defaultdict(list)
    by_collection: dict[str, list] = defaultdict(list)
    for row in rows:
        if row.item_key is not None:
            own[row.item_key].append(row)
        else:
            by_collection[row.collection_id].append(row)
    return {p.key: own.get(p.key) or by_collection.get(p.collection_id, []) for p in products}


def active_offers(products: Iterable, now: dt.datetime | None = None) -> dict[int, list[Offer]]:
    """``{item key: [offers]}`` for products (anything with ``key`` and ``collection_id``): a product's
    own offers on sale; a product without any gets its collection's. Oldest offer first."""
    products = list(products)
    if not products:
        return {}
    rows = db.session.scalars(_on_sale_for(select(Offer), products, now or utcnow())).all()
    return _by_product(products, rows)


def offer_summaries(products: Iterable, now: dt.datetime | None = None) -> dict:
    """The same choice as ``active_offers``, as light rows (the offer's id, pricing and discounts, its
    template's code and version) rather than whole offers and templates: what a page of search
    results shows, without loading every template's full terms."""
    products = list(products)
    if not products:
        return {}
    columns = select(Offer.id, Offer.item_key, Offer.collection_id, Offer.pricing_model, Offer.price,
                     Offer.currency, Offer.min_km2, Offer.gb, Offer.discounts, LicenseTemplate.code,
                     LicenseTemplate.version).join(LicenseTemplate, LicenseTemplate.id == Offer.template_id)
    return _by_product(products, db.session.execute(_on_sale_for(columns, products, now or utcnow())).all())


def on_sale_with_model(models: set[PricingModel], now: dt.datetime | None = None):
    """The SQL condition of an item (``Item``) whose offers on sale — its own, else its collection's,
    the choice ``active_offers`` makes — include one priced by one of ``models``."""
    now = now or utcnow()
    priced = Offer.pricing_model.in_(sorted(models, key=lambda model: model.value))
    own = select(Offer.id).where(Offer.item_key == Item.key, *on_sale(now))
    collections = select(Offer.id).where(Offer.collection_id == Item.collection_id, *on_sale(now), priced)
    return or_(exists(own.where(priced)), and_(~exists(own), exists(collections)))
