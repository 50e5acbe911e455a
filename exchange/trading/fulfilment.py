"""What a paid order line grants: one entitlement, with the licence's terms copied as accepted.

The allowances are fixed when granted: ``valid_until`` = now + the licence's duration (None:
perpetual), ``downloads_per_asset`` from the licence, and ``bytes_allowed`` = the licence's
``bytes_multiple`` × the product's size (the sum of its assets' sizes), or for a ``per_gb`` offer
the prepaid GB × 10^9; None when the licence sets no byte limit.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from exchange.catalog.models import Item
from exchange.core.db import db, new_id
from exchange.ingest.models import ProductAsset
from exchange.licensing.models import Entitlement, LicenseTemplate, Offer, PricingModel
from exchange.trading.models import Order, QuoteLine


def license_snapshot(template: LicenseTemplate) -> dict:
    """The terms as accepted: a copy, so a later version or a withdrawn offer changes nothing granted."""
    return {"code": template.code, "version": template.version, "title": template.title, "terms": template.terms,
            "uses": list(template.uses or []), "redistribution": template.redistribution,
            "derivatives": template.derivatives, "attribution": template.attribution, "seats": template.seats,
            "duration_days": template.duration_days, "downloads_per_asset": template.downloads_per_asset,
            "bytes_multiple": template.bytes_multiple, "aoi_restricted": template.aoi_restricted}


def product_bytes(item_key: int) -> int:
    return int(db.session.scalar(select(func.coalesce(func.sum(ProductAsset.size), 0))
                                 .where(ProductAsset.item_key == item_key)) or 0)  # PostgreSQL's SUM is a numeric


def bytes_allowed(offer: Offer, item: Item) -> int | None:
    if offer.pricing_model is PricingModel.per_gb:
        return int(round((offer.gb or 0) * 10**9))
    multiple = offer.template.bytes_multiple
    return None if multiple is None else int(multiple * product_bytes(item.key))


def grant(order: Order, line: QuoteLine, offer: Offer, item: Item, now: datetime) -> Entitlement:
    """The entitlement of one paid line (added to the session; the caller's unit of work commits it)."""
    template = offer.template
    entitlement = Entitlement(
        id=new_id(), org_id=order.org_id, provider_org_id=item.provider_org_id, item_key=item.key,
        collection_id=item.collection_id, item_id=item.item_id, offer_id=offer.id, order_id=order.id,
        license=license_snapshot(template), valid_from=now,
        valid_until=None if template.duration_days is None else now + timedelta(days=template.duration_days),
        downloads_per_asset=template.downloads_per_asset, bytes_allowed=bytes_allowed(offer, item),
        aoi=line.aoi, created_at=now)
    db.session.add(entitlement)
    return entitlement
