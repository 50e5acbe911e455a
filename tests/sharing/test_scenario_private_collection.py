"""Scenario 5, private collection (the README's recipe, over HTTP on a live server): the admin lets
only three named organisations discover Alice's collection. Everyone else — another buyer, another
provider, anonymous callers — finds no trace of it: not in the collection list, its own page, its
items, queryables, searches and counts, thumbnails, offers, quotes or downloads. The three named
organisations see all of it; Alice still sees her own."""
from __future__ import annotations

import pytest

from tests.metering.conftest import BUYER_SCOPES, add_person, open_shop
from tests.metering.meter import settled

ITEM = "/stac/collections/alice/items/alice-1"
NAMED = ("buyer", "agency", "lab")


def _policy(shop) -> dict:
    return {"name": "Alice's private collection", "target": {"collections": ["alice"]}, "actions": ["discover"],
            "effect": "deny", "except": {"org_ids": [str(shop.orgs[name]) for name in NAMED]}}


@pytest.fixture
def shop(live):
    shop = open_shop(live)
    add_person(shop, "agency", ["buyer"], "government", BUYER_SCOPES)
    add_person(shop, "lab", ["buyer"], "research", BUYER_SCOPES)
    shop.download = shop.stored_file("alice-1", b"private bytes")
    offer = shop.api("POST", "/api/v1/offers", "alice", json={
        "collection_id": "alice", "license": "commercial-single-org@1",
        "pricing": {"model": "per_scene", "price": 5000, "currency": "CNY"}})
    assert offer.status_code == 201, offer.text
    shop.offer = offer.json()["id"]
    shop.entitlement("other", "alice-1")  # a licence from before the collection went private
    policy = shop.api("POST", "/api/v1/admin/policies", "admin", json=_policy(shop))
    assert policy.status_code == 201, policy.text
    yield shop
    settled(shop)


def _ids(answer) -> list[str]:
    assert answer.status_code == 200, answer.text
    return sorted(f["id"] for f in answer.json()["features"])


def _quote(shop, who: str):
    return shop.api("POST", "/api/v1/quotes", who, json={"items": [{"product_id": shop.products["alice-1"],
                                                                    "offer_id": shop.offer}]})


@pytest.mark.parametrize("who", ["other", "bob", None])
def test_everyone_else_finds_no_trace_of_it(shop, who):
    collections = shop.api("GET", "/stac/collections", who).json()["collections"]
    assert [c["id"] for c in collections] == ["bob"]
    for path in ("/stac/collections/alice", "/stac/collections/alice/items", "/stac/collections/alice/queryables",
                 ITEM, f"{ITEM}/thumbnail"):
        assert shop.api("GET", path, who).status_code == 404, path
    assert _ids(shop.api("GET", "/stac/search?collections=alice", who)) == []
    assert shop.api("GET", "/stac/search?limit=1", who).json()["numberMatched"] == 2  # bob's two
    assert shop.api("POST", "/stac/search", who, json={"ids": ["alice-1", "alice-2"]}).json()["numberMatched"] == 0
    assert shop.api("GET", "/api/v1/offers?collection=alice", who).json()["items"] == []
    assert shop.api("GET", f"/api/v1/offers/{shop.offer}", who).status_code == 404


def test_another_buyer_cannot_quote_or_download(shop):
    quote = _quote(shop, "other")
    assert quote.status_code == 422
    assert quote.json()["errors"][0]["message"] == f"no product {shop.products['alice-1']} that you may see"
    download = shop.api("GET", shop.download, "other")
    assert download.status_code == 404 and b"private bytes" not in download.content


@pytest.mark.parametrize("who", NAMED)
def test_the_three_named_organisations_see_everything(shop, who):
    assert "alice" in [c["id"] for c in shop.api("GET", "/stac/collections", who).json()["collections"]]
    assert shop.api("GET", "/stac/collections/alice", who).status_code == 200
    assert _ids(shop.api("GET", "/stac/collections/alice/items", who)) == ["alice-1", "alice-2"]
    assert _ids(shop.api("GET", "/stac/search?collections=alice", who)) == ["alice-1", "alice-2"]
    assert shop.api("GET", "/stac/search?limit=1", who).json()["numberMatched"] == 4
    assert shop.api("GET", ITEM, who).status_code == 200
    assert [o["id"] for o in shop.api("GET", "/api/v1/offers?collection=alice", who).json()["items"]] == [shop.offer]
    assert _quote(shop, who).status_code == 201


def test_the_provider_still_sees_its_own(shop):
    assert _ids(shop.api("GET", "/stac/collections/alice/items", "alice")) == ["alice-1", "alice-2"]
    assert shop.api("GET", ITEM, "alice").status_code == 200
    assert shop.api("GET", shop.download, "alice").content == b"private bytes"

