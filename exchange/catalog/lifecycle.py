"""The product lifecycle: the only way an item's ``sdx:status`` changes besides ingest.

A provider may ask for its product to be published; the platform publishes it only when every
data asset is uploaded and verified (otherwise a 409 lists what is missing). The owner or an admin
may withdraw a product, which hides it from everyone else; asking to publish again brings it back.
Ingest publishes a product by itself once its last uploaded data file is verified.
"""
from __future__ import annotations

from auth.policy import Identity, decide, require
from exchange.catalog.models import Item, ItemStatus
from exchange.core.db import db, unit_of_work
from exchange.core.problems import Conflict, NotFound


def _product_for_lifecycle(identity: Identity, product_id: int) -> Item:
    """The product, if the caller may see it (else 404) and manage it (else 403)."""
    item = db.session.get(Item, product_id)
    if item is None or not decide(identity, "item:read", item):
        raise NotFound(f"No product {product_id}.")
    require(identity, "catalog:write-item", item)
    return item


def publish(identity: Identity, product_id: int) -> Item:
    """Publish the product if every data asset is ready; else 409 with what is missing."""
    from exchange.ingest.pipeline import not_ready

    item = _product_for_lifecycle(identity, product_id)
    if item.status is ItemStatus.published:
        return item
    missing = not_ready(item)
    if missing:
        raise Conflict("The product cannot be published until every data asset is uploaded and verified.",
                       missing=missing)
    with unit_of_work():
        item.status = ItemStatus.published
    return item


def withdraw(identity: Identity, product_id: int) -> Item:
    """Take the product out of the catalogue for everyone but its organisation and admins."""
    item = _product_for_lifecycle(identity, product_id)
    with unit_of_work():
        item.status = ItemStatus.withdrawn
    return item

