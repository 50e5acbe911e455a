"""Offers: providers put their own products and collections on sale, admins any; every bad field is
named; PATCH bumps the revision when what a buyer pays or accepts changes; DELETE withdraws; reads
follow the catalogue's; and every STAC item carries what is on sale in ``sdx:offers``."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from exchange.catalog.models import Item
from exchange.core.db import db
from exchange.licensing.availability import active_offers, offer_summaries
from tests.licensing.conftest import Market

SCENE = {"license": "commercial-single-org@1", "pricing": {"model": "per_scene", "price": 12000}}


def offer_on(market: Market, who: str, **target) -> dict:
    answer = market.api("POST", "/api/v1/offers", who, json={**SCENE, **target})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_provider_offers_its_product_and_its_collection(market: Market):
    pid = market.products["alice-1"]
    created = market.api("POST", "/api/v1/offers", "alice", json={
        "product_id": pid, "license": "commercial-single-org@1", "discounts": {"government": 30, "research": 10},
        "pricing": {"model": "per_km2", "price": 500, "currency": "USD", "min_km2": 25},
        "valid_until": "2099-01-01T00:00:00Z"})
    assert created.status_code == 201, created.text
    offer = created.json()
    assert created.headers["Location"].endswith(f"/api/v1/offers/{offer['id']}")
    assert offer["product_id"] == pid and offer["license"] == "commercial-single-org@1" and offer["revision"] == 1
    assert offer["pricing"] == {"model": "per_km2", "price": 500, "currency": "USD", "min_km2": 25.0, "gb": None}
    assert offer["discounts"] == {"government": 30, "research": 10} and offer["status"] == "on_sale"
    assert offer["provider_org_id"] == str(market.orgs["alice"])
    whole = offer_on(market, "alice", collection_id="alice")
    assert whole["collection_id"] == "alice" and whole["pricing"]["currency"] == "CNY"
    free = market.api("POST", "/api/v1/offers", "alice", json={"collection_id": "alice", "license": "open-cc-by-4.0@1",
                                                                "pricing": {"model": "free"}})
    assert free.status_code == 201 and free.json()["pricing"]["price"] == 0
    gb = market.api("POST", "/api/v1/offers", "alice", json={
        "product_id": pid, "license": "enterprise-redistribution@1",
        "pricing": {"model": "per_gb", "price": 9, "gb": 10}})
    assert gb.status_code == 201 and gb.json()["pricing"]["gb"] == 10.0
    assert market.api("GET", f"/api/v1/offers/{offer['id']}").json()["id"] == offer["id"]
    on_product = market.api("GET", f"/api/v1/offers?product={pid}").json()["items"]
    assert {o["id"] for o in on_product} == {offer["id"], gb.json()["id"]}
    on_collection = market.api("GET", "/api/v1/offers?collection=alice&limit=1").json()
    assert len(on_collection["items"]) == 1 and on_collection["next"]
    second = market.api("GET", f"/api/v1/offers?collection=alice&limit=1&after={on_collection['next']}").json()
    assert {on_collection["items"][0]["id"], second["items"][0]["id"]} == {whole["id"], free.json()["id"]}


@pytest.mark.parametrize("body, fields", [
    ({}, {"license", "pricing", "product_id"}),
    ({"product_id": 1, "collection_id": "alice", **SCENE}, {"product_id"}),
    ({"collection_id": "alice", "license": "commercial", "pricing": {"model": "per_scene", "price": 0}},
     {"license", "pricing.price"}),
    ({"collection_id": "alice", "license": "commercial-single-org@1", "pricing": {"model": "free", "price": 5}},
     {"pricing.price"}),
    ({"collection_id": "alice", "license": "commercial-single-org@1",
      "pricing": {"model": "per_km2", "price": 5, "currency": "GBP", "gb": 3}},
     {"pricing.currency", "pricing.min_km2", "pricing.gb"}),
    ({"collection_id": "alice", "license": "commercial-single-org@1",
      "pricing": {"model": "per_gb", "price": -5, "gb": 0, "min_km2": -1}},
     {"pricing.price", "pricing.gb", "pricing.min_km2"}),
    ({"collection_id": "alice", "license": "commercial-single-org@1", "pricing": {"model": "barter", "price": "12"},
      "discounts": {"government": 130, "students": 5, "research": 2.5}},
     {"pricing.model", "pricing.price", "discounts.government.value", "discounts.students.key",
      "discounts.research.value"}),
    ({"collection_id": "alice", **SCENE, "valid_from": "2030-01-01T00:00:00Z", "valid_until": "2029-01-01T00:00:00Z"},
     {"valid_until"}),
    ({"collection_id": "alice", **SCENE, "valid_from": "2030-01-01T00:00:00", "colour": "red"},
     {"valid_from", "colour"}),
    ({"collection_id": "alice", **SCENE, "license": "commercial-single-org@9"}, {"license"}),
    ({"product_id": 2**70, **SCENE}, {"product_id"}),
    ({"collection_id": "alice", "license": "commercial-single-org@1",
      "pricing": {"model": "per_gb", "price": 10**12 + 1, "gb": 10**6 + 1}}, {"pricing.price", "pricing.gb"}),
    ({"collection_id": "alice", "license": "commercial-single-org@1",
      "pricing": {"model": "per_km2", "price": 10**12, "min_km2": 1e10}}, {"pricing.min_km2"}),
])
def test_every_bad_field_is_named_and_nothing_is_written(market: Market, body, fields):
    answer = market.api("POST", "/api/v1/offers", "alice", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert {e["field"] for e in answer.json()["errors"]} == fields
    assert market.api("GET", "/api/v1/offers?collection=alice", "alice").json()["items"] == []


def test_who_may_sell_what(market: Market):
    pid, bobs, draft = market.products["alice-1"], market.products["bob-1"], market.products["bob-draft"]
    body = {**SCENE, "product_id": pid}
    assert market.api("POST", "/api/v1/offers", json=body).status_code == 401
    buyer = market.api("POST", "/api/v1/offers", "buyer", json=body)
    assert buyer.status_code == 403  # a buyer's token cannot hold catalog:write
    # another provider's published product: seen, not theirs (403); its draft: not seen (404)
    other = market.api("POST", "/api/v1/offers", "alice", json={**SCENE, "product_id": bobs})
    assert other.status_code == 403 and other.json()["rule"] == "ownership"
    assert market.api("POST", "/api/v1/offers", "alice", json={**SCENE, "product_id": draft}).status_code == 404
    assert market.api("POST", "/api/v1/offers", "alice", json={**SCENE, "product_id": 10**9}).status_code == 404
    assert market.api("POST", "/api/v1/offers", "alice", json={**SCENE, "collection_id": "bob"}).status_code == 403
    assert market.api("POST", "/api/v1/offers", "alice", json={**SCENE, "collection_id": "nope"}).status_code == 404
    # the owner sells its own draft; an admin sells anyone's
    assert market.api("POST", "/api/v1/offers", "bob", json={**SCENE, "product_id": draft}).status_code == 201
    by_admin = market.api("POST", "/api/v1/offers", "admin", json={**SCENE, "product_id": bobs})
    assert by_admin.status_code == 201 and by_admin.json()["provider_org_id"] == str(market.orgs["bob"])
    # the offer on bob's draft is seen by bob and admins only
    offers = {o["product_id"]: o["id"] for o in market.api("GET", "/api/v1/offers", "bob").json()["items"]}
    hidden = offers[draft]
    assert market.api("GET", f"/api/v1/offers/{hidden}", "bob").status_code == 200
    assert market.api("GET", f"/api/v1/offers/{hidden}", "admin").status_code == 200
    for who in (None, "buyer", "alice"):
        assert market.api("GET", f"/api/v1/offers/{hidden}", who).status_code == 404
        assert hidden not in {o["id"] for o in market.api("GET", "/api/v1/offers", who).json()["items"]}
    assert offers[bobs] in {o["id"] for o in market.api("GET", "/api/v1/offers").json()["items"]}
    # nobody but the owner and admins changes or withdraws an offer
    for who, status in ((None, 401), ("buyer", 403), ("alice", 403)):
        assert market.api("PATCH", f"/api/v1/offers/{offers[bobs]}", who, json={"discounts": {}}).status_code == status
        assert market.api("DELETE", f"/api/v1/offers/{offers[bobs]}", who).status_code == status
    assert market.api("PATCH", f"/api/v1/offers/{hidden}", "alice", json={"discounts": {}}).status_code == 404


def test_a_suspended_provider_sells_nothing(market: Market):
    """A suspended organisation's tokens stop working (the policy's own "org-status" refusal, for
    callers that are not tokens, is in test_policies.py)."""
    live = market.live
    live.user("carol@lic.example", roles=["provider"], org="Org suspended")
    client_id, _ = live.client("carol@lic.example", "catalog:read catalog:write")
    token = live.minted_token(client_id)
    answer = live.api("POST", "/api/v1/offers", token, json={**SCENE, "product_id": market.products["alice-1"]})
    assert answer.status_code == 401 and "suspended" in answer.text
    assert market.api("GET", "/api/v1/offers?product=%d" % market.products["alice-1"], "alice").json()["items"] == []


def test_patch_bumps_the_revision_only_when_the_price_or_terms_change(market: Market):
    offer = offer_on(market, "alice", product_id=market.products["alice-1"])
    path = f"/api/v1/offers/{offer['id']}"
    window = market.api("PATCH", path, "alice", json={"valid_until": "2099-01-01T00:00:00Z"})
    assert window.status_code == 200 and window.json()["revision"] == 1
    price = market.api("PATCH", path, "alice", json={"pricing": {"price": 15000}})
    assert price.json()["revision"] == 2 and price.json()["pricing"]["price"] == 15000
    assert price.json()["pricing"]["model"] == "per_scene"
    same = market.api("PATCH", path, "alice", json={"pricing": {"price": 15000}})
    assert same.json()["revision"] == 2
    licence = market.api("PATCH", path, "alice", json={"license": "research-noncommercial@1",
                                                        "discounts": {"research": 50}})
    assert licence.json()["revision"] == 3 and licence.json()["license"] == "research-noncommercial@1"
    model = market.api("PATCH", path, "admin", json={"pricing": {"model": "per_km2", "min_km2": 10}})
    assert model.json()["revision"] == 4 and model.json()["pricing"]["min_km2"] == 10.0
    bad = market.api("PATCH", path, "alice", json={"product_id": 5, "pricing": {"model": "free"}, "colour": 1})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"product_id", "colour"}
    wrong = market.api("PATCH", path, "alice", json={"pricing": {"model": "free"}, "license": "nope@1"})
    assert wrong.status_code == 422 and {e["field"] for e in wrong.json()["errors"]} == {
        "pricing.price", "pricing.min_km2"}
    missing = market.api("PATCH", path, "alice", json={"license": "nope@1"})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "license"
    unchanged = market.api("GET", path).json()
    assert unchanged["revision"] == 4 and unchanged["license"] == "research-noncommercial@1"
    cleared = market.api("PATCH", path, "alice", json={"valid_from": None})
    assert cleared.status_code == 422 and cleared.headers["Content-Type"] == "application/problem+json"
    assert cleared.json()["errors"] == [{"field": "valid_from",
                                         "message": "cannot be cleared: give the moment the offer goes on sale"}]
    assert market.api("GET", path).json() == unchanged


def test_delete_withdraws_and_the_provider_still_sees_it(market: Market):
    offer = offer_on(market, "alice", product_id=market.products["alice-1"])
    path = f"/api/v1/offers/{offer['id']}"
    assert market.api("DELETE", path, "alice").status_code == 204
    assert market.api("GET", path).status_code == 404
    assert market.api("GET", path, "buyer").status_code == 404
    mine = market.api("GET", path, "alice").json()
    assert mine["status"] == "withdrawn" and mine["withdrawn_at"] and mine["revision"] == 2
    assert market.api("PATCH", path, "alice", json={"discounts": {}}).status_code == 409
    assert market.api("DELETE", path, "alice").status_code == 204  # already withdrawn: nothing changes
    assert market.api("GET", path, "alice").json()["revision"] == 2
    assert market.api("DELETE", "/api/v1/offers/00000000-0000-0000-0000-000000000000", "alice").status_code == 404


def _offers_of(feature: dict) -> list[dict]:
    return feature["properties"].get("sdx:offers", [])


def test_stac_items_carry_what_is_on_sale(market: Market):
    whole = offer_on(market, "alice", collection_id="alice")
    own = market.api("POST", "/api/v1/offers", "alice", json={
        "product_id": market.products["alice-2"], "license": "research-noncommercial@1",
        "pricing": {"model": "per_km2", "price": 300, "min_km2": 25}}).json()
    later = market.api("POST", "/api/v1/offers", "alice", json={**SCENE, "collection_id": "alice",
                                                                 "valid_from": "2099-01-01T00:00:00Z"}).json()
    assert later["status"] == "scheduled"
    item = market.api("GET", "/stac/collections/alice/items/alice-1").json()
    assert _offers_of(item) == [{"id": whole["id"], "license": "commercial-single-org@1", "model": "per_scene",
                                 "price": 12000, "currency": "CNY"}]
    # a product's own offer replaces its collection's
    own_item = market.api("GET", "/stac/collections/alice/items/alice-2").json()
    assert _offers_of(own_item) == [{"id": own["id"], "license": "research-noncommercial@1", "model": "per_km2",
                                     "price": 300, "currency": "CNY", "min_km2": 25.0}]
    page = market.api("GET", "/stac/collections/alice/items").json()["features"]
    assert {f["id"]: [o["id"] for o in _offers_of(f)] for f in page} == {
        "alice-1": [whole["id"]], "alice-2": [own["id"]]}
    found = market.api("GET", "/stac/search?collections=alice,bob").json()["features"]
    assert {f["id"]: len(_offers_of(f)) for f in found} == {"alice-1": 1, "alice-2": 1, "bob-1": 0, "bob-2": 0}
    posted = market.api("POST", "/stac/search", json={"ids": ["alice-1"]}).json()["features"]
    assert _offers_of(posted[0])[0]["id"] == whole["id"]
    cut = market.api("POST", "/stac/search", json={"ids": ["alice-1"], "fields": {"include": ["properties.gsd"]}})
    assert "sdx:offers" not in cut.json()["features"][0]["properties"]
    kept = market.api("GET", "/stac/search?ids=alice-1&fields=properties.sdx:offers").json()["features"][0]
    assert _offers_of(kept)[0]["id"] == whole["id"]
    # the light rows the pages use choose exactly what active_offers (quotes, orders) chooses
    with market.live.app.app_context():
        items = db.session.scalars(select(Item).where(Item.collection_id.in_(["alice", "bob"]))).all()
        chosen = {key: [o.id for o in offers] for key, offers in active_offers(items).items()}
        assert chosen == {key: [o.id for o in rows] for key, rows in offer_summaries(items).items()}
        assert chosen[market.products["alice-2"]] == [uuid.UUID(own["id"])]
    # withdrawn: gone from the items at once
    assert market.api("DELETE", f"/api/v1/offers/{whole['id']}", "alice").status_code == 204
    assert _offers_of(market.api("GET", "/stac/collections/alice/items/alice-1").json()) == []
    # a round trip of a served item does not store the platform's sdx:offers
    served = market.api("GET", "/stac/collections/alice/items/alice-2").json()
    assert market.api("PUT", "/stac/collections/alice/items/alice-2", "alice", json=served).status_code == 200
    assert _offers_of(market.api("GET", "/stac/collections/alice/items/alice-2").json())[0]["id"] == own["id"]


def test_booleans_are_not_numbers_and_a_bad_field_is_named_once(market: Market):
    answer = market.api("POST", "/api/v1/offers", "alice", json={
        "product_id": True, "license": "commercial-single-org@1",
        "pricing": {"model": "per_gb", "price": True, "gb": "10"}, "discounts": {"research": True}})
    assert answer.status_code == 422
    errors = answer.json()["errors"]
    assert sorted(e["field"] for e in errors) == ["discounts.research.value", "pricing.gb", "pricing.price",
                                                  "product_id"]


@pytest.mark.parametrize("path, status, field", [
    ("/api/v1/offers?product=%d" % 2**70, 422, "product"),
    ("/api/v1/licenses?product=%d" % 2**70, 422, "product"),
    ("/api/v1/licenses/templates/commercial-single-org/versions/%d" % 2**70, 404, None),
    ("/api/v1/licenses/templates/commercial-single-org/versions/%d" % 2**31, 404, None),
])
def test_numbers_no_column_holds_are_refused_not_a_500(market: Market, path, status, field):
    answer = market.api("GET", path, "buyer")
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"] == "application/problem+json"
    if field:
        assert [e["field"] for e in answer.json()["errors"]] == [field]
