"""Dry-running a draft policy over HTTP: the decisions it would change on the sample, before and after,
for a new policy and for one replacing another; providers on their own collections only; nothing written."""
from __future__ import annotations

import pytest

from exchange.sharing import dry_run
from tests.licensing import conftest as licensing
from tests.licensing.conftest import Market
from tests.sharing.test_policies_api import DENY_BUYERS, fields_named, rows, written

NO_POLICY = {"allowed": True, "rule": "no-policy", "effect": None, "policy": None, "free_access": False}


@pytest.fixture
def market(live) -> Market:
    return licensing.market.__wrapped__(live)


def changes(answer) -> set[tuple]:
    assert answer.status_code == 200, answer.text
    return {(c["item_id"], c["org_name"], c["use"]) for c in answer.json()["changes"]}


def test_a_new_deny_shows_each_decision_it_would_change_and_writes_nothing(market: Market):
    before = rows(market)
    answer = market.api("POST", "/api/v1/admin/policies/dry-run", "admin", json=DENY_BUYERS)
    # what one may not discover one may do nothing with: every use changes, for the buyer only
    assert changes(answer) == {(item, "Org buyer", use) for item in ("alice-1", "alice-2")
                               for use in ("discover", "view_footprint", "license", "download")}
    body = answer.json()
    # the target's collection is the sample; the platform's organisation and a suspended one are not in it
    assert body["sampled"] == {"products": 2, "organisations": 3, "decisions": 24} and body["changed"] == 8
    change = next(c for c in body["changes"] if c["item_id"] == "alice-1" and c["use"] == "download")
    assert change["product_id"] == market.products["alice-1"] and change["org_id"] == str(market.orgs["buyer"])
    assert change["before"] == NO_POLICY
    assert change["after"] == {"allowed": False, "rule": "policy-deny", "effect": "deny", "free_access": False,
                               "policy": {"id": None, "version": 0, "name": "no buyers", "draft": True}}
    assert rows(market) == before
    assert market.api("GET", "/api/v1/admin/policies", "admin").json()["items"] == []


def test_a_draft_replacing_a_policy_is_compared_with_it_and_not_beside_it(market: Market):
    free = {"name": "free for all", "target": {"collections": ["alice"]}, "actions": ["download"],
            "effect": "permit", "free_access": True}
    pid = written(market, "admin", "/api/v1/admin/policies", free)
    before = rows(market)
    draft = {**DENY_BUYERS, "actions": ["download"], "replaces": pid}
    answer = market.api("POST", "/api/v1/admin/policies/dry-run", "admin", json=draft)
    assert changes(answer) == {(item, org, "download") for item in ("alice-1", "alice-2")
                               for org in ("Org buyer", "Org bob")}
    by_org = {c["org_name"]: c for c in answer.json()["changes"] if c["item_id"] == "alice-1"}
    permit = {"id": pid, "version": 1, "name": "free for all"}
    assert by_org["Org bob"]["before"] == {"allowed": True, "rule": "policy-permit", "effect": "permit",
                                           "policy": permit, "free_access": True}
    assert by_org["Org bob"]["after"] == NO_POLICY  # the permit is gone, the deny does not name providers
    assert by_org["Org buyer"]["after"]["policy"] == {"id": pid, "version": 2, "name": "no buyers", "draft": True}
    assert answer.json()["draft"]["replaces"] == pid
    assert rows(market) == before
    assert market.api("GET", f"/api/v1/admin/policies/{pid}", "admin").json()["version"] == 1
    # the same draft beside the permit: deny overrides it for the buyer, the provider keeps it
    beside = market.api("POST", "/api/v1/admin/policies/dry-run", "admin", json={**DENY_BUYERS, "actions": ["download"]})
    assert changes(beside) == {(item, "Org buyer", "download") for item in ("alice-1", "alice-2")}


def test_a_provider_dry_runs_on_its_own_collections_only(market: Market):
    # a provider samples only organisations it knows: none yet (it cannot list the platform's)
    unknown = market.api("POST", "/api/v1/policies/dry-run", "alice", json=DENY_BUYERS)
    assert changes(unknown) == set() and unknown.json()["sampled"]["organisations"] == 0
    # ... and those its draft names (or its licensees, or those that asked it for access)
    named = {**DENY_BUYERS, "assignee": {"org_ids": [str(market.orgs["buyer"])]}}
    mine = market.api("POST", "/api/v1/policies/dry-run", "alice", json=named)
    assert changes(mine) == {(item, "Org buyer", use) for item in ("alice-1", "alice-2")
                             for use in ("discover", "view_footprint", "license", "download")}
    # a provider's draft reaches only its own products, whatever the sample names
    wide = market.api("POST", "/api/v1/policies/dry-run", "alice",
                      json={**named, "sample": {"collections": ["alice", "bob"]}})
    assert {c["item_id"] for c in wide.json()["changes"]} == {"alice-1", "alice-2"}
    assert wide.json()["sampled"]["products"] == 2
    bobs = written(market, "bob", "/api/v1/policies", {**DENY_BUYERS, "target": {"collections": ["bob"]}})
    before = rows(market)
    assert fields_named(market.api("POST", "/api/v1/policies/dry-run", "alice",
                                   json={**DENY_BUYERS, "target": {"collections": ["bob"]}})) == {"target.collections"}
    assert fields_named(market.api("POST", "/api/v1/policies/dry-run", "alice",
                                   json={**DENY_BUYERS, "replaces": bobs})) == {"replaces"}
    assert rows(market) == before


def test_the_sample_is_bounded_and_every_bad_field_named(market: Market, monkeypatch):
    monkeypatch.setattr(dry_run, "MAX_LISTED", 3)  # every change counted, the first ones listed
    listed = market.api("POST", "/api/v1/admin/policies/dry-run", "admin", json=DENY_BUYERS).json()
    assert (listed["changed"], len(listed["changes"]), listed["truncated"]) == (8, 3, True)
    monkeypatch.undo()
    assert market.api("POST", "/api/v1/admin/policies/dry-run", "admin", json=DENY_BUYERS).json()["truncated"] is False
    small = market.api("POST", "/api/v1/admin/policies/dry-run", "admin",
                       json={**DENY_BUYERS, "sample": {"products": 1, "organisations": 1, "collections": ["bob"]}})
    assert small.status_code == 200 and small.json()["sampled"] == {"products": 1, "organisations": 1,
                                                                    "decisions": 4}
    assert fields_named(market.api("POST", "/api/v1/admin/policies/dry-run", "admin", json={
        **DENY_BUYERS, "effect": "allow", "replaces": "x",
        "sample": {"products": 201, "organisations": 0, "purpose": "fun", "size": 3}})) == {
        "effect", "replaces", "sample.products", "sample.organisations", "sample.purpose", "sample.size"}
