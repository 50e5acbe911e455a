"""What a provider's pages list of their own organisation: products (with each refusal reason),
collections, offers and sold order lines.

The domain services list what a caller may *read*, which for a provider includes every published
product and the offers on them; these pages show only the provider's own. Each read asks the policy
first (the query form of the same rule the API asks: ``item:read``, ``collection:read``,
``offer:read``, ``statement:read``) and then narrows to the caller's organisation, so a page never
shows what the API would refuse — nor another provider's things.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import exists, select

from auth.models import Organisation
from exchange.catalog.models import Collection, Item, ItemStatus
from exchange.catalog.service import visible_collections, visible_items
from exchange.core import paging
from exchange.core.db import db
from exchange.core.problems import NotFound
from exchange.ingest.models import AssetState, ProductAsset
from exchange.licensing import offers as offer_service
from exchange.licensing.models import Offer
from exchange.policy import Identity, query_filter, require_own
from exchange.sharing import access
from exchange.trading.models import Order, OrderLine
from exchange.trading.statements import SOLD
from exchange.web.pages import whole_number

#: The statuses a provider filters products by: the item's, plus "refused" (ingest quarantined a file).
PRODUCT_STATUSES = ("draft", "processing", "published", "withdrawn", "refused")


@dataclass
class Page:
    rows: list
    next_after: str | None


def _after(value: str | None) -> int | None:
    """A keyset cursor is a row key (an integer); anything else starts from the top."""
    return whole_number(value)


def own_collections(identity: Identity) -> list[Collection]:
    return list(db.session.scalars(select(Collection).where(
        visible_collections(identity), Collection.owner_org_id == identity.org_id).order_by(Collection.id)))


def _refused():
    return exists().where(ProductAsset.item_key == Item.key, ProductAsset.state == AssetState.quarantined)


def own_products(identity: Identity, *, collection: str | None, status: str | None, after: str | None,
                 limit: int) -> Page:
    """The organisation's products, newest first; each with its assets' states and refusal reasons."""
    query = select(Item).where(visible_items(identity), Item.provider_org_id == identity.org_id)
    if collection:
        query = query.where(Item.collection_id == collection)
    if status == "refused":
        query = query.where(_refused())
    elif status in PRODUCT_STATUSES:
        query = query.where(Item.status == ItemStatus(status))
    start = _after(after)
    if start is not None:
        query = query.where(Item.key < start)
    items = list(db.session.scalars(query.order_by(Item.key.desc()).limit(limit + 1)))
    more, items = len(items) > limit, items[:limit]
    assets: dict[int, list[ProductAsset]] = {item.key: [] for item in items}
    if items:
        for asset in db.session.scalars(select(ProductAsset).where(ProductAsset.item_key.in_(list(assets)))
                                        .order_by(ProductAsset.asset_key)):
            assets[asset.item_key].append(asset)
    rows = [{"item": item, "assets": assets[item.key], "shown_status": shown_status(item, assets[item.key]),
             "title": (item.data or {}).get("properties", {}).get("title")} for item in items]
    return Page(rows, str(items[-1].key) if more else None)


def shown_status(item: Item, assets: list[ProductAsset]) -> str:
    """One word for where a product stands: the item's status, or the furthest-behind file's while
    it is not yet published (refused, uploading, verifying)."""
    if item.status in (ItemStatus.published, ItemStatus.withdrawn):
        return item.status.value
    states = {asset.state for asset in assets}
    for state, word in ((AssetState.quarantined, "refused"), (AssetState.uploading, "uploading"),
                        (AssetState.verifying, "verifying")):
        if state in states:
            return word
    return item.status.value


def own_offers(identity: Identity, *, after: str | None, limit: int) -> Page:
    """The organisation's offers (withdrawn ones too), newest first, as the API's view of each."""
    query = select(Offer).where(query_filter(identity, "offer:read", Offer), Offer.provider_org_id == identity.org_id)
    if after:
        try:
            created, last_id = paging.decode(after)
            created, last_id = dt.datetime.fromisoformat(created), uuid.UUID(last_id)
        except (ValueError, TypeError):  # paging.BadCursor is a ValueError: start from the top
            pass
        else:
            query = query.where((Offer.created_at < created) | ((Offer.created_at == created) & (Offer.id < last_id)))
    rows = list(db.session.scalars(query.order_by(Offer.created_at.desc(), Offer.id.desc()).limit(limit + 1)))
    more, rows = len(rows) > limit, rows[:limit]
    following = paging.encode([rows[-1].created_at.isoformat(), str(rows[-1].id)]) if more else None
    return Page([offer_service.view(offer) for offer in rows], following)


def own_offer(identity: Identity, offer_id: uuid.UUID) -> dict:
    """One of the organisation's offers; another provider's reads as absent (404), like an unknown id."""
    found = offer_service.get_offer(identity, offer_id)
    if found["provider_org_id"] != identity.org_id:
        raise NotFound(f"No offer {offer_id}.")
    return found


def sold_lines(identity: Identity, *, after: str | None, limit: int) -> Page:
    """The order lines of the organisation's products in paid (or later refunded) orders, newest first.
    Asks ``statement:read`` of the organisation: who may read its statement may read its sales."""
    org = db.session.get(Organisation, identity.org_id) if identity.org_id else None
    require_own(identity, "statement:read", org, "organisation", identity.org_id)
    query = (select(OrderLine, Order, Organisation.name, Item.collection_id, Item.item_id)
             .join(Order, Order.id == OrderLine.order_id).join(Organisation, Organisation.id == Order.org_id)
             .outerjoin(Item, Item.key == OrderLine.item_key)
             .where(OrderLine.provider_org_id == identity.org_id, Order.status.in_(SOLD)))
    start = _after(after)
    if start is not None:
        query = query.where(OrderLine.id < start)
    rows = list(db.session.execute(query.order_by(OrderLine.id.desc()).limit(limit + 1)))
    more, rows = len(rows) > limit, rows[:limit]
    lines = [{"id": line.id, "at": order.paid_at or order.created_at, "product_id": line.item_key,
              "product": f"{collection_id}/{item_id}" if item_id else None, "buyer": buyer,
              "status": order.status.value, "currency": line.currency, "amount": line.amount, "fee": line.fee}
             for line, order, buyer, collection_id, item_id in rows]
    return Page(lines, str(rows[-1][0].id) if more else None)


def own_request(identity: Identity, request_id: uuid.UUID):
    """An access request made *to* the organisation; one it made itself, or another's, reads as absent."""
    request = access.get_request(identity, request_id)
    if request.provider_org_id != identity.org_id:
        raise NotFound(f"No access request {request_id}.")
    return request


def offers_for_request(identity: Identity, request: dict) -> list[dict]:
    """The organisation's offers on sale that a priced approval of ``request`` can quote: on the
    product asked for or on its collection; on the collection, when a collection was asked for."""
    collection = request["collection_id"]
    if request["product_id"] is not None:
        collection = db.session.scalar(select(Item.collection_id).where(Item.key == request["product_id"]))
    return [offer for offer in own_offers(identity, after=None, limit=100).rows if offer["status"] == "on_sale"
            and ((request["product_id"] is not None and offer["product_id"] == request["product_id"])
                 or (offer["collection_id"] is not None and offer["collection_id"] == collection))]


def product_names(keys) -> dict[int, str]:
    """``collection/item`` of each product key (for lists that hold keys only)."""
    keys = {key for key in keys if key is not None}
    if not keys:
        return {}
    rows = db.session.execute(select(Item.key, Item.collection_id, Item.item_id).where(Item.key.in_(keys)))
    return {key: f"{collection_id}/{item_id}" for key, collection_id, item_id in rows}


def org_names(ids) -> dict[str, str]:
    """Organisation names by id (as text), for lists that hold ids only."""
    ids = {uuid.UUID(str(i)) for i in ids if i}
    if not ids:
        return {}
    rows = db.session.execute(select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids)))
    return {str(org_id): name for org_id, name in rows}
