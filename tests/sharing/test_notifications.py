"""Both sides are told: a notification row for the organisation, and its signed webhook if it set one."""
from __future__ import annotations

import json

import pytest

from tests.sharing import access_support
from tests.sharing.access_support import act, asked
from tests.trading import webhook_support

pytestmark = pytest.mark.usefixtures("backend")

shop = access_support.shop  # the fixture
receiver = webhook_support.receiver  # the fixture


def test_the_provider_is_told_of_a_request_and_the_requester_of_the_decision(shop):
    request = asked(shop)
    [new] = shop.api("GET", "/api/v1/notifications", "alice").json()["items"]
    assert (new["kind"], new["data"]["access_request_id"], new["read_at"]) == (
        "access_request.created", request["id"], None)
    assert shop.api("GET", "/api/v1/notifications", "buyer").json()["items"] == []
    assert shop.api("GET", "/api/v1/notifications", "bob").json()["items"] == []

    act(shop, request["id"], "reject", "alice", {"reason": "no"})
    [decided] = shop.api("GET", "/api/v1/notifications?unread=true", "buyer").json()["items"]
    assert decided["kind"] == "access_request.rejected" and decided["data"]["state"] == "rejected"

    # only the organisation's own: another's reads as absent
    assert shop.api("POST", f"/api/v1/notifications/{decided['id']}/read", "alice").status_code == 404
    assert shop.api("POST", f"/api/v1/notifications/{decided['id']}/read").status_code == 401
    read = shop.api("POST", f"/api/v1/notifications/{decided['id']}/read", "buyer")
    assert read.status_code == 200 and read.json()["read_at"]
    assert shop.api("GET", "/api/v1/notifications?unread=true", "buyer").json()["items"] == []
    assert [n["id"] for n in shop.api("GET", "/api/v1/notifications?unread=false", "buyer").json()["items"]] == \
        [decided["id"]]


def test_notifications_are_paged_newest_first(shop):
    for collection in ("alice", None):
        made = asked(shop, **({"collection_id": collection} if collection else {}))
        act(shop, made["id"], "withdraw", "buyer")
    first = shop.api("GET", "/api/v1/notifications?limit=3", "alice").json()
    second = shop.api("GET", f"/api/v1/notifications?limit=3&after={first['next']}", "alice").json()
    kinds = [n["kind"] for n in first["items"] + second["items"]]
    assert kinds == ["access_request.withdrawn", "access_request.created"] * 2 and second["next"] is None
    assert shop.api("GET", "/api/v1/notifications?after=nonsense", "alice").status_code == 422


def test_the_decision_reaches_the_requesters_webhook_signed(shop, receiver):
    shop.live.app.config["WEBHOOKS_ALLOW_PRIVATE"] = True
    hook = shop.api("POST", "/api/v1/webhooks", "buyer", json={"url": receiver.url,
                                                               "events": ["access_request.approved"]})
    assert hook.status_code == 201, hook.text
    receiver.secret = hook.json()["secret"]
    request = asked(shop)
    assert act(shop, request["id"], "approve", "alice", {"price": "free"}).status_code == 200
    [delivered] = receiver.wait_for(1)
    assert not isinstance(delivered.verified, Exception)  # the signature checks out
    payload = json.loads(delivered.body)
    assert payload["type"] == "access_request.approved"
    assert payload["data"]["access_request_id"] == request["id"] and payload["data"]["state"] == "approved"
    unknown = shop.api("POST", "/api/v1/webhooks", "buyer", json={"url": receiver.url, "events": ["access.nope"]})
    assert unknown.status_code == 422
