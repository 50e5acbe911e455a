"""The policies API over HTTP: write, read, version, deactivate; every bad field named; providers
confined to their own collections and policies; buyers and anonymous callers refused, changing nothing."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from exchange.core.db import db
from exchange.sharing.models import AuditEntry, SharingPolicy, SharingPolicyVersion
from tests.licensing import conftest as licensing
from tests.licensing.conftest import Market

DENY_BUYERS = {"name": "no buyers", "target": {"collections": ["alice"]}, "assignee": {"org_kinds": ["buyer"]},
               "actions": ["discover"], "effect": "deny"}


@pytest.fixture
def market(live) -> Market:
    return licensing.market.__wrapped__(live)


def written(market: Market, who: str, path: str, body: dict) -> str:
    answer = market.api("POST", path, who, json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def rows(market: Market) -> tuple[int, int, int]:
    """Policies, versions and audit entries: what a refused request must leave as it was."""
    with market.live.app.app_context():
        return tuple(db.session.scalar(select(func.count()).select_from(model))
                     for model in (SharingPolicy, SharingPolicyVersion, AuditEntry))


def test_an_admin_writes_versions_and_deactivates_a_policy_and_every_version_stays_readable(market: Market):
    created = market.api("POST", "/api/v1/admin/policies", "admin", json=DENY_BUYERS)
    assert created.status_code == 201 and created.json() == {"id": created.json()["id"], "version": 1, "active": True}
    pid = created.json()["id"]
    assert created.headers["Location"].endswith(f"/api/v1/admin/policies/{pid}")
    changed = market.api("PUT", f"/api/v1/admin/policies/{pid}", "admin",
                         json={**DENY_BUYERS, "name": "no buyers, v2", "effect": "require_approval"})
    assert changed.status_code == 200 and changed.json()["version"] == 2
    gone = market.api("DELETE", f"/api/v1/admin/policies/{pid}", "admin")
    assert gone.status_code == 200 and gone.json() == {"id": pid, "version": 2, "active": False}

    current = market.api("GET", f"/api/v1/admin/policies/{pid}", "admin").json()
    assert (current["version"], current["current_version"], current["active"]) == (2, 2, False)
    assert current["name"] == "no buyers, v2" and current["effect"] == "require_approval"
    assert current["owner_org_id"] is None and current["except"] == {"org_kinds": [], "org_ids": []}
    versions = market.api("GET", f"/api/v1/admin/policies/{pid}/versions", "admin").json()["items"]
    assert [(v["version"], v["name"], v["effect"]) for v in versions] == [
        (1, "no buyers", "deny"), (2, "no buyers, v2", "require_approval")]
    first = market.api("GET", f"/api/v1/admin/policies/{pid}/versions/1", "admin").json()
    assert (first["version"], first["current_version"], first["effect"]) == (1, 2, "deny")
    for missing in (3, 0, 2**40):
        assert market.api("GET", f"/api/v1/admin/policies/{pid}/versions/{missing}", "admin").status_code == 404
    assert market.api("GET", f"/api/v1/admin/policies/{uuid.uuid4()}", "admin").status_code == 404
    assert market.api("GET", f"/api/v1/admin/policies/{uuid.uuid4()}/versions", "admin").status_code == 404


def test_admins_list_every_policy_with_filters_a_page_at_a_time_and_providers_only_their_own(market: Market):
    platform = written(market, "admin", "/api/v1/admin/policies", DENY_BUYERS)
    alices = written(market, "alice", "/api/v1/policies", {**DENY_BUYERS, "name": "alice's"})
    bobs = written(market, "bob", "/api/v1/policies", {**DENY_BUYERS, "name": "bob's", "target": {"collections": ["bob"]}})
    assert market.api("DELETE", f"/api/v1/policies/{bobs}", "bob").status_code == 200

    def ids(who, path, **params):
        answer = market.api("GET", path, who, params=params)
        assert answer.status_code == 200, answer.text
        return [p["id"] for p in answer.json()["items"]], answer.json()["next"]

    assert ids("admin", "/api/v1/admin/policies") == (sorted([platform, alices, bobs]), None)
    assert ids("admin", "/api/v1/admin/policies", active="false") == ([bobs], None)
    assert ids("admin", "/api/v1/admin/policies", owner_org_id=str(market.orgs["alice"])) == ([alices], None)
    paged, cursor = ids("admin", "/api/v1/admin/policies", limit=2)
    rest, last = ids("admin", "/api/v1/admin/policies", limit=2, after=cursor)
    assert paged + rest == sorted([platform, alices, bobs]) and len(paged) == 2 and last is None
    bad = market.api("GET", "/api/v1/admin/policies", "admin", params={"after": "nonsense!"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "after"
    assert ids("alice", "/api/v1/policies") == ([alices], None)
    assert ids("bob", "/api/v1/policies") == ([bobs], None)
    assert ids("bob", "/api/v1/policies", active="true") == ([], None)
    assert market.api("GET", f"/api/v1/policies/{bobs}/versions/1", "bob").json()["name"] == "bob's"


def fields_named(answer) -> set[str]:
    assert answer.status_code == 422, answer.text
    return {error["field"] for error in answer.json()["errors"]}


def test_every_bad_field_of_a_policy_is_named_and_nothing_is_written(market: Market):
    before = rows(market)
    answer = market.api("POST", "/api/v1/admin/policies", "admin", json={
        "name": "bad", "target": {"filter": {"op": "no-such-op", "args": []},
                                  "region": {"type": "Polygon", "coordinates": [[[0, 0], [200, 0], [1, 1], [0, 0]]]}},
        "actions": ["discover", "teleport"], "effect": "deny", "free_access": True,
        "constraints": {"from": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "colour": "red"})
    assert fields_named(answer) == {"target.filter", "target.region", "actions.1", "free_access", "constraints.until",
                                    "colour"}
    assert rows(market) == before
    unknown_org = market.api("POST", "/api/v1/admin/policies", "admin", json={
        **DENY_BUYERS, "assignee": {"org_kinds": ["pirates"], "org_ids": ["not-a-uuid"]}, "effect": "maybe"})
    assert fields_named(unknown_org) == {"assignee.org_kinds.0", "assignee.org_ids.0", "effect"}
    pid = written(market, "admin", "/api/v1/admin/policies", DENY_BUYERS)
    before = rows(market)
    assert fields_named(market.api("PUT", f"/api/v1/admin/policies/{pid}", "admin",
                                   json={**DENY_BUYERS, "constraints": {"min_age_days": 9, "max_age_days": 2}})) \
        == {"constraints.max_age_days"}
    assert rows(market) == before
    assert market.api("GET", f"/api/v1/admin/policies/{pid}", "admin").json()["version"] == 1


def test_a_provider_may_target_only_its_own_collections_each_other_one_named(market: Market):
    before = rows(market)
    answer = market.api("POST", "/api/v1/policies", "alice",
                        json={**DENY_BUYERS, "target": {"collections": ["alice", "bob", "nowhere"]}})
    assert fields_named(answer) == {"target.collections"}
    messages = " ".join(error["message"] for error in answer.json()["errors"])
    assert "'bob'" in messages and "'nowhere'" in messages and "'alice'" not in messages
    assert fields_named(market.api("POST", "/api/v1/policies", "alice", json={**DENY_BUYERS, "target": {}})) \
        == {"target.collections"}
    assert rows(market) == before


def test_a_provider_cannot_read_or_change_another_organisations_or_the_platforms_policy(market: Market):
    bobs = written(market, "bob", "/api/v1/policies", {**DENY_BUYERS, "target": {"collections": ["bob"]}})
    platform = written(market, "admin", "/api/v1/admin/policies", DENY_BUYERS)
    before = rows(market)
    for pid in (bobs, platform):
        for method, path, body in (("GET", "", None), ("GET", "/versions", None), ("GET", "/versions/1", None),
                                   ("PUT", "", DENY_BUYERS), ("DELETE", "", None)):
            answer = market.api(method, f"/api/v1/policies/{pid}{path}", "alice", json=body)
            assert answer.status_code == 404, (method, path, answer.text)
            assert answer.json()["detail"] == f"No policy {pid}."
    assert rows(market) == before
    assert market.api("GET", f"/api/v1/admin/policies/{bobs}", "admin").json()["active"] is True


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/v1/admin/policies"), ("POST", "/api/v1/admin/policies"), ("POST", "/api/v1/admin/policies/dry-run"),
    ("GET", "/api/v1/admin/policies/{pid}"), ("PUT", "/api/v1/admin/policies/{pid}"),
    ("DELETE", "/api/v1/admin/policies/{pid}"), ("GET", "/api/v1/admin/policies/{pid}/versions"),
    ("GET", "/api/v1/admin/policies/{pid}/versions/1"), ("GET", "/api/v1/policies"), ("POST", "/api/v1/policies"),
    ("POST", "/api/v1/policies/dry-run"), ("GET", "/api/v1/policies/{pid}/versions")])
def test_buyers_are_refused_and_anonymous_callers_unauthenticated(market: Market, method, path):
    pid = written(market, "admin", "/api/v1/admin/policies", DENY_BUYERS)
    before = rows(market)
    url = path.format(pid=pid)
    assert market.api(method, url, "buyer", json=DENY_BUYERS).status_code == 403
    assert market.api(method, url, None, json=DENY_BUYERS).status_code == 401
    assert rows(market) == before


def test_a_provider_token_is_refused_on_the_admin_routes(market: Market):
    before = rows(market)
    answer = market.api("POST", "/api/v1/admin/policies", "alice", json=DENY_BUYERS)
    assert answer.status_code == 403
    assert market.api("GET", "/api/v1/admin/policies", "alice").status_code == 403
    assert rows(market) == before


def test_a_provider_has_at_most_so_many_active_policies(market: Market, monkeypatch):
    from exchange.sharing import service

    monkeypatch.setitem(service.MAX_ACTIVE, "provider", 2)
    mine = {**DENY_BUYERS}
    first = written(market, "alice", "/api/v1/policies", mine)
    written(market, "alice", "/api/v1/policies", mine)
    before = rows(market)
    third = market.api("POST", "/api/v1/policies", "alice", json=mine)
    assert third.status_code == 409 and "At most 2 policies" in third.json()["detail"]
    assert rows(market) == before
    # changing one of the two is not a third; after deactivating one there is room again
    assert market.api("PUT", f"/api/v1/policies/{first}", "alice", json=mine).status_code == 200
    assert market.api("DELETE", f"/api/v1/policies/{first}", "alice").status_code == 200
    written(market, "alice", "/api/v1/policies", mine)
    # reactivating the deactivated one (a PUT) would be a third
    assert market.api("PUT", f"/api/v1/policies/{first}", "alice", json=mine).status_code == 409
