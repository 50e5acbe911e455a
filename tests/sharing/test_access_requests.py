"""Access requests over HTTP: a buyer asks for what a require_approval policy holds back, the
provider sees it and approves free (entitlements with the limits, downloads within them) or priced
(a quote the buyer orders as usual). Authorization on every route."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from exchange.core.db import db
from exchange.licensing.models import Entitlement
from exchange.policy import SYSTEM
from exchange.sharing.models import AuditEntry
from exchange.trading import wallets
from tests.sharing import access_support
from tests.sharing.access_support import act, ask, asked, fields_of, stored

pytestmark = pytest.mark.usefixtures("backend")

shop = access_support.shop  # the fixture


def test_free_approval_grants_entitlements_with_the_limits_and_downloads_stay_within_them(shop):
    path = shop.stored_file("alice-1", 1000)
    request = asked(shop)
    assert request["state"] == "pending" and request["product_id"] == shop.products["alice-1"]
    assert request["org_id"] == str(shop.orgs["buyer"]) and request["provider_org_id"] == str(shop.orgs["alice"])

    # the provider sees it among the requests to its organisation; bob (another provider) does not
    inbox = shop.api("GET", "/api/v1/access-requests?side=provider&state=pending", "alice").json()["items"]
    assert [r["id"] for r in inbox] == [request["id"]]
    assert shop.api("GET", "/api/v1/access-requests", "bob").json()["items"] == []
    assert shop.api("GET", f"/api/v1/access-requests/{request['id']}", "bob").status_code == 404

    approved = act(shop, request["id"], "approve", "alice", {"duration_days": 30, "downloads_per_asset": 1,
                                                            "bytes_allowed": 1500, "price": "free"})
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["state"] == "approved" and body["entitlement_id"] and body["valid_until"]
    assert body["conditions"] == {"duration_days": 30, "downloads_per_asset": 1, "bytes_allowed": 1500,
                                  "price": "free", "license": "research-noncommercial@1"}

    licences = shop.api("GET", "/api/v1/licenses", "buyer").json()["items"]
    assert [(lic["id"], lic["product_id"], lic["license"]["code"]) for lic in licences] == [
        (body["entitlement_id"], shop.products["alice-1"], "research-noncommercial")]

    first = shop.api("GET", path, "buyer")
    assert first.status_code == 200, first.text
    assert first.headers["SDX-License-Id"] == body["entitlement_id"]
    assert first.headers["SDX-Downloads-Remaining"] == "0" and first.headers["SDX-Bytes-Remaining"] == "500"
    again = shop.api("GET", path, "buyer")
    assert again.status_code == 403  # the bytes approved are used up

    # a decided request cannot be decided again, and the buyer has nothing left to ask
    assert act(shop, request["id"], "reject", "alice", {"reason": "changed my mind"}).status_code == 409
    assert ask(shop, product_id=shop.products["alice-1"]).status_code == 409
    with shop.live.app.app_context():
        events = list(db.session.scalars(select(AuditEntry.action).where(AuditEntry.object_id == request["id"])
                                         .order_by(AuditEntry.seq)))
    assert events == ["access_request.created", "access_request.approved"]


def test_a_collection_approved_free_grants_each_of_its_products(shop):
    request = asked(shop, collection_id="alice")
    assert request["collection_id"] == "alice" and request["product_id"] is None
    approved = act(shop, request["id"], "approve", "admin", {"price": "free", "license": "open-cc-by-4.0@1"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["valid_until"] is None
    licences = shop.api("GET", "/api/v1/licenses", "buyer").json()["items"]
    assert sorted((lic["product_id"], lic["license"]["code"]) for lic in licences) == sorted(
        (shop.products[name], "open-cc-by-4.0") for name in ("alice-1", "alice-2"))


def test_priced_approval_quotes_the_offer_and_the_buyer_orders_it(shop):
    offer = shop.api("POST", "/api/v1/offers", "alice", json={
        "product_id": shop.products["alice-1"], "license": "commercial-single-org@1",
        "pricing": {"model": "per_scene", "price": 5000, "currency": "CNY"}})
    assert offer.status_code == 201, offer.text
    request = asked(shop)
    approved = act(shop, request["id"], "approve", "alice", {"price": {"offer_id": offer.json()["id"]}})
    assert approved.status_code == 200, approved.text
    quote_id = approved.json()["quote_id"]
    assert quote_id and approved.json()["entitlement_id"] is None

    with shop.live.app.app_context():
        wallets.top_up(SYSTEM, shop.orgs["buyer"], {"amount": 10000, "currency": "CNY", "reference": "t"})
    client_id, _ = shop.live.client("buyer@meter.example", "orders:read")
    quote = shop.live.api("GET", f"/api/v1/quotes/{quote_id}", shop.live.minted_token(client_id))
    assert quote.status_code == 200, quote.text
    assert quote.json()["totals"] == {"CNY": 5000}
    order = shop.api("POST", "/api/v1/orders", "buyer", headers={"Idempotency-Key": str(uuid.uuid4())},
                     json={"quote_id": quote_id, "accept_licenses": ["commercial-single-org@1"]})
    assert order.status_code == 201, order.text
    assert order.json()["status"] == "fulfilled"


def test_a_priced_approval_on_an_offer_not_the_providers_changes_nothing(shop):
    offer = shop.api("POST", "/api/v1/offers", "bob", json={
        "product_id": shop.products["bob-1"], "license": "commercial-single-org@1",
        "pricing": {"model": "per_scene", "price": 5000, "currency": "CNY"}})
    assert offer.status_code == 201, offer.text
    request = asked(shop)
    refused = act(shop, request["id"], "approve", "alice", {"price": {"offer_id": offer.json()["id"]}})
    assert refused.status_code == 422 and fields_of(refused) == {"price.offer_id"}
    missing = act(shop, request["id"], "approve", "alice", {"price": {"offer_id": str(uuid.uuid4())}})
    assert missing.status_code == 422 and fields_of(missing) == {"price.offer_id"}
    assert stored(shop, request["id"]).state.value == "pending"


def test_only_what_a_policy_holds_back_can_be_asked_for(shop):
    nothing = ask(shop, product_id=shop.products["bob-1"])  # no policy on bob's collection
    assert nothing.status_code == 409 and "Nothing to ask" in nothing.json()["detail"]
    assert ask(shop, "alice", product_id=shop.products["alice-1"]).status_code == 403  # no orders:write
    unknown = ask(shop, product_id=999999)
    assert unknown.status_code == 422 and fields_of(unknown) == {"product_id"}
    hidden = shop.api("POST", "/api/v1/admin/policies", "admin", json={
        "name": "hide bob", "target": {"collections": ["bob"]}, "actions": ["discover"], "effect": "deny"})
    assert hidden.status_code == 201
    for body in ({"product_id": shop.products["bob-1"]}, {"collection_id": "bob"}):
        answer = ask(shop, **body)
        assert answer.status_code == 422 and fields_of(answer) == set(body), answer.text
    first = asked(shop)
    again = ask(shop, product_id=shop.products["alice-1"])
    assert again.status_code == 409 and "pending" in again.json()["detail"]
    assert asked(shop, collection_id="alice")["id"] != first["id"]  # another target
    with shop.live.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Entitlement)) == 0


def test_who_may_read_and_decide(shop):
    request = asked(shop)
    rid = request["id"]
    conditions = {"price": "free"}
    # another organisation: as if absent, for every verb
    for verb, body in (("approve", conditions), ("reject", {"reason": "no"}), ("withdraw", None)):
        assert act(shop, rid, verb, "bob" if verb != "withdraw" else "other", body).status_code == 404
    assert shop.api("GET", f"/api/v1/access-requests/{rid}", "other").status_code == 404
    # the requester (a buyer) approving its own: 403; a buyer's token lacks catalog:write anyway
    own = act(shop, rid, "approve", "buyer", conditions)
    assert own.status_code == 403
    # the provider may not withdraw the buyer's request
    assert act(shop, rid, "withdraw", "alice").status_code == 403
    # anonymous: 401 everywhere
    for method, path in (("GET", "/api/v1/access-requests"), ("GET", f"/api/v1/access-requests/{rid}"),
                         ("POST", "/api/v1/access-requests"), ("POST", f"/api/v1/access-requests/{rid}/approve")):
        assert shop.api(method, path, json={}).status_code == 401
    # the requester and the admin read it; the admin's list has it
    assert shop.api("GET", f"/api/v1/access-requests/{rid}", "buyer").json()["state"] == "pending"
    assert [r["id"] for r in shop.api("GET", "/api/v1/access-requests", "admin").json()["items"]] == [rid]
    assert stored(shop, rid).state.value == "pending"


def test_a_provider_organisation_asking_may_not_approve_its_own_request(shop):
    client_id, _ = shop.live.client("bob@meter.example", "catalog:read catalog:write orders:write")
    bob = shop.live.minted_token(client_id)
    made = shop.live.api("POST", "/api/v1/access-requests", bob,
                         json={"product_id": shop.products["alice-1"], "purpose": "commercial"})
    assert made.status_code == 201, made.text
    own = shop.live.api("POST", f"/api/v1/access-requests/{made.json()['id']}/approve", bob, json={"price": "free"})
    assert own.status_code == 403 and own.json()["rule"] == "requester-decides"
    assert stored(shop, made.json()["id"]).state.value == "pending"
    assert act(shop, made.json()["id"], "approve", "alice", {"price": "free"}).status_code == 200


def test_a_collection_approved_free_never_licenses_a_product_hidden_from_the_requester(shop):
    from shapely.geometry import box, mapping

    hide = shop.api("POST", "/api/v1/admin/policies", "admin", json={
        "name": "Sensitive", "target": {"region": mapping(box(10.2, 0.2, 10.8, 0.8))},
        "actions": ["discover"], "effect": "deny", "except": {"org_kinds": ["government"]}})
    assert hide.status_code == 201, hide.text
    assert shop.api("GET", "/stac/collections/alice/items/alice-1", "buyer").status_code == 404
    request = ask(shop, collection_id="alice")
    assert request.status_code == 201, request.text
    assert act(shop, request.json()["id"], "approve", "alice", {"price": "free"}).status_code == 200
    licensed = {row["item_id"] for row in shop.api("GET", "/api/v1/licenses", "buyer").json()["items"]}
    assert licensed and "alice-1" not in licensed


def test_a_product_id_beyond_any_key_is_a_named_field_not_a_crash(shop):
    answer = ask(shop, product_id=2**70)
    assert answer.status_code == 422 and "product_id" in fields_of(answer)
