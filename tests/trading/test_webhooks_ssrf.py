"""The SSRF guard: with SDX_WEBHOOKS_ALLOW_PRIVATE off, a webhook URL that is not https://, carries
credentials, or leads to a loopback, private, link-local, multicast, reserved or unspecified address
(also inside an IPv6 form) is refused with a 422 naming ``url`` — and a URL that has come to lead
there is refused again at delivery, logged as failed with the reason, and not retried."""
from __future__ import annotations

import ipaddress

import pytest

from exchange.core.db import db
from exchange.policy import SYSTEM
from exchange.trading import events, webhooks
from exchange.trading.models import WebhookEndpoint
from exchange.trading.webhook_urls import address_refusal
from tests.conftest import add_user, identity_for, serving
from tests.trading.webhook_support import announce_event, deliveries, member_token, receiver  # noqa: F401

REFUSED = {
    "https://127.0.0.1/hook": "loopback",
    "https://localhost:8443/hook": "loopback",
    "https://10.0.0.1/hook": "private",
    "https://192.168.1.20/hook": "private",
    "https://169.254.169.254/latest/meta-data/": "link-local",
    "https://[::1]/hook": "loopback",
    "https://[::ffff:127.0.0.1]/hook": "loopback",
    "https://[2002:7f00:1::]/hook": "loopback",  # 6to4 around 127.0.0.1
    "https://[64:ff9b::a00:1]/hook": "private",  # NAT64 around 10.0.0.1
    "https://[fe80::1]/hook": "link-local",
    "https://0.0.0.0/hook": "unspecified",
    "https://2130706433/hook": "loopback",  # 127.0.0.1 written as one number
    "https://100.64.0.1/hook": "not a public address",  # carrier-grade NAT
    "https://224.0.0.1/hook": "multicast",
    "http://example.com/hook": "https://",
    "https://user:secret@example.com/hook": "credentials",
    "ftp://example.com/hook": "https://",
    "https://no-such-host.invalid/hook": "does not resolve",
    "https://example.com/" + "a" * 2048: "2048",
}


@pytest.fixture
def guarded_live(make_app):
    with serving(make_app, WEBHOOKS_ALLOW_PRIVATE=False) as server:
        yield server


def test_registration_refuses_every_private_or_unsafe_url(guarded_live):
    token = member_token(guarded_live, "ops@buyer.example", "Buyer Co")
    for url, reason in REFUSED.items():
        answer = guarded_live.api("POST", "/api/v1/webhooks", token, json={"url": url})
        assert answer.status_code == 422, (url, answer.text)
        assert answer.headers["Content-Type"] == "application/problem+json"
        (error,) = answer.json()["errors"]
        assert error["field"] == "url" and reason in error["message"], (url, error)
    assert guarded_live.api("GET", "/api/v1/webhooks", token).json()["items"] == []

    public = guarded_live.api("POST", "/api/v1/webhooks", token, json={"url": "https://93.184.216.34/hook"})
    assert public.status_code == 201, public.text  # a public address passes (nothing is sent on registration)
    changed = guarded_live.api("PATCH", f"/api/v1/webhooks/{public.json()['id']}", token,
                               json={"url": "https://[::ffff:a9fe:a9fe]/hook"})  # 169.254.169.254, mapped
    assert changed.status_code == 422 and "link-local" in changed.json()["errors"][0]["message"]
    assert guarded_live.api("GET", f"/api/v1/webhooks/{public.json()['id']}", token).json()["url"] == \
        "https://93.184.216.34/hook"


@pytest.mark.parametrize("address, public", [
    ("93.184.216.34", True), ("2606:4700:4700::1111", True), ("8.8.8.8", True),
    ("127.0.0.2", False), ("172.16.5.4", False), ("::", False), ("fc00::1", False), ("ff02::1", False),
    ("::ffff:10.1.2.3", False), ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo around 127.0.0.1
    ("255.255.255.255", False), ("240.0.0.1", False), ("198.18.0.1", False),
])
def test_which_addresses_are_public(app, address, public):
    assert (address_refusal(ipaddress.ip_address(address)) is None) is public


@pytest.mark.committed
def test_a_url_that_now_leads_somewhere_private_is_refused_at_delivery(app, receiver):
    """Registered while allowed (as a DNS answer may be public at registration and private later);
    at delivery the guard refuses: one failed attempt with the reason, no request, no retry."""
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = True
    with app.app_context():
        user = add_user("ops@buyer.example")
        org_id = user.org_id
        hook = webhooks.create_endpoint(identity_for(user, "orders:write"),
                                        {"url": receiver.url.replace("http://", "https://")})
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = False
    announce_event(app, events.order_paid, org_id, {"order_id": "o-1"})  # in-process: no broker
    (delivery,) = deliveries(app, hook["id"])
    assert delivery["status"] == "failed" and delivery["attempts"] == 1
    assert "refused" in delivery["last_error"] and "loopback" in delivery["last_error"]
    assert delivery["next_attempt_at"] is None and receiver.requests == []
    with app.app_context():
        assert db.session.get(WebhookEndpoint, hook["id"]).active  # the endpoint stays, for its owner to fix
        assert webhooks.get_endpoint(SYSTEM, hook["id"])["url"].startswith("https://127.0.0.1:")
