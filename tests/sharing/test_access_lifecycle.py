"""An access request's other endings — rejected with a reason, withdrawn, expired after 30 days —
and every bad field named."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from exchange.core.db import utcnow
from exchange.sharing import tasks
from tests.sharing import access_support
from tests.sharing.access_support import act, ask, asked, change, fields_of, stored

pytestmark = pytest.mark.usefixtures("backend")

shop = access_support.shop  # the fixture


def test_rejected_with_a_reason_the_requester_reads(shop):
    request = asked(shop)
    rejected = act(shop, request["id"], "reject", "alice", {"reason": "not for commercial users"})
    assert rejected.status_code == 200, rejected.text
    seen = shop.api("GET", f"/api/v1/access-requests/{request['id']}", "buyer").json()
    assert (seen["state"], seen["reason"], seen["entitlement_id"]) == ("rejected", "not for commercial users", None)
    assert act(shop, request["id"], "withdraw", "buyer").status_code == 409
    # rejected, the buyer may ask again
    assert asked(shop)["id"] != request["id"]


def test_withdrawn_by_the_requester_cannot_then_be_approved(shop):
    request = asked(shop)
    withdrawn = act(shop, request["id"], "withdraw", "buyer")
    assert withdrawn.status_code == 200 and withdrawn.json()["state"] == "withdrawn"
    late = act(shop, request["id"], "approve", "alice", {"price": "free"})
    assert late.status_code == 409 and "withdrawn" in late.json()["detail"]
    states = [r["state"] for r in shop.api("GET", "/api/v1/access-requests?state=withdrawn", "alice").json()["items"]]
    assert states == ["withdrawn"]
    assert shop.api("GET", "/api/v1/access-requests?state=pending", "alice").json()["items"] == []


def test_a_pending_request_expires_after_thirty_days(shop):
    request = asked(shop)
    assert request["expires_at"].startswith((utcnow() + timedelta(days=30)).date().isoformat())
    change(shop, request["id"], expires_at=utcnow() - timedelta(seconds=1))
    # read as expired before the beat task marks it, and no longer decidable
    assert shop.api("GET", f"/api/v1/access-requests/{request['id']}", "buyer").json()["state"] == "expired"
    assert [r["id"] for r in shop.api("GET", "/api/v1/access-requests?state=expired", "alice").json()["items"]] \
        == [request["id"]]
    assert act(shop, request["id"], "approve", "alice", {"price": "free"}).status_code == 409
    with shop.live.app.app_context():
        assert tasks.expire_access_requests() == 1
        assert tasks.expire_access_requests() == 0
    assert stored(shop, request["id"]).state.value == "expired"
    told = shop.api("GET", "/api/v1/notifications", "buyer").json()["items"]
    assert told[0]["kind"] == "access_request.expired"
    assert asked(shop)["state"] == "pending"  # the buyer may ask again


def test_every_bad_field_of_a_request_is_named(shop):
    bad = ask(shop, product_id="1", purpose="fun", message=7)
    assert bad.status_code == 422 and fields_of(bad) == {"product_id", "purpose", "message"}
    both = ask(shop, product_id=shop.products["alice-1"], collection_id="alice")
    assert both.status_code == 422 and fields_of(both) == {"product_id", "collection_id"}
    neither = shop.api("POST", "/api/v1/access-requests", "buyer", json={})
    assert neither.status_code == 422 and fields_of(neither) == {"product_id", "purpose"}
    assert shop.api("POST", "/api/v1/access-requests", "buyer", json=[1]).status_code in (400, 422)
    assert shop.api("GET", "/api/v1/access-requests?state=lost&side=up", "buyer").status_code == 422


def test_every_bad_field_of_a_decision_is_named(shop):
    request = asked(shop)
    bad = act(shop, request["id"], "approve", "alice", {"duration_days": 0, "downloads_per_asset": "2",
                                                       "bytes_allowed": -1, "price": "cheap", "license": 5})
    assert bad.status_code == 422
    assert fields_of(bad) == {"duration_days", "downloads_per_asset", "bytes_allowed", "price", "license"}
    assert fields_of(act(shop, request["id"], "approve", "alice", {})) == {"price"}
    unknown = act(shop, request["id"], "approve", "alice", {"price": "free", "license": "nothing@9"})
    assert unknown.status_code == 422 and fields_of(unknown) == {"license"}
    assert fields_of(act(shop, request["id"], "reject", "alice", {"reason": ""})) == {"reason"}
    assert fields_of(act(shop, request["id"], "reject", "alice", {})) == {"reason"}
    assert stored(shop, request["id"]).state.value == "pending"


def test_an_idempotency_key_replays_the_first_answer(shop):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"product_id": shop.products["alice-1"], "purpose": "research"}
    first = shop.api("POST", "/api/v1/access-requests", "buyer", headers=key, json=body)
    again = shop.api("POST", "/api/v1/access-requests", "buyer", headers=key, json=body)
    assert (first.status_code, again.status_code) == (201, 201) and first.json() == again.json()
    assert len(shop.api("GET", "/api/v1/access-requests", "buyer").json()["items"]) == 1
    other = shop.api("POST", "/api/v1/access-requests", "buyer", headers=key, json={**body, "purpose": "education"})
    assert other.status_code == 422
    # without a key, the same request is a second one for a pending target: 409
    assert shop.api("POST", "/api/v1/access-requests", "buyer", json=body).status_code == 409
