"""Metering fixtures: a shop on a live server — an admin, two providers (each with a collection and a
published product), two buyer organisations — with tokens; data files put into the real S3 store
with their SHA-256 recorded as ingest records them, and entitlements written as fulfilment writes them."""
from __future__ import annotations

import hashlib
import io
import os
import uuid
from dataclasses import dataclass, field
from typing import Iterator

import pytest
from sqlalchemy import select

from exchange.catalog.batches import bulk_write
from exchange.catalog.models import Item, ItemStatus
from exchange.core.db import db, unit_of_work
from exchange.ingest.models import AssetState, ProductAsset
from exchange.licensing.models import Entitlement
from exchange.policy import SYSTEM
from storage.objectstore import get_store
from tests.licensing.conftest import item_doc
from tests.metering.meter import settled

PROVIDER_SCOPES = "catalog:read catalog:write licenses:read data:download usage:read"
BUYER_SCOPES = "catalog:read licenses:read data:download orders:write usage:read"
ADMIN_SCOPES = "catalog:read catalog:write admin:policies licenses:read data:download usage:read"


@dataclass
class Shop:
    live: object
    tokens: dict = field(default_factory=dict)
    orgs: dict = field(default_factory=dict)
    users: dict = field(default_factory=dict)
    clients: dict = field(default_factory=dict)  # name -> (client_id, secret)
    products: dict = field(default_factory=dict)  # item id -> product id (item key)

    def api(self, method: str, path: str, who: str | None = None, **kwargs):
        return self.live.api(method, path, self.tokens.get(who) if who else None, **kwargs)

    def stored_file(self, product: str, data: bytes | int = 1000, asset_key: str = "data",
                    filename: str = "scene.tif", media_type: str = "image/tiff", roles=("data",)) -> str:
        """Put ``data`` (bytes, or that many random bytes) into S3 as the product's verified asset, as
        ingest leaves it; return the asset's download path."""
        if isinstance(data, int):
            data = os.urandom(data)
        with self.live.app.app_context(), unit_of_work():
            item = db.session.scalar(select(Item).where(Item.item_id == product))
            key = f"{item.collection_id}/{item.item_id}/{asset_key}/{filename}"
            path = f"/stac/collections/{item.collection_id}/items/{product}/assets/{asset_key}/download"
            store = get_store()
            store.client.put_object(store.products_bucket, key, io.BytesIO(data), len(data), content_type=media_type)
            db.session.add(ProductAsset(item_key=item.key, asset_key=asset_key, state=AssetState.ready,
                                        filename=filename, media_type=media_type, roles=list(roles), size=len(data),
                                        sha256=hashlib.sha256(data).hexdigest(), object_key=key))
        return path

    def entitlement(self, holder: str, product: str, **columns) -> str:
        """An entitlement row as fulfilment writes it (defaults: 3 downloads per asset, 1 MB); its id."""
        ident = uuid.uuid4()
        with self.live.app.app_context(), unit_of_work():
            item = db.session.scalar(select(Item).where(Item.item_id == product))
            row = Entitlement(id=ident, org_id=self.orgs[holder], provider_org_id=item.provider_org_id,
                              item_key=item.key, collection_id=item.collection_id, item_id=item.item_id,
                              license={"code": "commercial-single-org", "version": 1, "title": "Commercial",
                                       "uses": ["commercial"]},
                              **{"downloads_per_asset": 3, "bytes_allowed": 1_000_000, **columns})
            db.session.add(row)
        return str(ident)

    def read_entitlement(self, entitlement_id: str) -> Entitlement:
        with self.live.app.app_context():
            row = db.session.get(Entitlement, uuid.UUID(entitlement_id))
            db.session.expunge(row)
            return row


def add_person(shop: Shop, name: str, roles, kind: str, scopes: str, org: str | None = None) -> None:
    """A user (of ``org``, default their own organisation) with a confidential client and a token."""
    live = shop.live
    email = f"{name}@meter.example"
    user_id = live.user(email, roles=roles, org=org or f"Org {name}", kind=kind)
    client_id, secret = live.client(email, scopes)
    shop.clients[name] = (client_id, secret)
    shop.tokens[name] = live.minted_token(client_id)
    shop.users[name] = user_id
    with live.app.app_context():
        from auth.models import User
        shop.orgs[name] = db.session.get(User, user_id).org_id


@pytest.fixture
def shop(live) -> Iterator[Shop]:
    shop = open_shop(live)
    yield shop
    settled(shop)  # a response settles just after its last byte: in this test, not in the next one's tables


def open_shop(live) -> Shop:
    """The shop on ``live`` (also for test packages outside tests/metering, as their own fixture)."""
    shop = Shop(live)
    add_person(shop, "admin", ["admin"], "platform", ADMIN_SCOPES)
    add_person(shop, "alice", ["provider"], "provider", PROVIDER_SCOPES)
    add_person(shop, "bob", ["provider"], "provider", PROVIDER_SCOPES)
    add_person(shop, "buyer", ["buyer"], "buyer", BUYER_SCOPES)
    add_person(shop, "other", ["buyer"], "buyer", BUYER_SCOPES)
    for owner, west in (("alice", 10.0), ("bob", 20.0)):
        made = shop.api("POST", "/stac/collections", owner, json={"id": owner, "description": owner})
        assert made.status_code == 201
        with live.app.app_context():
            bulk_write(SYSTEM, owner, [item_doc(f"{owner}-1", owner, west), item_doc(f"{owner}-2", owner, west + 2)],
                       method="insert", status=ItemStatus.published)
            for item in db.session.scalars(select(Item).where(Item.collection_id == owner)):
                shop.products[item.item_id] = item.key
    return shop
