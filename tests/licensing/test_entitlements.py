"""Licences held (entitlements): each organisation reads its own, a provider those granted on its
products, admins all; another organisation's reads as absent. A usable licence opens the product's
data files to the holder's members; none, expired, revoked or used up is refused, saying which."""
from __future__ import annotations

import hashlib
import io
import os
import uuid

from sqlalchemy import select

from exchange.catalog.models import Item
from exchange.core.db import db, unit_of_work
from exchange.ingest.models import AssetState, ProductAsset
from storage.objectstore import get_store
from tests.licensing.conftest import EntitlementStatus, Market, days


def test_each_side_reads_its_own_licences(market: Market):
    held = market.entitlement("buyer", "alice-1", valid_until=days(30), bytes_used=1000, bytes_reserved=500)
    other = market.entitlement("buyer", "bob-1", downloads_per_asset=None, bytes_allowed=None)
    theirs = market.entitlement("admin", "bob-2")
    mine = market.api("GET", "/api/v1/licenses", "buyer")
    assert mine.status_code == 200, mine.text
    rows = {row["id"]: row for row in mine.json()["items"]}
    assert set(rows) == {held, other} and mine.json()["next"] is None
    first = rows[held]
    assert first["product_id"] == market.products["alice-1"] and first["status"] == "active"
    assert first["license"]["code"] == "commercial-single-org" and first["license"]["version"] == 1
    assert first["downloads_remaining"] == 3 and first["bytes_remaining"] == 1500
    assert first["licensee_org_id"] == str(market.orgs["buyer"])
    assert first["provider_org_id"] == str(market.orgs["alice"])
    assert rows[other]["downloads_remaining"] is None and rows[other]["bytes_remaining"] is None
    assert market.api("GET", f"/api/v1/licenses/{held}", "buyer").json()["valid_until"]
    # another organisation's licence reads as absent; so does one that does not exist
    assert market.api("GET", f"/api/v1/licenses/{theirs}", "buyer").status_code == 404
    assert market.api("GET", f"/api/v1/licenses/{uuid.uuid4()}", "buyer").status_code == 404
    # the provider sees what was sold on its products, not the rest
    alice = {row["id"] for row in market.api("GET", "/api/v1/licenses", "alice").json()["items"]}
    assert alice == {held}
    assert market.api("GET", f"/api/v1/licenses/{held}", "alice").status_code == 200
    assert market.api("GET", f"/api/v1/licenses/{other}", "alice").status_code == 404
    bob = {row["id"] for row in market.api("GET", "/api/v1/licenses", "bob").json()["items"]}
    assert bob == {other, theirs}
    admin = {row["id"] for row in market.api("GET", "/api/v1/licenses?limit=2", "admin").json()["items"]}
    assert len(admin) == 2
    everything = market.api("GET", "/api/v1/licenses", "admin").json()["items"]
    assert {row["id"] for row in everything} == {held, other, theirs}


def test_filters_paging_and_the_expired_status(market: Market):
    active = market.entitlement("buyer", "alice-1", valid_until=days(30))
    lapsed = market.entitlement("buyer", "alice-2", valid_from=days(-60), valid_until=days(-1))
    refunded = market.entitlement("buyer", "bob-1", status=EntitlementStatus.refunded)
    shown = market.api("GET", f"/api/v1/licenses/{lapsed}", "buyer").json()
    assert shown["status"] == "expired"
    def ids(query: str) -> set[str]:
        answer = market.api("GET", f"/api/v1/licenses{query}", "buyer")
        assert answer.status_code == 200, answer.text
        return {row["id"] for row in answer.json()["items"]}
    assert ids("?status=active") == {active}
    assert ids("?status=expired") == {lapsed}
    assert ids("?status=refunded") == {refunded}
    assert ids(f"?product={market.products['alice-2']}") == {lapsed}
    first = market.api("GET", "/api/v1/licenses?limit=2", "buyer").json()
    rest = market.api("GET", f"/api/v1/licenses?limit=2&after={first['next']}", "buyer").json()
    assert len(first["items"]) == 2 and rest["next"] is None
    assert {r["id"] for r in first["items"] + rest["items"]} == {active, lapsed, refunded}
    bad = market.api("GET", "/api/v1/licenses?status=lost&product=x&after=garbage", "buyer")
    assert bad.status_code == 422 and {"status", "product"} <= {e["field"] for e in bad.json()["errors"]}
    cursor = market.api("GET", "/api/v1/licenses?after=garbage", "buyer")
    assert cursor.status_code == 422 and cursor.json()["errors"][0]["field"] == "after"


def test_licences_need_a_token_with_licenses_read(market: Market):
    held = market.entitlement("buyer", "alice-1")
    assert market.api("GET", "/api/v1/licenses").status_code == 401
    assert market.api("GET", f"/api/v1/licenses/{held}").status_code == 401
    live = market.live
    live.user("narrow@lic.example", roles=["buyer"], org="Org buyer")
    client_id, _ = live.client("narrow@lic.example", "catalog:read")
    narrow = live.minted_token(client_id)
    assert live.api("GET", "/api/v1/licenses", narrow).status_code == 403
    assert live.api("GET", f"/api/v1/licenses/{held}", narrow).status_code == 403
    suspended = market.api("GET", "/api/v1/licenses", "suspended")
    assert suspended.status_code == 401 and "suspended" in suspended.text


def _stored_file(market: Market, product: str) -> str:
    """A verified data file of the product in the store, as ingest records it; the download route's path."""
    data = os.urandom(1000)
    with market.live.app.app_context(), unit_of_work():
        item = db.session.scalar(select(Item).where(Item.item_id == product))
        key = f"{item.collection_id}/{item.item_id}/data/scene.tif"
        store = get_store()
        store.client.put_object(store.products_bucket, key, io.BytesIO(data), len(data))
        db.session.add(ProductAsset(item_key=item.key, asset_key="data", state=AssetState.ready, filename="scene.tif",
                                    media_type="image/tiff", roles=["data"], size=len(data),
                                    sha256=hashlib.sha256(data).hexdigest(), object_key=key))
    return f"/stac/collections/{product.split('-')[0]}/items/{product}/assets/data/download"


def test_a_usable_licence_opens_the_download_and_nothing_else_does(market: Market):
    path = _stored_file(market, "alice-1")
    def download(who: str, **headers):
        return market.api("GET", path, who, headers=headers)
    refused = download("buyer")
    assert refused.status_code == 403 and refused.json()["rule"] == "no-license"
    assert "licence" in refused.json()["detail"]
    assert download("alice").status_code == 200  # the owner, as before
    # used up, expired, revoked, not yet valid, or another product's licence: still refused, saying why
    market.entitlement("buyer", "alice-1", bytes_used=3000)
    market.entitlement("buyer", "alice-1", valid_from=days(-30), valid_until=days(-1))
    market.entitlement("buyer", "alice-1", status=EntitlementStatus.revoked)
    market.entitlement("buyer", "alice-1", valid_from=days(1))
    market.entitlement("buyer", "alice-1", bytes_used=2000, bytes_reserved=1000)
    market.entitlement("buyer", "bob-1")
    market.entitlement("bob", "alice-2")
    for who, rule in (("buyer", "bytes-used-up"), ("bob", "no-license")):
        answer = download(who)
        assert answer.status_code == 403 and answer.json()["rule"] == rule, who
    # a usable one with a byte left: that byte, and no more
    usable = market.entitlement("buyer", "alice-1", valid_until=days(1), bytes_used=2999)
    granted = download("buyer", Range="bytes=0-0")
    assert granted.status_code == 206 and len(granted.content) == 1 and granted.headers["SDX-License-Id"] == usable
    assert download("buyer").json()["rule"] == "bytes-used-up"
    # a member of the same organisation whose token lacks data:download is refused
    live = market.live
    live.user("reader@lic.example", roles=["buyer"], org="Org buyer")
    client_id, _ = live.client("reader@lic.example", "catalog:read")
    reader = live.api("GET", path, live.minted_token(client_id))
    assert reader.status_code == 403 and reader.json()["rule"] == "scope"
    assert market.api("GET", path, None).status_code == 401
