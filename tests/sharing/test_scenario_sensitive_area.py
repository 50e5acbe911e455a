"""Scenario 4, sensitive area (the README's recipe, over HTTP on a live server): the admin makes the
products whose footprint intersects a polygon undiscoverable except by government organisations.
A buyer then finds no trace of them — not in searches or their counts, item lists, item reads (404),
thumbnails, offers, quotes or downloads, even holding a licence bought before; a government
organisation sees and quotes them; the provider still sees its own."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from exchange.catalog.models import Item
from exchange.core.db import db
from exchange.ingest.pipeline import thumbnail_object
from storage import transfers
from storage.objectstore import get_store
from tests.metering.conftest import BUYER_SCOPES, add_person, open_shop
from tests.metering.meter import settled

#: alice-1 lies in 10..11 E, 0..1 N (alice-2 at 12..13 E, bob's at 20..23 E): only alice-1 is inside.
SENSITIVE = {"type": "Polygon", "coordinates": [[[10.2, 0.2], [10.8, 0.2], [10.8, 0.8], [10.2, 0.8], [10.2, 0.2]]]}
POLICY = {"name": "Sensitive area", "target": {"region": SENSITIVE}, "actions": ["discover"], "effect": "deny",
          "except": {"org_kinds": ["government"]}}
PNG = b"\x89PNG\r\n\x1a\n" + b"1" * 24
ITEM = "/stac/collections/alice/items/alice-1"


@pytest.fixture
def shop(live):
    shop = open_shop(live)
    add_person(shop, "agency", ["buyer"], "government", BUYER_SCOPES)
    shop.download = shop.stored_file("alice-1", b"scene bytes")
    with live.app.app_context():
        item = db.session.scalar(select(Item).where(Item.item_id == "alice-1"))
        transfers.put_public(get_store(), thumbnail_object(item), PNG, "image/png")
    shop.offers = {}
    for product in ("alice-1", "alice-2"):
        offer = shop.api("POST", "/api/v1/offers", "alice", json={
            "product_id": shop.products[product], "license": "commercial-single-org@1",
            "pricing": {"model": "per_scene", "price": 12000, "currency": "CNY"}})
        assert offer.status_code == 201, offer.text
        shop.offers[product] = offer.json()["id"]
    shop.licence = shop.entitlement("buyer", "alice-1")  # bought before the area was declared sensitive
    policy = shop.api("POST", "/api/v1/admin/policies", "admin", json=POLICY)
    assert policy.status_code == 201, policy.text
    assert policy.json()["version"] == 1
    shop.policy_id = policy.json()["id"]
    yield shop
    settled(shop)


def _ids(answer) -> list[str]:
    assert answer.status_code == 200, answer.text
    return sorted(f["id"] for f in answer.json()["features"])


def _quote(shop, who: str, product: str):
    return shop.api("POST", "/api/v1/quotes", who, json={"items": [{"product_id": shop.products[product],
                                                                    "offer_id": shop.offers[product]}]})


@pytest.mark.parametrize("who", ["buyer", None])
def test_outside_government_the_area_s_products_leave_no_trace(shop, who):
    assert _ids(shop.api("GET", "/stac/search?collections=alice", who)) == ["alice-2"]
    counted = shop.api("GET", "/stac/search?limit=1", who).json()
    assert counted["numberMatched"] == 3  # alice-2, bob-1, bob-2
    assert _ids(shop.api("POST", "/stac/search", who, json={"intersects": SENSITIVE})) == []
    assert shop.api("POST", "/stac/search", who, json={"ids": ["alice-1"]}).json()["numberMatched"] == 0
    assert _ids(shop.api("GET", "/stac/collections/alice/items", who)) == ["alice-2"]
    assert shop.api("GET", ITEM, who).status_code == 404
    assert shop.api("GET", f"{ITEM}/thumbnail", who).status_code == 404
    offers = shop.api("GET", f"/api/v1/offers?product={shop.products['alice-1']}", who)
    assert offers.status_code == 200 and offers.json()["items"] == []
    assert shop.api("GET", f"/api/v1/offers/{shop.offers['alice-1']}", who).status_code == 404
    # the collection itself stays: alice-2 is outside the area
    assert shop.api("GET", "/stac/collections/alice", who).status_code == 200


def test_a_buyer_cannot_quote_or_download_them(shop):
    quote = _quote(shop, "buyer", "alice-1")
    assert quote.status_code == 422
    assert quote.json()["errors"] == [{"field": "items.0",
                                       "message": f"no product {shop.products['alice-1']} that you may see"}]
    assert _quote(shop, "buyer", "alice-2").status_code == 201
    download = shop.api("GET", shop.download, "buyer")
    assert download.status_code == 404 and b"scene bytes" not in download.content


def test_government_sees_and_quotes_them(shop):
    assert _ids(shop.api("GET", "/stac/search?collections=alice", "agency")) == ["alice-1", "alice-2"]
    assert _ids(shop.api("POST", "/stac/search", "agency", json={"intersects": SENSITIVE})) == ["alice-1"]
    assert shop.api("GET", ITEM, "agency").json()["id"] == "alice-1"
    thumbnail = shop.api("GET", f"{ITEM}/thumbnail", "agency")
    assert thumbnail.status_code == 200 and thumbnail.content == PNG
    assert shop.api("GET", f"/api/v1/offers?product={shop.products['alice-1']}", "agency").json()["items"]
    assert _quote(shop, "agency", "alice-1").status_code == 201


@pytest.mark.parametrize("who", ["alice", "admin"])
def test_the_provider_and_admins_still_see_it(shop, who):
    assert "alice-1" in _ids(shop.api("GET", "/stac/search?collections=alice", who))
    assert shop.api("GET", ITEM, who).status_code == 200
    assert shop.api("GET", f"{ITEM}/thumbnail", who).status_code == 200


def test_another_provider_does_not(shop):
    assert _ids(shop.api("GET", "/stac/search?collections=alice", "bob")) == ["alice-2"]
    assert shop.api("GET", ITEM, "bob").status_code == 404


def test_lifting_the_policy_brings_them_back(shop):
    lifted = shop.api("DELETE", f"/api/v1/admin/policies/{shop.policy_id}", "admin")
    assert lifted.status_code == 200 and lifted.json()["active"] is False
    assert _ids(shop.api("GET", "/stac/search?collections=alice", "buyer")) == ["alice-1", "alice-2"]
    assert shop.api("GET", f"{ITEM}/thumbnail", "buyer").status_code == 200


def test_a_buyer_cannot_set_the_policy(shop):
    refused = shop.api("POST", "/api/v1/admin/policies", "buyer", json=POLICY)
    assert refused.status_code == 403
    assert _ids(shop.api("GET", "/stac/search?collections=alice", "agency")) == ["alice-1", "alice-2"]
