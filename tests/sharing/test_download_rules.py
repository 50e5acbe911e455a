"""The "download" use of the sharing policies at the gateway and for presigned links: a deny or
require_approval refuses even a licence holder (403 with rule and policy, metered); a permit with
free_access opens the product without a licence only to whom it names, for the download action only;
the product's own organisation is not subject to its policies."""
from __future__ import annotations

import pytest

from tests.metering.meter import events
from tests.sharing.conftest import policy, product

pytestmark = pytest.mark.usefixtures("backend")


def test_a_deny_refuses_a_licence_holder_everywhere_and_is_metered(shop):
    path = product(shop, "alice", "alice-x", days_old=5)
    licence = shop.entitlement("buyer", "alice-x")
    assert shop.api("GET", path, "buyer").status_code == 200
    made = policy(shop, {"name": "Embargoed", "target": {"collections": ["alice"]}, "actions": ["download"],
                         "effect": "deny"})
    for method in ("GET", "HEAD"):
        refused = shop.api(method, path, "buyer")
        assert refused.status_code == 403
    problem = shop.api("GET", path, "buyer").json()
    assert (problem["rule"], problem["policy"]["id"], problem["policy"]["version"]) == ("policy-deny", made["id"], 1)
    links = shop.api("POST", f"/api/v1/licenses/{licence}/links", "buyer",
                     json={"assets": [{"product_id": shop.products["alice-x"], "key": "data"}]})
    assert (links.status_code, links.json()["rule"]) == (403, "policy-deny")
    assert shop.read_entitlement(licence).bytes_used == 1000  # the first download only
    refusals = [e for e in events(shop) if e.rule == "policy-deny"]
    assert len(refusals) == 4 and {e.org_id for e in refusals} == {shop.orgs["buyer"]}
    # The provider downloads its own product whatever its policies say.
    assert shop.api("GET", path, "alice").status_code == 200


def test_require_approval_refuses_with_a_remedy(shop):
    path = product(shop, "alice", "alice-x", days_old=5)
    shop.entitlement("buyer", "alice-x")
    made = policy(shop, {"name": "Review", "actions": ["download"], "effect": "require_approval"})
    problem = shop.api("GET", path, "buyer").json()
    assert (problem["rule"], problem["policy"]["id"]) == ("approval-required", made["id"])
    assert "POST /api/v1/access-requests" in problem["remedy"]


def test_free_access_opens_only_downloads_and_only_for_whom_it_names(shop):
    path = product(shop, "alice", "alice-x", days_old=5)
    # Free access is a download's: a policy granting it on "license" alone is refused.
    refused = shop.api("POST", "/api/v1/admin/policies", "admin", json={
        "name": "Free licensing", "actions": ["license"], "effect": "permit", "free_access": True})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "free_access"
    # A plain permit on download (no free_access) leaves the licence rule in force.
    policy(shop, {"name": "Downloads permitted", "actions": ["download"], "effect": "permit"})
    assert shop.api("GET", path, "gov").json()["rule"] == "no-license"
    policy(shop, {"name": "Research and government free", "actions": ["download"], "effect": "permit",
                  "free_access": True, "assignee": {"org_kinds": ["government", "research"]}})
    assert shop.api("GET", path, "gov").status_code == 200
    assert shop.api("GET", path, "buyer").json()["rule"] == "no-license"
    free = [e for e in events(shop) if e.org_id == shop.orgs["gov"] and e.bytes_sent]
    assert [(e.entitlement_id, e.bytes_sent, e.counted, e.provider_org_id) for e in free] == [
        (None, 1000, True, shop.orgs["alice"])]


def test_a_deny_overrides_a_free_permit(shop):
    path = product(shop, "alice", "alice-x", days_old=5)
    policy(shop, {"name": "Free", "actions": ["download"], "effect": "permit", "free_access": True})
    assert shop.api("GET", path, "buyer").status_code == 200
    policy(shop, {"name": "Not buyers", "actions": ["download"], "effect": "deny",
                  "assignee": {"org_kinds": ["buyer"]}})
    # No licence, and a policy that refuses anyway: the policy's refusal is the answer.
    problem = shop.api("GET", path, "buyer").json()
    assert (problem["rule"], problem["policy"]["name"]) == ("policy-deny", "Not buyers")
    assert shop.api("GET", path, "gov").status_code == 200
