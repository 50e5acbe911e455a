"""The "license" use of the sharing policies: quoting and ordering a product ask item:license per
line; a deny or require_approval refuses it with its rule and policy (and remedy), while what one
may not discover stays "not found" as before. A refusal writes nothing."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from exchange.core.db import db
from exchange.trading.models import Quote
from tests.sharing.conftest import free_offer, policy, product

pytestmark = pytest.mark.usefixtures("backend")


def _quote(shop, who: str, item_id: str, offer: str):
    return shop.api("POST", "/api/v1/quotes", who, json={"items": [
        {"product_id": shop.products[item_id], "offer_id": offer}]})


def _quotes(shop) -> int:
    with shop.live.app.app_context():
        return db.session.scalar(select(func.count()).select_from(Quote))


def test_a_deny_on_license_refuses_the_quote_with_its_rule_and_policy(shop):
    product(shop, "alice", "alice-x", days_old=5)
    offer = free_offer(shop, "alice", "alice-x")
    made = policy(shop, {"name": "No sales to buyers", "target": {"collections": ["alice"]},
                         "assignee": {"org_kinds": ["buyer"]}, "actions": ["license"], "effect": "deny"})
    refused = _quote(shop, "buyer", "alice-x", offer)
    assert refused.status_code == 422
    error = refused.json()["errors"][0]
    assert (error["rule"], error["policy"]["id"], error["policy"]["version"]) == ("policy-deny", made["id"], 1)
    assert "remedy" not in error and "No sales to buyers" in error["message"]
    assert _quotes(shop) == 0
    # The policy names buyers: a government organisation is quoted as before.
    assert _quote(shop, "gov", "alice-x", offer).status_code == 201


def test_what_one_may_not_discover_stays_not_found(shop):
    product(shop, "alice", "alice-x", days_old=5)
    offer = free_offer(shop, "alice", "alice-x")
    policy(shop, {"name": "Hidden", "target": {"collections": ["alice"]}, "actions": ["discover"], "effect": "deny"})
    refused = _quote(shop, "buyer", "alice-x", offer)
    assert refused.status_code == 422
    error = refused.json()["errors"][0]
    assert error["message"] == f"no product {shop.products['alice-x']} that you may see" and "rule" not in error


def test_an_order_of_a_quote_a_policy_now_refuses_is_refused_and_writes_nothing(shop):
    product(shop, "alice", "alice-x", days_old=5)
    offer = free_offer(shop, "alice", "alice-x")
    quote = _quote(shop, "buyer", "alice-x", offer)
    assert quote.status_code == 201
    made = policy(shop, {"name": "Review first", "target": {"collections": ["alice"]}, "actions": ["license"],
                         "effect": "require_approval"})
    key = str(uuid.uuid4())
    body = {"quote_id": quote.json()["id"], "accept_licenses": ["commercial-single-org@1"]}
    refused = shop.api("POST", "/api/v1/orders", "buyer", headers={"Idempotency-Key": key}, json=body)
    assert refused.status_code == 403, refused.text
    problem = refused.json()
    assert (problem["rule"], problem["policy"]["id"]) == ("approval-required", made["id"])
    assert "/api/v1/access-requests" in problem["remedy"]
    assert shop.api("GET", "/api/v1/licenses", "buyer").json()["items"] == []
    again = shop.api("POST", "/api/v1/orders", "buyer", headers={"Idempotency-Key": key}, json=body)
    assert (again.status_code, again.json()["rule"]) == (403, "approval-required")


def test_a_policy_without_assignee_applies_to_every_organisation(shop):
    product(shop, "alice", "alice-x", days_old=5)
    offer = free_offer(shop, "alice", "alice-x")
    policy(shop, {"name": "No sales", "actions": ["license"], "effect": "deny"})
    for who in ("buyer", "other", "gov"):
        assert _quote(shop, who, "alice-x", offer).json()["errors"][0]["rule"] == "policy-deny"


def test_bad_and_foreign_quote_lines_still_report_their_own_reason(shop):
    product(shop, "alice", "alice-x", days_old=5)
    policy(shop, {"name": "No sales", "actions": ["license"], "effect": "deny"})
    refused = _quote(shop, "buyer", "alice-x", str(uuid.uuid4()))
    error = refused.json()["errors"][0]
    # item:license is asked before the offer: the policy's refusal is the reason given.
    assert error["rule"] == "policy-deny"
    missing = shop.api("POST", "/api/v1/quotes", "buyer", json={"items": [
        {"product_id": 999999, "offer_id": str(uuid.uuid4())}]})
    assert missing.status_code == 422 and "rule" not in missing.json()["errors"][0]
