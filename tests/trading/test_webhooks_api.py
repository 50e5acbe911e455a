"""The webhooks API as an organisation's member, another organisation, an administrator and nobody:
the secret shown once, events checked, the delivery log, and who sees what (another
organisation's endpoint is absent: 404)."""
from __future__ import annotations

import uuid

import pytest
from standardwebhooks import Webhook

from exchange.core import paging
from exchange.trading import events
from tests.conftest import serving
from tests.trading.webhook_support import announce_event, member_token, org_of, receiver  # noqa: F401


@pytest.fixture
def hooks_live(make_app):
    with serving(make_app, WEBHOOKS_ALLOW_PRIVATE=True) as server:
        yield server


def test_a_member_registers_an_endpoint_and_sees_its_secret_once(hooks_live, receiver):
    token = member_token(hooks_live, "ops@buyer.example", "Buyer Co")
    made = hooks_live.api("POST", "/api/v1/webhooks", token, json={"url": receiver.url, "events": ["order.paid"]})
    assert made.status_code == 201, made.text
    hook = made.json()
    assert hook["secret"].startswith("whsec_") and len(Webhook(hook["secret"])._whsecret) >= 24
    assert hook["url"] == receiver.url and hook["events"] == ["order.paid"] and hook["active"] is True
    assert made.headers["Location"] == f"{hooks_live.url}/api/v1/webhooks/{hook['id']}"

    shown = hooks_live.api("GET", f"/api/v1/webhooks/{hook['id']}", token).json()
    assert "secret" not in shown and shown["id"] == hook["id"]
    listed = hooks_live.api("GET", "/api/v1/webhooks", token).json()
    assert [h["id"] for h in listed["items"]] == [hook["id"]] and listed["next"] is None
    assert "secret" not in listed["items"][0]

    rotated = hooks_live.api("POST", f"/api/v1/webhooks/{hook['id']}/rotate-secret", token).json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != hook["secret"]


def test_changing_and_deleting_an_endpoint(hooks_live, receiver):
    token = member_token(hooks_live, "ops@buyer.example", "Buyer Co")
    hook = hooks_live.api("POST", "/api/v1/webhooks", token, json={"url": receiver.url}).json()
    assert hook["events"] == []  # every event
    changed = hooks_live.api("PATCH", f"/api/v1/webhooks/{hook['id']}", token,
                             json={"active": False, "events": ["order.refunded", "entitlement.refunded"]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["active"] is False and changed.json()["events"] == ["order.refunded", "entitlement.refunded"]
    assert hooks_live.api("GET", f"/api/v1/webhooks/{hook['id']}", token).json()["active"] is False

    assert hooks_live.api("DELETE", f"/api/v1/webhooks/{hook['id']}", token).status_code == 204
    assert hooks_live.api("GET", f"/api/v1/webhooks/{hook['id']}", token).status_code == 404
    assert hooks_live.api("GET", "/api/v1/webhooks", token).json()["items"] == []


def test_bad_input_names_every_bad_field_and_writes_nothing(hooks_live, receiver):
    token = member_token(hooks_live, "ops@buyer.example", "Buyer Co")
    bad = hooks_live.api("POST", "/api/v1/webhooks", token,
                         json={"events": ["order.paid", "order.shipped"], "active": "maybe", "colour": "red"})
    assert bad.status_code == 422 and bad.headers["Content-Type"] == "application/problem+json"
    fields = {e["field"] for e in bad.json()["errors"]}
    assert {"url", "events.1", "active", "colour"} <= fields
    assert any("order.shipped" in e["message"] for e in bad.json()["errors"])

    hook = hooks_live.api("POST", "/api/v1/webhooks", token, json={"url": receiver.url}).json()
    bad_patch = hooks_live.api("PATCH", f"/api/v1/webhooks/{hook['id']}", token, json={"events": ["nope"]})
    assert bad_patch.status_code == 422 and bad_patch.json()["errors"][0]["field"] == "events.0"
    assert hooks_live.api("GET", f"/api/v1/webhooks/{hook['id']}", token).json()["events"] == []

    not_json = hooks_live.api("POST", "/api/v1/webhooks", token, data="url=x")
    assert not_json.status_code == 415
    for cursor in ("garbage", paging.encode(["2026-01-01T00:00:00", str(uuid.uuid4())]), paging.encode({"a": 1})):
        answer = hooks_live.api("GET", "/api/v1/webhooks", token, params={"after": cursor})
        assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "after"
    assert len(hooks_live.api("GET", "/api/v1/webhooks", token).json()["items"]) == 1


def test_listing_pages_through_the_endpoints(hooks_live, receiver):
    token = member_token(hooks_live, "ops@buyer.example", "Buyer Co")
    made = [hooks_live.api("POST", "/api/v1/webhooks", token, json={"url": f"{receiver.url}/{n}"}).json()["id"]
            for n in range(5)]
    seen, after = [], None
    while True:
        page = hooks_live.api("GET", "/api/v1/webhooks", token,
                              params={"limit": 2, **({"after": after} if after else {})}).json()
        seen += [h["id"] for h in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert seen == made


def test_another_organisation_sees_nothing_and_touches_nothing(hooks_live, receiver):
    mine = member_token(hooks_live, "ops@buyer.example", "Buyer Co")
    hook = hooks_live.api("POST", "/api/v1/webhooks", mine, json={"url": receiver.url}).json()
    announce_event(hooks_live.app, events.order_paid, org_of(hooks_live.app, "ops@buyer.example"), {"order_id": "o-1"})
    delivery = hooks_live.api("GET", f"/api/v1/webhooks/{hook['id']}/deliveries", mine).json()["items"][0]

    rival = member_token(hooks_live, "ops@rival.example", "Rival Co", roles=("provider",), kind="provider")
    base = f"/api/v1/webhooks/{hook['id']}"
    for method, path, body in (("GET", base, None), ("PATCH", base, {"active": False}), ("DELETE", base, None),
                               ("POST", f"{base}/rotate-secret", None), ("GET", f"{base}/deliveries", None),
                               ("POST", f"{base}/deliveries/{delivery['id']}/retry", None)):
        answer = hooks_live.api(method, path, rival, json=body)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.headers["Content-Type"] == "application/problem+json"
    assert hooks_live.api("GET", "/api/v1/webhooks", rival).json()["items"] == []
    # An organisation's member cannot register an endpoint for another organisation either.
    other_org = str(org_of(hooks_live.app, "ops@buyer.example"))
    forged = hooks_live.api("POST", "/api/v1/webhooks", rival, json={"url": receiver.url, "org_id": other_org})
    assert forged.status_code == 403 and forged.json()["rule"] == "ownership"
    assert hooks_live.api("GET", base, mine).json()["active"] is True
    assert len(hooks_live.api("GET", "/api/v1/webhooks", mine).json()["items"]) == 1


def test_anonymous_callers_and_tokens_without_the_scopes_are_refused(hooks_live, receiver):
    reader = member_token(hooks_live, "reader@buyer.example", "Buyer Co", scopes="catalog:read orders:read")
    writer = member_token(hooks_live, "ops@buyer.example", "Buyer Co")
    hook = hooks_live.api("POST", "/api/v1/webhooks", writer, json={"url": receiver.url}).json()

    refused = hooks_live.api("POST", "/api/v1/webhooks", reader, json={"url": receiver.url})
    assert refused.status_code == 403 and "orders:write" in refused.headers["WWW-Authenticate"]
    assert hooks_live.api("PATCH", f"/api/v1/webhooks/{hook['id']}", reader, json={"active": False}).status_code == 403
    assert hooks_live.api("DELETE", f"/api/v1/webhooks/{hook['id']}", reader).status_code == 403
    # Reading needs orders:read only: the reader sees the endpoint and its log.
    assert hooks_live.api("GET", f"/api/v1/webhooks/{hook['id']}", reader).status_code == 200
    assert hooks_live.api("GET", f"/api/v1/webhooks/{hook['id']}/deliveries", reader).status_code == 200
    no_scope = member_token(hooks_live, "cat@buyer.example", "Buyer Co", scopes="catalog:read")
    assert hooks_live.api("GET", "/api/v1/webhooks", no_scope).status_code == 403

    for method, path in (("GET", "/api/v1/webhooks"), ("POST", "/api/v1/webhooks"),
                         ("GET", f"/api/v1/webhooks/{hook['id']}"), ("DELETE", f"/api/v1/webhooks/{hook['id']}"),
                         ("GET", f"/api/v1/webhooks/{hook['id']}/deliveries")):
        assert hooks_live.api(method, path, json={"url": receiver.url}).status_code == 401
    assert len(hooks_live.api("GET", "/api/v1/webhooks", writer).json()["items"]) == 1


def test_an_administrator_sees_every_organisation_and_registers_for_one(hooks_live, receiver):
    buyer = member_token(hooks_live, "ops@buyer.example", "Buyer Co")
    theirs = hooks_live.api("POST", "/api/v1/webhooks", buyer, json={"url": receiver.url}).json()
    admin = member_token(hooks_live, "admin@sdx.example", "Platform", roles=("admin",), kind="platform")
    assert [h["id"] for h in hooks_live.api("GET", "/api/v1/webhooks", admin).json()["items"]] == [theirs["id"]]
    assert hooks_live.api("GET", f"/api/v1/webhooks/{theirs['id']}/deliveries", admin).status_code == 200

    buyer_org = str(org_of(hooks_live.app, "ops@buyer.example"))
    made = hooks_live.api("POST", "/api/v1/webhooks", admin, json={"url": receiver.url, "org_id": buyer_org})
    assert made.status_code == 201 and made.json()["org_id"] == buyer_org
    assert len(hooks_live.api("GET", "/api/v1/webhooks", buyer).json()["items"]) == 2
    nowhere = hooks_live.api("POST", "/api/v1/webhooks", admin, json={"url": receiver.url, "org_id": str(uuid.uuid4())})
    assert nowhere.status_code == 422 and nowhere.json()["errors"][0]["field"] == "org_id"
