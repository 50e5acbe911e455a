"""Licence templates: public reads of the seeded versions, admin writes that make the next version,
every bad field named, and who may write."""
from __future__ import annotations

from tests.licensing.conftest import Market

SEEDED = {"open-cc-by-4.0", "research-noncommercial", "commercial-single-org", "enterprise-redistribution"}
NEW = {"code": "gov-open", "title": "Government open data", "terms": "Use it for public tasks.",
       "uses": ["government", "research"], "redistribution": False, "derivatives": True,
       "attribution": "Provided by SDX", "seats": None, "duration_days": 365, "downloads_per_asset": 2,
       "bytes_multiple": 3, "aoi_restricted": False}


def test_the_seeded_templates_are_public(market: Market):
    listed = market.api("GET", "/api/v1/licenses/templates")
    assert listed.status_code == 200, listed.text
    by_code = {t["code"]: t for t in listed.json()["items"]}
    assert set(by_code) >= SEEDED and listed.json()["next"] is None
    cc = by_code["open-cc-by-4.0"]
    assert cc["version"] == 1 and cc["ref"] == "open-cc-by-4.0@1" and cc["redistribution"] is True
    assert "CC BY 4.0" in cc["attribution"] and cc["duration_days"] is None and cc["downloads_per_asset"] is None
    research = market.api("GET", "/api/v1/licenses/templates/research-noncommercial").json()
    assert research["uses"] == ["research"] and research["duration_days"] == 365
    page = market.api("GET", "/api/v1/licenses/templates?limit=2").json()
    rest = market.api("GET", f"/api/v1/licenses/templates?limit=2&after={page['next']}").json()
    assert len(page["items"]) == 2 and [t["code"] for t in page["items"] + rest["items"]] == sorted(SEEDED)
    assert market.api("GET", "/api/v1/licenses/templates/nope").status_code == 404
    assert market.api("GET", "/api/v1/licenses/templates/open-cc-by-4.0/versions/2").status_code == 404
    bad = market.api("GET", "/api/v1/licenses/templates?after=garbage")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "after"


def test_posting_a_code_again_writes_the_next_version_and_keeps_the_first(market: Market):
    created = market.api("POST", "/api/v1/licenses/templates", "admin", json=NEW)
    assert created.status_code == 201, created.text
    assert created.json() == {"code": "gov-open", "version": 1}
    assert created.headers["Location"].endswith("/api/v1/licenses/templates/gov-open/versions/1")
    again = market.api("POST", "/api/v1/licenses/templates", "admin", json=dict(NEW, title="Government open data v2",
                                                                                 downloads_per_asset=None))
    assert again.status_code == 201 and again.json()["version"] == 2
    latest = market.api("GET", "/api/v1/licenses/templates/gov-open").json()
    assert latest["version"] == 2 and latest["downloads_per_asset"] is None
    first = market.api("GET", "/api/v1/licenses/templates/gov-open/versions/1").json()
    assert first["title"] == "Government open data" and first["downloads_per_asset"] == 2
    versions = market.api("GET", "/api/v1/licenses/templates/gov-open/versions").json()["items"]
    assert [v["version"] for v in versions] == [1, 2]
    listed = {t["code"]: t["version"] for t in market.api("GET", "/api/v1/licenses/templates").json()["items"]}
    assert listed["gov-open"] == 2


def test_every_bad_field_is_named_and_nothing_is_written(market: Market):
    bad = {"code": "Bad Code!", "title": " ", "terms": "", "uses": ["commercial", "piracy", "commercial"],
           "redistribution": "yes", "seats": -1, "duration_days": 1.5, "downloads_per_asset": "2",
           "bytes_multiple": -3, "aoi_restricted": None, "colour": "red"}
    answer = market.api("POST", "/api/v1/licenses/templates", "admin", json=bad)
    assert answer.status_code == 422 and answer.headers["Content-Type"] == "application/problem+json"
    fields = {e["field"] for e in answer.json()["errors"]}
    assert {"code", "title", "terms", "uses.1", "redistribution", "seats", "duration_days", "downloads_per_asset",
            "bytes_multiple", "aoi_restricted", "colour"} <= fields, fields
    missing = market.api("POST", "/api/v1/licenses/templates", "admin", json={})
    assert {e["field"] for e in missing.json()["errors"]} == {"code", "title", "terms", "uses"}
    twice = market.api("POST", "/api/v1/licenses/templates", "admin", json=dict(NEW, uses=["research", "research"]))
    assert twice.status_code == 422 and twice.json()["errors"][0]["field"] == "uses"
    long = market.api("POST", "/api/v1/licenses/templates", "admin", json=dict(NEW, code="a" * 65))
    assert long.status_code == 422
    assert market.api("GET", "/api/v1/licenses/templates/gov-open").status_code == 404


def test_only_admins_with_admin_policies_write_templates(market: Market):
    anonymous = market.api("POST", "/api/v1/licenses/templates", json=NEW)
    assert anonymous.status_code == 401
    for who in ("buyer", "alice"):  # their tokens lack admin:policies: refused before the body is read
        assert market.api("POST", "/api/v1/licenses/templates", who, json=NEW).status_code == 403
    live = market.live
    live.user("provider-admin@lic.example", roles=["provider"], org="Org alice")
    client_id, _ = live.client("provider-admin@lic.example", "catalog:read")
    assert live.api("POST", "/api/v1/licenses/templates", live.minted_token(client_id), json=NEW).status_code == 403
    assert market.api("GET", "/api/v1/licenses/templates/gov-open").status_code == 404
