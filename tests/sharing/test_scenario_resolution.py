"""Scenario 3, resolution release rule, over HTTP against a live server and S3: products finer than
0.5 m need approval for organisations that are not verified; once an administrator verifies the
organisation, it is quoted, orders and downloads as usual."""
from __future__ import annotations

import uuid

import pytest

from tests.sharing.conftest import free_offer, policy, product

pytestmark = pytest.mark.usefixtures("backend")

RESOLUTION = {"name": "Sub-0.5 m release rule", "assignee": {"verified": False},
              "actions": ["license", "download"], "effect": "require_approval", "constraints": {"gsd_lt": 0.5}}


def _quote(shop, who: str, *pairs):
    return shop.api("POST", "/api/v1/quotes", who, json={"items": [
        {"product_id": shop.products[item_id], "offer_id": offer} for item_id, offer in pairs]})


def test_fine_products_need_approval_until_the_organisation_is_verified(shop):
    fine = product(shop, "alice", "alice-fine", days_old=5, gsd=0.3, data=b"f" * 500)
    product(shop, "alice", "alice-coarse", days_old=5, gsd=2.0)
    fine_offer, coarse_offer = free_offer(shop, "alice", "alice-fine"), free_offer(shop, "alice", "alice-coarse")
    made = policy(shop, RESOLUTION)

    refused = _quote(shop, "buyer", ("alice-fine", fine_offer))
    assert refused.status_code == 422
    error = refused.json()["errors"][0]
    assert error["field"] == "items.0" and error["rule"] == "approval-required"
    assert error["policy"] == {"id": made["id"], "version": made["version"], "name": "Sub-0.5 m release rule"}
    assert "/api/v1/access-requests" in error["remedy"]
    # The product stays visible (only licensing and downloading it are held), and a coarse one sells.
    assert shop.api("GET", "/stac/collections/alice/items/alice-fine", "buyer").status_code == 200
    mixed = _quote(shop, "buyer", ("alice-fine", fine_offer), ("alice-coarse", coarse_offer))
    assert mixed.status_code == 201
    held, sold = mixed.json()["lines"]
    assert (held["rule"], held["policy"]["id"], held["total"]) == ("approval-required", made["id"], None)
    assert sold["reason"] is None and "rule" not in sold
    # Even a licence does not open the download before verification.
    shop.entitlement("buyer", "alice-fine")
    blocked = shop.api("GET", fine, "buyer")
    assert blocked.status_code == 403
    assert blocked.json()["rule"] == "approval-required" and blocked.json()["policy"]["id"] == made["id"]

    verified = shop.api("POST", f"/api/v1/admin/orgs/{shop.orgs['other']}/verify", "steward", json={"verified": True})
    assert verified.status_code == 200 and verified.json()["verified"] is True
    quote = _quote(shop, "other", ("alice-fine", fine_offer))
    assert quote.status_code == 201 and quote.json()["lines"][0]["reason"] is None
    order = shop.api("POST", "/api/v1/orders", "other", headers={"Idempotency-Key": str(uuid.uuid4())},
                     json={"quote_id": quote.json()["id"], "accept_licenses": ["commercial-single-org@1"]})
    assert order.status_code == 201, order.text
    downloaded = shop.api("GET", fine, "other")
    assert downloaded.status_code == 200 and downloaded.content == b"f" * 500
    assert downloaded.headers["SDX-License-Id"] == str(order.json()["license_ids"][0])


def test_a_buyer_may_not_verify_its_own_organisation(shop):
    refused = shop.api("POST", f"/api/v1/admin/orgs/{shop.orgs['buyer']}/verify", "buyer")
    assert refused.status_code == 403
    made = policy(shop, RESOLUTION)
    product(shop, "alice", "alice-fine", days_old=5, gsd=0.3)
    offer = free_offer(shop, "alice", "alice-fine")
    assert _quote(shop, "buyer", ("alice-fine", offer)).json()["errors"][0]["policy"]["id"] == made["id"]
