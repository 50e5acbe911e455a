"""Delivering trading's events: a real Celery worker on Redis posts each event to a receiver that
verifies the Standard Webhooks signature; a 500 is retried with back-off and the log shows every
attempt; a rolled-back unit of work sends nothing; the embedded mode (no broker) delivers in-process."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from exchange.core.db import db, unit_of_work, utcnow
from exchange.trading import events, tasks, webhook_delivery
from exchange.trading.models import WebhookDelivery
from tests.trading.webhook_support import (announce_event, member_token, org_of, receiver,  # noqa: F401
                                           served, tls_receiver, wait_until)


@pytest.fixture
def worker_live(celery_worker):
    """The worker's app, served over HTTP, allowed to reach the loopback receiver."""
    celery_worker.config["WEBHOOKS_ALLOW_PRIVATE"] = True
    with served(celery_worker) as live:
        yield live


@pytest.fixture
def quick_retries(monkeypatch):
    monkeypatch.setattr(webhook_delivery, "RETRY_DELAYS", (0.3, 0.3, 0.3))


def register(live, receiver, email="ops@buyer.example", org="Buyer Co", **body) -> tuple[str, dict]:
    token = member_token(live, email, org)
    made = live.api("POST", "/api/v1/webhooks", token, json={"url": receiver.url, **body})
    assert made.status_code == 201, made.text
    receiver.secret = made.json()["secret"]
    return token, made.json()


def log_of(live, token, hook) -> list[dict]:
    answer = live.api("GET", f"/api/v1/webhooks/{hook['id']}/deliveries", token)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def test_an_event_reaches_the_endpoint_signed(worker_live, receiver):
    token, hook = register(worker_live, receiver)
    org_id = org_of(worker_live.app, "ops@buyer.example")
    announce_event(worker_live.app, events.order_paid, org_id, {"order_id": "o-42", "totals": {"CNY": 12000}})

    (request,) = receiver.wait_for(1)
    assert not isinstance(request.verified, Exception), request.verified
    assert request.verified["type"] == "order.paid" and request.verified["data"] == {
        "order_id": "o-42", "totals": {"CNY": 12000}}
    assert request.verified["timestamp"].endswith("Z") and request.path == "/hooks/sdx"
    assert request.headers["content-type"] == "application/json"
    (delivery,) = wait_until(lambda: [d for d in log_of(worker_live, token, hook) if d["status"] == "delivered"])
    assert request.headers["webhook-id"] == delivery["id"]
    assert delivery["event_type"] == "order.paid" and delivery["attempts"] == 1
    assert delivery["last_status_code"] == 204 and delivery["last_error"] is None and delivery["delivered_at"]
    assert [a["status_code"] for a in delivery["attempt_log"]] == [204]


def test_a_failed_attempt_is_retried_and_the_log_shows_both(worker_live, receiver, quick_retries):
    receiver.answers = [500, 200]
    token, hook = register(worker_live, receiver)
    announce_event(worker_live.app, events.entitlement_granted, org_of(worker_live.app, "ops@buyer.example"),
                   {"license_id": "l-1"})

    first, second = receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]  # the same message, sent again
    assert not isinstance(first.verified, Exception) and not isinstance(second.verified, Exception)
    (delivery,) = wait_until(lambda: [d for d in log_of(worker_live, token, hook) if d["status"] == "delivered"])
    assert delivery["attempts"] == 2 and delivery["last_status_code"] == 200
    assert [(a["status_code"], a["error"]) for a in delivery["attempt_log"]] == [
        (500, "the endpoint answered 500"), (200, None)]
    assert delivery["attempt_log"][0]["at"] < delivery["attempt_log"][1]["at"]


def test_an_endpoint_that_keeps_failing_is_given_up_then_retried_by_hand(worker_live, receiver, quick_retries):
    receiver.answers = [503]
    token, hook = register(worker_live, receiver)
    announce_event(worker_live.app, events.order_refunded, org_of(worker_live.app, "ops@buyer.example"), {})
    (failed,) = wait_until(lambda: [d for d in log_of(worker_live, token, hook) if d["status"] == "failed"])
    assert failed["attempts"] == 4 and len(receiver.requests) == 4  # 1 + one per retry delay
    assert failed["last_error"] == "the endpoint answered 503" and failed["next_attempt_at"] is None

    receiver.answers = [200]
    retried = worker_live.api("POST", f"/api/v1/webhooks/{hook['id']}/deliveries/{failed['id']}/retry", token)
    assert retried.status_code == 202, retried.text
    wait_until(lambda: [d for d in log_of(worker_live, token, hook) if d["status"] == "delivered"])
    again = worker_live.api("POST", f"/api/v1/webhooks/{hook['id']}/deliveries/{failed['id']}/retry", token)
    assert again.status_code == 409 and "delivered" in again.json()["detail"]
    assert len(receiver.requests) == 5


def test_a_rolled_back_unit_of_work_delivers_nothing(worker_live, receiver):
    token, hook = register(worker_live, receiver)
    org_id = org_of(worker_live.app, "ops@buyer.example")
    with worker_live.app.app_context(), pytest.raises(RuntimeError):
        with unit_of_work() as uow:
            events.announce(events.order_paid, uow=uow, org_id=org_id, data={"order_id": "rolled-back"})
            raise RuntimeError("the order failed after announcing")
    announce_event(worker_live.app, events.order_cancelled, org_id, {"order_id": "kept"})
    receiver.wait_for(1)
    wait_until(lambda: [d for d in log_of(worker_live, token, hook) if d["status"] == "delivered"])
    assert [r.verified["data"]["order_id"] for r in receiver.requests] == ["kept"]
    assert [d["event_type"] for d in log_of(worker_live, token, hook)] == ["order.cancelled"]


def test_only_subscribed_active_endpoints_of_the_organisation_receive(worker_live, receiver):
    token, paid_only = register(worker_live, receiver, events=["order.paid"])
    _, inactive = register(worker_live, receiver, email="ops2@buyer.example", active=False)
    rival_token, _ = register(worker_live, receiver, email="ops@rival.example", org="Rival Co")
    receiver.secret = None  # several secrets in play: the signatures are checked in the other tests
    org_id = org_of(worker_live.app, "ops@buyer.example")
    announce_event(worker_live.app, events.order_fulfilled, org_id, {"order_id": "o-1"})
    announce_event(worker_live.app, events.order_paid, org_id, {"order_id": "o-2"})
    receiver.wait_for(1)
    wait_until(lambda: [d for d in log_of(worker_live, token, paid_only) if d["status"] == "delivered"])
    assert [r.body for r in receiver.requests if b"o-1" in r.body] == []
    assert len(receiver.requests) == 1
    assert log_of(worker_live, token, inactive) == []


@pytest.mark.committed
def test_the_embedded_mode_delivers_in_process(app, receiver):
    """No broker: the attempt runs right after the commit; a failure waits (no retry in the request).
    (The organisation given as a string and a datetime in the data still make a delivery.)"""
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = True
    with served(app) as live:
        token, hook = register(live, receiver)
        org_id = org_of(app, "ops@buyer.example")
        announce_event(app, events.order_paid, str(org_id), {"order_id": "o-1", "paid_at": utcnow()})
        assert len(receiver.requests) == 1 and not isinstance(receiver.requests[0].verified, Exception)
        assert log_of(live, token, hook)[0]["status"] == "delivered"

        receiver.answers = [302]
        announce_event(app, events.order_refunded, org_id, {"order_id": "o-1"})
        assert len(receiver.requests) == 2  # the redirect was not followed
        latest = log_of(live, token, hook)[0]
        assert latest["status"] == "pending" and latest["attempts"] == 1 and latest["next_attempt_at"]
        assert latest["last_error"] == "the endpoint answered 302 (redirects are not followed)"


@pytest.mark.committed
def test_a_lost_retry_is_sent_again_and_a_duplicate_task_sends_nothing(app, receiver):
    """The beat task re-sends a delivery whose retry is long overdue; a task for a delivery that is not
    due (already delivered, or another worker's attempt under way) attempts nothing."""
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = True
    with served(app) as live:
        token, hook = register(live, receiver)
        receiver.answers = [500, 200]
        announce_event(app, events.order_paid, org_of(app, "ops@buyer.example"), {"order_id": "o-1"})
        (pending,) = log_of(live, token, hook)
        assert pending["status"] == "pending"
        with app.app_context():
            assert tasks.resend_overdue() == 0  # due in a minute: not lost
            with unit_of_work():
                db.session.get(WebhookDelivery, uuid.UUID(pending["id"])).next_attempt_at = \
                    utcnow() - webhook_delivery.OVERDUE - timedelta(seconds=1)
            assert tasks.resend_overdue() == 1
        (delivered,) = log_of(live, token, hook)
        assert delivered["status"] == "delivered" and delivered["attempts"] == 2
        with app.app_context():
            assert tasks.deliver(pending["id"]) == "skipped"
        assert len(receiver.requests) == 2


@pytest.mark.committed
def test_https_endpoints_get_the_host_name_and_must_present_a_trusted_certificate(app, tls_receiver, monkeypatch):
    """The request goes to the checked address yet speaks to the host as written: SNI, Host and the
    certificate's name are ``localhost``; a certificate no authority vouches for fails the attempt."""
    receiver, cert_file = tls_receiver
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = True
    with served(app) as live:
        token, hook = register(live, receiver)
        org_id = org_of(app, "ops@buyer.example")
        announce_event(app, events.order_paid, org_id, {"order_id": "untrusted"})
        (untrusted,) = log_of(live, token, hook)
        assert untrusted["status"] == "pending" and "CERTIFICATE_VERIFY_FAILED" in untrusted["last_error"]
        assert receiver.requests == []

        monkeypatch.setattr(webhook_delivery, "CA_BUNDLE", str(cert_file))
        announce_event(app, events.order_paid, org_id, {"order_id": "trusted"})
        (request,) = receiver.requests
        assert request.verified["data"] == {"order_id": "trusted"}
        assert request.headers["host"] == receiver.url.split("/")[2]
        assert log_of(live, token, hook)[0]["status"] == "delivered"
