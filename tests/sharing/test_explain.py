"""Explanations over HTTP: for each kind of rule (base rules, deny, require_approval, permit with and
without free access), the decision, the rule and policy that decided, and what would change a refusal;
a product hidden from the caller is answered as an unknown one; only administrators ask for others."""
from __future__ import annotations

import pytest

from auth.models import Organisation
from exchange.core.db import db, unit_of_work
from tests.licensing import conftest as licensing
from tests.licensing.conftest import Market
from tests.sharing.test_policies_api import written

ON_ALICE = {"target": {"collections": ["alice"]}}


@pytest.fixture
def market(live) -> Market:
    return licensing.market.__wrapped__(live)


def explained(market: Market, who: str | None, action: str, item: str, status: int = 200, **params):
    answer = market.api("GET", "/api/v1/decisions/explain", who,
                        params={"action": action, "product_id": market.products.get(item, item), **params})
    assert answer.status_code == status, answer.text
    return answer.json()


def offer_on(market: Market, item: str) -> dict:
    answer = market.api("POST", "/api/v1/offers", "alice", json={
        "product_id": market.products[item], "license": "commercial-single-org@1",
        "pricing": {"model": "per_scene", "price": 100}})
    assert answer.status_code == 201, answer.text
    return answer.json()


def policy(market: Market, **document) -> dict:
    pid = written(market, "admin", "/api/v1/admin/policies", {"name": "p", **ON_ALICE, **document})
    return {"id": pid, "version": 1, "name": document.get("name", "p")}


def test_base_rules_alone_a_licence_decides_a_download_and_an_offer_is_the_remedy(market: Market):
    refused = explained(market, "buyer", "download", "alice-1")
    assert (refused["allowed"], refused["rule"], refused["policy"], refused["effect"]) == (False, "license", None, None)
    assert refused["remedies"] == [] and refused["remedy"] is None  # nothing is on sale
    assert explained(market, "buyer", "license", "alice-1")["rule"] == "no-offer"
    offer = offer_on(market, "alice-1")
    refused = explained(market, "buyer", "download", "alice-1")
    assert [(r["kind"], r["offer_id"]) for r in refused["remedies"]] == [("order", offer["id"])]
    assert offer["id"] in refused["remedy"]
    licensed = explained(market, "buyer", "license", "alice-1")
    assert (licensed["allowed"], licensed["rule"], licensed["policy"]) == (True, "offer", None)
    own = explained(market, "admin", "license", "alice-1", org_id=str(market.orgs["alice"]))
    assert (own["allowed"], own["rule"]) == (False, "own-product")
    market.entitlement("buyer", "alice-1")
    allowed = explained(market, "buyer", "download", "alice-1")
    assert (allowed["allowed"], allowed["rule"], allowed["policy"], allowed["remedy"]) == (True, "license", None, None)
    assert explained(market, "buyer", "discover", "alice-1")["allowed"] is True


def test_a_product_the_caller_may_not_discover_is_answered_as_an_unknown_one(market: Market):
    deny = policy(market, actions=["discover"], effect="deny", assignee={"org_kinds": ["buyer"]})
    hidden = explained(market, "buyer", "download", "alice-1", status=404)
    unknown = explained(market, "buyer", "download", 999_999, status=404)
    assert hidden["detail"] == f"No product {market.products['alice-1']}." and unknown["detail"] == "No product 999999."
    assert explained(market, "buyer", "discover", "alice-1", status=404)["status"] == 404
    assert explained(market, "buyer", "discover", "alice-draft", status=404)["status"] == 404  # unpublished
    # an administrator asks for the buyer's organisation, and sees the deny that hides it
    for action in ("discover", "download"):
        answer = explained(market, "admin", action, "alice-1", org_id=str(market.orgs["buyer"]))
        assert (answer["allowed"], answer["rule"], answer["effect"], answer["policy"]) == (
            False, "policy-deny", "deny", deny)
    assert explained(market, "admin", "discover", "alice-1", org_id=str(market.orgs["bob"]))["allowed"] is True


def test_a_deny_bounded_by_age_says_when_it_stops_applying(market: Market):
    deny = policy(market, actions=["view_footprint", "download"], effect="deny",
                  constraints={"max_age_days": 365})
    answer = explained(market, "buyer", "view_footprint", "alice-1")
    assert (answer["allowed"], answer["rule"], answer["policy"]) == (False, "policy-deny", deny)
    assert [r["kind"] for r in answer["remedies"]] == ["wait"]
    assert answer["remedies"][0]["until"].startswith("2027-06-01T10:00:00")  # the product is of 2026-06-01
    assert answer["remedy"].startswith("wait until 2027-06-01")
    forever = policy(market, name="always", actions=["license"], effect="deny")
    assert explained(market, "buyer", "license", "alice-1")["rule"] == "no-offer"  # base rules first
    offer_on(market, "alice-1")
    answer = explained(market, "buyer", "license", "alice-1")
    assert (answer["rule"], answer["policy"], answer["remedies"]) == ("policy-deny", forever, [])
    mine = explained(market, "alice", "discover", "alice-1")  # a provider is not subject to policies on its own
    assert (mine["allowed"], mine["policy"]) == (True, None)


def test_require_approval_names_the_access_request_remedy(market: Market):
    hold = policy(market, actions=["download"], effect="require_approval", assignee={"verified": False})
    answer = explained(market, "buyer", "download", "alice-1")
    assert (answer["allowed"], answer["rule"], answer["effect"], answer["policy"]) == (
        False, "approval-required", "require_approval", hold)
    assert [r["kind"] for r in answer["remedies"]] == ["request_access"]
    assert answer["remedies"][0]["body"]["product_id"] == market.products["alice-1"]
    assert "/api/v1/access-requests" in answer["remedy"]
    with market.live.app.app_context(), unit_of_work():  # as POST /api/v1/admin/orgs/{id}/verify does
        db.session.get(Organisation, market.orgs["buyer"]).verified = True
    assert explained(market, "buyer", "download", "alice-1")["rule"] == "license"  # the hold no longer applies


def test_free_access_allows_a_download_without_an_order_or_says_when_it_will(market: Market):
    later = policy(market, name="open after a year", actions=["download"], effect="permit", free_access=True,
                   constraints={"min_age_days": 365})
    answer = explained(market, "buyer", "download", "alice-1")
    assert (answer["allowed"], answer["rule"], answer["policy"]) == (False, "license", None)
    assert [r["kind"] for r in answer["remedies"]] == ["wait"]
    assert answer["remedies"][0]["until"].startswith("2027-06-01T10:00:00")
    now = policy(market, name="open after a month", actions=["download"], effect="permit", free_access=True,
                 constraints={"min_age_days": 30}, duties={"attribution": "Contains Alice data"})
    answer = explained(market, "buyer", "download", "alice-1")
    assert (answer["allowed"], answer["rule"], answer["effect"], answer["policy"], answer["free_access"]) == (
        True, "free-access", "permit", now, True)
    assert answer["attribution"] == "Contains Alice data" and answer["remedy"] is None
    assert later["id"] != now["id"]
    plain = policy(market, name="may license", actions=["license"], effect="permit")
    offer_on(market, "alice-2")
    answer = explained(market, "buyer", "license", "alice-2")
    assert (answer["allowed"], answer["rule"], answer["policy"], answer["free_access"]) == (
        True, "policy-permit", plain, False)


def test_only_administrators_ask_for_another_organisation_and_bad_questions_are_named(market: Market):
    assert explained(market, "buyer", "discover", "alice-1", status=403,
                     org_id=str(market.orgs["bob"]))["rule"] == "role-admin"
    assert explained(market, "buyer", "discover", "alice-1", org_id=str(market.orgs["buyer"]))["allowed"] is True
    assert explained(market, None, "discover", "alice-1", status=401)["status"] == 401
    assert explained(market, "admin", "discover", "alice-1", status=404,
                     org_id="00000000-0000-0000-0000-000000000001")["status"] == 404
    bad = market.api("GET", "/api/v1/decisions/explain", "buyer",
                     params={"action": "teleport", "product_id": "x", "org_id": "nope"})
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} == {"action", "product_id", "org_id"}
    missing = market.api("GET", "/api/v1/decisions/explain", "buyer")
    assert missing.status_code == 422 and {e["field"] for e in missing.json()["errors"]} == {"action", "product_id"}
