"""The product lifecycle: the only way an item's ``sdx:status`` changes besides ingest.

A provider may ask for its product to be published; the platform publishes it only when every
data asset is uploaded and verified (otherwise a 409 lists what is missing). The owner or an admin
may withdraw a product, which hides it from everyone else; asking to publish again brings it back.
Ingest publishes a product by itself once its last uploaded data file is verified.
"""
from __future__ import annotations

from exchange.policy import Identity
from exchange.catalog import hooks
from exchange.catalog.models import Item, ItemStatus
from exchange.catalog.service import product_for
from exchange.core.db import unit_of_work
from exchange.core.problems import Conflict


def publish(identity: Identity, product_id: int) -> Item:
    """Publish the product if every data asset is ready (as the domains holding its files answer
    through ``hooks.publish_blockers``); else 409 with what is missing."""
    item = product_for(identity, product_id, "catalog:write-item")
    if item.status is ItemStatus.published:
        return item
    missing = [reason for reasons in hooks.all_answers(hooks.publish_blockers, item) for reason in reasons]
    if missing:
        raise Conflict("The product cannot be published until every data asset is uploaded and verified.",
                       missing=missing)
    with unit_of_work():
        item.status = ItemStatus.published
    return item


def withdraw(identity: Identity, product_id: int) -> Item:
    """Take the product out of the catalogue for everyone but its organisation and admins."""
    item = product_for(identity, product_id, "catalog:write-item")
    with unit_of_work():
        item.status = ItemStatus.withdrawn
    return item

