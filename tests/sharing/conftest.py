"""Sharing's end-to-end fixtures: the metering shop (a live server with real S3) with a government
organisation and a steward (an administrator who verifies organisations and tops up wallets), and
products of a given age and resolution with a stored data file."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest
from sqlalchemy import select

from exchange.catalog.batches import bulk_write
from exchange.catalog.models import Item, ItemStatus
from exchange.core.db import db
from exchange.policy import SYSTEM
from tests.licensing.conftest import item_doc
from tests.metering.conftest import BUYER_SCOPES, Shop, add_person, open_shop
from tests.metering.meter import settled


@pytest.fixture
def shop(live) -> Iterator[Shop]:
    shop = open_shop(live)
    add_person(shop, "gov", ["buyer"], "government", BUYER_SCOPES)
    add_person(shop, "steward", ["admin"], "platform", "admin:accounts admin:policies")
    yield shop
    settled(shop)


def product(shop: Shop, owner: str, item_id: str, *, days_old: int, gsd: float = 10.0, data: bytes = b"") -> str:
    """A published product of ``owner``'s collection acquired ``days_old`` days ago, with a stored data
    file (``data``, default 1000 random bytes); its download path."""
    doc = item_doc(item_id, owner, 40.0)
    doc["properties"] = {"datetime": (datetime.now(timezone.utc) - timedelta(days=days_old)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"), "gsd": gsd}
    with shop.live.app.app_context():
        bulk_write(SYSTEM, owner, [doc], method="insert", status=ItemStatus.published)
        shop.products[item_id] = db.session.scalar(select(Item.key).where(Item.item_id == item_id))
    return shop.stored_file(item_id, data or 1000)


def policy(shop: Shop, document: dict) -> dict:
    """The admin sets a policy (POST /api/v1/admin/policies): its {"id", "version"}."""
    made = shop.api("POST", "/api/v1/admin/policies", "admin", json=document)
    assert made.status_code == 201, made.text
    return made.json()


def free_offer(shop: Shop, owner: str, item_id: str) -> str:
    """``owner`` offers the product for free under the commercial licence: the offer's id."""
    made = shop.api("POST", "/api/v1/offers", owner, json={
        "product_id": shop.products[item_id], "license": "commercial-single-org@1", "pricing": {"model": "free"}})
    assert made.status_code == 201, made.text
    return made.json()["id"]


def download_path(shop: Shop, item_id: str) -> str:
    with shop.live.app.app_context():
        collection = db.session.scalar(select(Item.collection_id).where(Item.item_id == item_id))
    return f"/stac/collections/{collection}/items/{item_id}/assets/data/download"
