"""Scenario 1, embargo then open, over HTTP against a live server and S3: a provider's collection is
sold for 90 days after acquisition, then downloaded free by any signed-in organisation, with the
attribution the policy asks sent as ``SDX-Attribution``."""
from __future__ import annotations

from urllib.parse import unquote

import pytest

from tests.sharing.conftest import policy, product

pytestmark = pytest.mark.usefixtures("backend")

ATTRIBUTION = "Contains Alice Space data © 2026, CC BY 4.0"
EMBARGO = {"name": "Alice: sold for 90 days, then open", "target": {"collections": ["alice"]},
           "actions": ["download"], "effect": "permit", "free_access": True,
           "constraints": {"min_age_days": 90}, "duties": {"attribution": ATTRIBUTION}}


def test_a_young_product_needs_a_licence_an_old_one_downloads_free_with_attribution(shop):
    young = product(shop, "alice", "alice-young", days_old=10, data=b"young" * 100)
    old = product(shop, "alice", "alice-old", days_old=120, data=b"old" * 100)
    made = policy(shop, EMBARGO)

    refused = shop.api("GET", young, "buyer")
    assert refused.status_code == 403
    assert refused.json()["rule"] == "no-license" and "SDX-Attribution" not in refused.headers

    for who in ("buyer", "bob", "gov"):  # any signed-in organisation, another provider included
        free = shop.api("GET", old, who)
        assert free.status_code == 200, free.text
        assert free.content == b"old" * 100
        assert "SDX-License-Id" not in free.headers  # no licence drawn on
        value = free.headers["SDX-Attribution"]
        assert value == "UTF-8''Contains%20Alice%20Space%20data%20%C2%A9%202026%2C%20CC%20BY%204.0"
        assert unquote(value.removeprefix("UTF-8''")) == ATTRIBUTION
    assert shop.api("GET", old).status_code == 401  # signed in: anonymous callers are not free-riders

    # A licence opens the young product, as before the policy; nothing is owed on it yet.
    licence = shop.entitlement("buyer", "alice-young")
    bought = shop.api("GET", young, "buyer")
    assert bought.status_code == 200 and bought.headers["SDX-License-Id"] == licence
    assert "SDX-Attribution" not in bought.headers
    # The provider itself is not subject to its policies: no duty on its own download.
    assert "SDX-Attribution" not in shop.api("GET", old, "alice").headers

    # Once the policy is deactivated, the old product is sold again.
    assert shop.api("DELETE", f"/api/v1/admin/policies/{made['id']}", "admin").status_code in (200, 204)
    assert shop.api("GET", old, "buyer").json()["rule"] == "no-license"


def test_a_licence_on_an_open_product_lists_the_policy_attribution(shop):
    product(shop, "alice", "alice-old", days_old=120)
    product(shop, "alice", "alice-young", days_old=10)
    policy(shop, EMBARGO)
    old_licence, young_licence = shop.entitlement("buyer", "alice-old"), shop.entitlement("buyer", "alice-young")
    for who in ("buyer", "alice"):  # the licensee, and the provider reading the licence it granted
        listed = shop.api("GET", "/api/v1/licenses", who)
        assert listed.status_code == 200
        shown = {item["id"]: item["attribution"] for item in listed.json()["items"]}
        assert shown[old_licence] == [ATTRIBUTION] and shown[young_licence] == []
    one = shop.api("GET", f"/api/v1/licenses/{old_licence}", "buyer")
    assert one.json()["attribution"] == [ATTRIBUTION]
