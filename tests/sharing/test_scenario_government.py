"""Scenario 2, standing government access, over HTTP against a live server and S3: government
organisations download a provider's collection free, without ordering, metered; the provider's usage
report shows their use by organisation."""
from __future__ import annotations

import pytest

from tests.metering.meter import settled
from tests.sharing.conftest import policy, product

pytestmark = pytest.mark.usefixtures("backend")

GOVERNMENT = {"name": "Alice: standing government access", "target": {"collections": ["alice"]},
              "assignee": {"org_kinds": ["government"]}, "actions": ["download"], "effect": "permit",
              "free_access": True}


def _usage(shop, who: str, **params) -> list[dict]:
    answer = shop.api("GET", "/api/v1/usage", who, params={"group_by": "org", **params})
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def test_government_downloads_without_ordering_and_the_provider_sees_it(shop):
    path = product(shop, "alice", "alice-gov", days_old=5, data=b"g" * 2000)
    bobs = product(shop, "bob", "bob-gov", days_old=5)
    policy(shop, GOVERNMENT)

    first = shop.api("GET", path, "gov")
    assert first.status_code == 200, first.text
    assert first.content == b"g" * 2000 and "SDX-License-Id" not in first.headers
    part = shop.api("GET", path, "gov", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == b"g" * 100
    assert shop.api("HEAD", path, "gov").status_code == 200
    assert shop.api("GET", "/api/v1/licenses", "gov").json()["items"] == []  # nothing was ordered

    # Others still need a licence; the policy covers Alice's collection only.
    assert shop.api("GET", path, "buyer").json()["rule"] == "no-license"
    assert shop.api("GET", bobs, "gov").json()["rule"] == "no-license"
    settled(shop)

    gov_org, buyer_org = str(shop.orgs["gov"]), str(shop.orgs["buyer"])
    seen = {row["org_id"]: row for row in _usage(shop, "alice")}
    assert seen[gov_org]["bytes"] == 2100 and seen[gov_org]["downloads"] == 1  # the range joins the download
    assert seen[buyer_org]["bytes"] == 0 and seen[buyer_org]["refusals"] == 1
    # Bob's report does not show Alice's products' use; the government sees its own.
    assert gov_org not in {row["org_id"] for row in _usage(shop, "bob") if row["bytes"]}
    own = _usage(shop, "gov", side="licensee")
    assert [(row["org_id"], row["bytes"]) for row in own if row["bytes"]] == [(gov_org, 2100)]


def test_a_government_token_without_data_download_is_refused(shop):
    path = product(shop, "alice", "alice-gov", days_old=5)
    policy(shop, GOVERNMENT)
    client_id, _ = shop.clients["gov"]
    reader = shop.live.minted_token(client_id, scope="catalog:read")
    refused = shop.live.api("GET", path, reader)
    assert refused.status_code == 403 and refused.json()["rule"] == "scope"
