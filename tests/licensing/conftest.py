"""Licensing fixtures: a market on a live server — an admin, two providers (each with a collection
and a published product), a buyer and a suspended buyer — with tokens, and rows the orders helper's
fulfilment would write (entitlements), made directly."""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from auth.models import OrgStatus
from exchange.catalog.batches import bulk_write
from exchange.catalog.models import Item, ItemStatus
from exchange.core.db import db, unit_of_work
from exchange.licensing.models import Entitlement, EntitlementStatus
from exchange.policy import SYSTEM

PROVIDER_SCOPES = "catalog:read catalog:write licenses:read data:download"
BUYER_SCOPES = "catalog:read licenses:read data:download orders:write"
ADMIN_SCOPES = "catalog:read catalog:write admin:policies licenses:read"


def item_doc(item_id: str, collection: str, west: float = 10.0) -> dict:
    return {"type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": collection,
            "geometry": {"type": "Polygon", "coordinates": [[[west, 0], [west + 1, 0], [west + 1, 1], [west, 1],
                                                             [west, 0]]]},
            "properties": {"datetime": "2026-06-01T10:00:00Z", "gsd": 10},
            "assets": {"data": {"href": "scene.tif", "type": "image/tiff", "roles": ["data"]}}}


@dataclass
class Market:
    live: object
    tokens: dict = field(default_factory=dict)
    orgs: dict = field(default_factory=dict)
    products: dict = field(default_factory=dict)  # item id -> product id (item key)

    def api(self, method: str, path: str, who: str | None = None, **kwargs):
        return self.live.api(method, path, self.tokens.get(who) if who else None, **kwargs)

    def entitlement(self, holder: str, product: str, **columns) -> str:
        """An entitlement row as fulfilment writes it; its id."""
        ident = uuid.uuid4()
        with self.live.app.app_context(), unit_of_work():
            item = db.session.scalar(select(Item).where(Item.item_id == product))
            row = Entitlement(id=ident, org_id=self.orgs[holder], provider_org_id=item.provider_org_id,
                              item_key=item.key,
                              collection_id=item.collection_id, item_id=item.item_id,
                              license={"code": "commercial-single-org", "version": 1, "title": "Commercial",
                                       "uses": ["commercial"]},
                              **{"downloads_per_asset": 3, "bytes_allowed": 3000, **columns})
            db.session.add(row)
        return str(ident)


def _person(live, market: Market, name: str, roles, kind: str, scopes: str,
            status: OrgStatus = OrgStatus.active) -> None:
    email, org = f"{name}@lic.example", f"Org {name}"
    user_id = live.user(email, roles=roles, org=org, kind=kind)
    client_id, _ = live.client(email, scopes)
    market.tokens[name] = live.minted_token(client_id)
    with live.app.app_context():
        from auth.models import User
        market.orgs[name] = db.session.get(User, user_id).org_id
    if status is not OrgStatus.active:
        with live.app.app_context(), unit_of_work():
            from auth.models import Organisation
            db.session.get(Organisation, market.orgs[name]).status = status


@pytest.fixture
def market(live) -> Market:
    market = Market(live)
    _person(live, market, "admin", ["admin"], "platform", ADMIN_SCOPES)
    _person(live, market, "alice", ["provider"], "provider", PROVIDER_SCOPES)
    _person(live, market, "bob", ["provider"], "provider", PROVIDER_SCOPES)
    _person(live, market, "buyer", ["buyer"], "buyer", BUYER_SCOPES)
    _person(live, market, "suspended", ["buyer"], "buyer", BUYER_SCOPES, status=OrgStatus.suspended)
    for owner, west in (("alice", 10.0), ("bob", 20.0)):
        made = market.api("POST", "/stac/collections", owner, json={"id": owner, "description": owner})
        assert made.status_code == 201
        with live.app.app_context():
            bulk_write(SYSTEM, owner, [item_doc(f"{owner}-1", owner, west), item_doc(f"{owner}-2", owner, west + 2)],
                       method="insert", status=ItemStatus.published)
            bulk_write(SYSTEM, owner, [item_doc(f"{owner}-draft", owner, west + 4)], method="insert")
            for item in db.session.scalars(select(Item).where(Item.collection_id == owner)):
                market.products[item.item_id] = item.key
    return market


def days(n: float) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=n)


__all__ = ["EntitlementStatus", "Market", "days", "item_doc"]
