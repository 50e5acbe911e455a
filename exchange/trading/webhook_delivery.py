"""Sending trading's events to the organisations' webhook endpoints (Standard Webhooks).

A receiver connected to every signal of ``exchange.trading.events`` writes one ``WebhookDelivery``
per active, subscribed endpoint of the organisation, in the unit of work that made the change, and
has the ``webhooks.deliver`` task sent after its commit: a rolled-back order sends nothing.

Each attempt claims the delivery first (an UPDATE that only one worker can win), checks the URL
again against the SSRF guard, POSTs ``{"type", "timestamp", "data"}`` signed with the endpoint's
secret (``webhook-id`` is the delivery's id, constant across attempts) to the address it checked,
without following redirects, and records the outcome in the delivery's ``attempt_log``. A 2xx is
delivered; anything else is tried again after ``RETRY_DELAYS`` (exponential back-off, 8 attempts
over about a day), then failed. A URL the guard now refuses fails at once, with the reason.

With a broker the retry is a task with a countdown; a beat task re-sends deliveries whose retry got
lost. In the embedded mode (no broker) the first attempt runs in-process after the commit, and a
failed one waits for ``POST …/deliveries/{id}/retry`` or a worker with beat.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import timedelta

import requests.certs
import urllib3
from flask import current_app
from sqlalchemy import select, update
from standardwebhooks import Webhook

from exchange.core.celery import enqueue
from exchange.core.db import db, unit_of_work, utcnow
from exchange.trading import webhook_urls
from exchange.trading.events import EVENTS
from exchange.trading.models import WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

DELIVER_TASK = "webhooks.deliver"
#: Seconds to wait after each failed attempt: 8 attempts over about 23 hours. Tests shorten it.
RETRY_DELAYS: tuple[float, ...] = (60, 5 * 60, 30 * 60, 2 * 3600, 4 * 3600, 6 * 3600, 10 * 3600)
#: How long one attempt may take (connect, send, answer).
TIMEOUT_SECONDS = 10
#: An attempt under way holds its delivery this long (longer than any attempt takes).
LEASE = timedelta(seconds=60)
#: A countdown may fire this early (clocks); a pending delivery overdue by OVERDUE lost its retry.
EARLY = timedelta(seconds=1)
OVERDUE = timedelta(minutes=5)
#: The certificate authorities an https:// endpoint's certificate must chain to (tests add their own).
CA_BUNDLE = requests.certs.where()
#: Bytes of an error answer kept in the log.
ERROR_EXCERPT = 200


def max_attempts() -> int:
    return len(RETRY_DELAYS) + 1


# -- recording events -----------------------------------------------------------------------------------
def record_event(uow, event_type: str, org_id, data: dict) -> list[uuid.UUID]:
    """One delivery per active endpoint of ``org_id`` subscribed to ``event_type``, sent after the commit."""
    if org_id is None:
        return []
    org_id = org_id if isinstance(org_id, uuid.UUID) else uuid.UUID(str(org_id))
    memo_key = ("webhook-endpoints", org_id)
    if memo_key not in uow.memo:  # an order announces several events to the same organisations
        uow.memo[memo_key] = db.session.execute(select(WebhookEndpoint.id, WebhookEndpoint.events).where(
            WebhookEndpoint.org_id == org_id, WebhookEndpoint.active.is_(True))).all()
    endpoints = uow.memo[memo_key]
    now = utcnow()
    # JSON-ready by contract; ids and times given as objects still make a valid payload.
    payload = {"type": event_type, "timestamp": now.isoformat().replace("+00:00", "Z"),
               "data": json.loads(json.dumps(data, default=str))}
    made = []
    for endpoint in endpoints:
        if endpoint.events and event_type not in endpoint.events:
            continue
        delivery = WebhookDelivery(id=uuid.uuid4(), endpoint_id=endpoint.id, event_type=event_type, payload=payload,
                                   status="pending", attempts=0, attempt_log=[], next_attempt_at=now, created_at=now)
        uow.add(delivery)
        uow.after_commit(enqueue, current_app.extensions["celery"].tasks[DELIVER_TASK], str(delivery.id))
        made.append(delivery.id)
    return made


def _receiver(event_type: str):
    def receive(_sender, *, uow, org_id, data: dict, **_) -> None:
        record_event(uow, event_type, org_id, data)

    receive.__name__ = f"webhooks_for_{event_type.replace('.', '_')}"
    return receive


_RECEIVERS = [(signal, _receiver(signal.name)) for signal in EVENTS]


def connect() -> None:
    """Listen to every trading event (once per process; connecting again changes nothing)."""
    for signal, receiver in _RECEIVERS:
        signal.connect(receiver, weak=False)


# -- attempts -------------------------------------------------------------------------------------------
def _claim(delivery_id: uuid.UUID) -> bool:
    """Take the delivery for one attempt if it is pending and due: one worker wins, the others skip."""
    now = utcnow()
    with unit_of_work():
        won = db.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending",
                   WebhookDelivery.next_attempt_at <= now + EARLY)
            .values(next_attempt_at=now + LEASE)
            .execution_options(synchronize_session=False)).rowcount
    return won == 1


def _pool(destination: webhook_urls.Destination, address: str) -> urllib3.HTTPConnectionPool:
    """A connection to ``address`` that speaks to the host as written (Host, SNI, certificate)."""
    options = dict(timeout=urllib3.Timeout(total=TIMEOUT_SECONDS), retries=False, maxsize=1)
    if destination.scheme == "https":
        return urllib3.HTTPSConnectionPool(address, destination.port, server_hostname=destination.host,
                                           assert_hostname=destination.host, cert_reqs="CERT_REQUIRED",
                                           ca_certs=CA_BUNDLE, **options)
    return urllib3.HTTPConnectionPool(address, destination.port, **options)


def post(destination: webhook_urls.Destination, body: bytes, headers: dict) -> tuple[int | None, str | None]:
    """POST to the checked addresses (the next one if a connection cannot be made), no redirects:
    the answer's status, and an error message for anything but a 2xx."""
    headers = {**headers, "Host": destination.netloc, "Content-Type": "application/json",
               "User-Agent": "SDX-Webhooks/1"}
    for address in destination.addresses:
        pool = _pool(destination, address)
        try:
            response = pool.urlopen("POST", destination.target, body=body, headers=headers, redirect=False,
                                    preload_content=False)
            try:
                excerpt = response.read(ERROR_EXCERPT, decode_content=False) if response.status >= 300 else b""
            finally:
                response.release_conn()
            break
        except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as exc:
            error = f"could not connect: {exc}"[:500]
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:  # ValueError: a host SNI refuses
            return None, f"the request failed: {type(exc).__name__}: {exc}"[:500]
        finally:
            pool.close()
    else:
        return None, error
    if 200 <= response.status < 300:
        return response.status, None
    note = " (redirects are not followed)" if 300 <= response.status < 400 else ""
    text = excerpt.decode("utf-8", "replace").strip()
    return response.status, f"the endpoint answered {response.status}{note}" + (f": {text}" if text else "")


def attempt(delivery_id: uuid.UUID) -> str:
    """One attempt at a delivery, if it is due; the delivery's status after it."""
    if not _claim(delivery_id):
        return "skipped"
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None:  # its endpoint was deleted meanwhile
        return "gone"
    endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id)
    active, url, secret = endpoint.active, endpoint.url, endpoint.secret
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    db.session.rollback()  # no transaction held open while the endpoint takes its time
    started, began = utcnow(), time.monotonic()
    status_code, error, final = None, None, False
    if not active:
        error, final = "the webhook was deactivated", True
    else:
        try:
            destination = webhook_urls.check(url, allow_private=current_app.config["WEBHOOKS_ALLOW_PRIVATE"])
        except webhook_urls.UnresolvedHost as exc:
            error = str(exc)
        except webhook_urls.RefusedURL as exc:
            error, final = f"refused: the URL {exc}", True
        else:
            status_code, error = post(destination, body, {
                "webhook-id": str(delivery_id), "webhook-timestamp": str(int(started.timestamp())),
                "webhook-signature": Webhook(secret).sign(str(delivery_id), started, body.decode())})
    return _record(delivery_id, started, time.monotonic() - began, status_code, error, final)


def _record(delivery_id: uuid.UUID, started, seconds: float, status_code: int | None, error: str | None,
            final: bool) -> str:
    """Write what the attempt came to; schedule the next one (after the commit) or give up."""
    with unit_of_work() as uow:
        delivery = db.session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            return "gone"
        delivery.attempts += 1
        delivery.last_status_code, delivery.last_error = status_code, error
        delivery.attempt_log = [*delivery.attempt_log, {
            "at": started.isoformat().replace("+00:00", "Z"), "status_code": status_code, "error": error,
            "duration_ms": round(seconds * 1000)}]
        if error is None:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", utcnow(), None
        elif final or delivery.attempts >= max_attempts():
            delivery.status, delivery.next_attempt_at = "failed", None
        else:
            delay = RETRY_DELAYS[delivery.attempts - 1]
            delivery.next_attempt_at = utcnow() + timedelta(seconds=delay)
            celery = current_app.extensions["celery"]
            if not celery.conf.task_always_eager:  # in-process, a retry would run now, in the caller's request
                uow.after_commit(celery.tasks[DELIVER_TASK].apply_async, (str(delivery.id),), countdown=delay)
        outcome, attempts = delivery.status, delivery.attempts
    if error:
        log.info("webhook delivery %s attempt %s failed: %s", delivery_id, attempts, error)
    return outcome


def resend_overdue(limit: int = 500) -> int:
    """Send again the pending deliveries whose retry is long overdue (a lost task, a worker gone)."""
    cutoff = utcnow() - OVERDUE
    ids = list(db.session.scalars(select(WebhookDelivery.id).where(
        WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at < cutoff)
        .order_by(WebhookDelivery.next_attempt_at).limit(limit)))
    db.session.rollback()
    task = current_app.extensions["celery"].tasks[DELIVER_TASK]
    for delivery_id in ids:
        enqueue(task, str(delivery_id))
    return len(ids)
