"""Webhook endpoints: an organisation registers a URL and receives trading's events there.

Each endpoint has its own signing secret (Standard Webhooks: ``whsec_`` + base64 of random bytes),
shown once, when it is made or rotated. Its URL passes the SSRF guard (``webhook_urls``) on
registration and again before every delivery. ``webhook_delivery`` sends the events and keeps the
delivery log read here.
"""
from __future__ import annotations

import base64
import secrets
import uuid
from datetime import datetime

from flask import current_app
from sqlalchemy import and_, delete, func, or_, select

from auth.models import Organisation
from exchange.core import paging
from exchange.core.celery import enqueue
from exchange.core.db import db, unit_of_work, utcnow
from exchange.core.problems import Conflict, NotFound, ValidationProblem
from exchange.policy import Identity, query_filter, require, require_own
from exchange.trading import webhook_urls
from exchange.trading.events import EVENTS
from exchange.trading.models import WebhookDelivery, WebhookEndpoint
from exchange.trading.tasks import deliver

#: The event types an endpoint may subscribe to (an empty list: all of them).
EVENT_TYPES = tuple(signal.name for signal in EVENTS)
#: Random bytes in a signing secret (Standard Webhooks asks for 24 to 64).
SECRET_BYTES = 32
#: Endpoints one organisation may have: each event is sent to every one of them.
MAX_ENDPOINTS_PER_ORG = 20


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def checked_url(url: str) -> None:
    """Refuse (422 naming ``url``, with the reason) a URL a webhook may not be sent to now."""
    try:
        webhook_urls.check(url, allow_private=current_app.config["WEBHOOKS_ALLOW_PRIVATE"])
    except webhook_urls.RefusedURL as exc:
        raise ValidationProblem("The webhook URL is refused.", errors=[{"field": "url", "message": str(exc)}]) \
            from None


def endpoint_view(endpoint: WebhookEndpoint, secret: str | None = None) -> dict:
    view = {"id": endpoint.id, "org_id": endpoint.org_id, "url": endpoint.url, "events": list(endpoint.events),
            "active": endpoint.active, "created_at": endpoint.created_at}
    if secret is not None:
        view["secret"] = secret
    return view


def _endpoint_for(identity: Identity, endpoint_id: uuid.UUID, action: str) -> WebhookEndpoint:
    """The endpoint, if the caller may see it (another organisation's reads as absent: 404) and act on it."""
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    require_own(identity, action, endpoint, "webhook", endpoint_id)
    return endpoint


# -- endpoints ------------------------------------------------------------------------------------------
def create_endpoint(identity: Identity, body: dict) -> dict:
    """Register an endpoint for the caller's organisation (an admin may name another): the view,
    with the signing secret, which is never shown again."""
    org_id = body.get("org_id") or identity.org_id
    endpoint = WebhookEndpoint(id=uuid.uuid4(), org_id=org_id, url=body["url"], events=body.get("events") or [],
                               active=body.get("active", True), secret=new_secret(), created_at=utcnow())
    require(identity, "webhook:write", endpoint)
    if org_id is None or db.session.get(Organisation, org_id) is None:
        raise ValidationProblem("Name an existing organisation for the webhook.",
                                errors=[{"field": "org_id", "message": "no such organisation"}])
    checked_url(endpoint.url)
    with unit_of_work() as uow:
        count = db.session.scalar(select(func.count()).select_from(WebhookEndpoint)
                                  .where(WebhookEndpoint.org_id == org_id))
        if count >= MAX_ENDPOINTS_PER_ORG:
            raise Conflict(f"An organisation may have at most {MAX_ENDPOINTS_PER_ORG} webhooks; delete one first.")
        uow.add(endpoint)
    return endpoint_view(endpoint, secret=endpoint.secret)


def _page_after(query, model, after: str | None, descending: bool):
    """Keyset paging on (created_at, id), oldest or newest first."""
    if after:
        try:
            created, key = paging.decode(after, max_depth=1)
            created, key = datetime.fromisoformat(created), uuid.UUID(key)
            if created.tzinfo is None:
                raise paging.BadCursor
        except (ValueError, TypeError):  # paging.BadCursor is one
            raise ValidationProblem("The cursor is not valid.",
                                    errors=[{"field": "after", "message": "bad cursor"}]) from None
        if descending:
            query = query.where(or_(model.created_at < created, and_(model.created_at == created, model.id < key)))
        else:
            query = query.where(or_(model.created_at > created, and_(model.created_at == created, model.id > key)))
    order = (model.created_at.desc(), model.id.desc()) if descending else (model.created_at, model.id)
    return query.order_by(*order)


def _cursor(row) -> str:
    return paging.encode([row.created_at.isoformat(), str(row.id)])


def list_endpoints(identity: Identity, *, after: str | None, limit: int) -> tuple[list[dict], str | None]:
    """The endpoints the caller may see (their organisation's; an admin's: all), oldest first."""
    query = select(WebhookEndpoint).where(query_filter(identity, "webhook:read", WebhookEndpoint))
    query = _page_after(query, WebhookEndpoint, after, descending=False)
    rows, more = paging.cut(list(db.session.scalars(query.limit(limit + 1))), limit)
    return [endpoint_view(e) for e in rows], (_cursor(rows[-1]) if more else None)


def get_endpoint(identity: Identity, endpoint_id: uuid.UUID) -> dict:
    return endpoint_view(_endpoint_for(identity, endpoint_id, "webhook:read"))


def update_endpoint(identity: Identity, endpoint_id: uuid.UUID, changes: dict) -> dict:
    """Change the URL (checked again), the events or whether the endpoint is active."""
    endpoint = _endpoint_for(identity, endpoint_id, "webhook:write")
    if "url" in changes:
        checked_url(changes["url"])
    with unit_of_work():
        for name in ("url", "events", "active"):
            if name in changes:
                setattr(endpoint, name, changes[name])
    return endpoint_view(endpoint)


def rotate_secret(identity: Identity, endpoint_id: uuid.UUID) -> dict:
    """A new signing secret (shown this once); deliveries from now on are signed with it."""
    endpoint = _endpoint_for(identity, endpoint_id, "webhook:write")
    with unit_of_work():
        endpoint.secret = new_secret()
    return endpoint_view(endpoint, secret=endpoint.secret)


def delete_endpoint(identity: Identity, endpoint_id: uuid.UUID) -> None:
    """Remove the endpoint and its delivery log; deliveries under way are dropped."""
    endpoint = _endpoint_for(identity, endpoint_id, "webhook:write")
    with unit_of_work():
        db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
        db.session.delete(endpoint)


# -- the delivery log -----------------------------------------------------------------------------------
def delivery_view(delivery: WebhookDelivery) -> dict:
    return {"id": delivery.id, "endpoint_id": delivery.endpoint_id, "event_type": delivery.event_type,
            "status": delivery.status, "attempts": delivery.attempts, "last_status_code": delivery.last_status_code,
            "last_error": delivery.last_error, "created_at": delivery.created_at,
            "delivered_at": delivery.delivered_at,
            "next_attempt_at": delivery.next_attempt_at if delivery.status == "pending" else None,
            "attempt_log": list(delivery.attempt_log or []), "payload": delivery.payload}


def list_deliveries(identity: Identity, endpoint_id: uuid.UUID, *, after: str | None, limit: int,
                    status: str | None = None) -> tuple[list[dict], str | None]:
    """An endpoint's deliveries, newest first (optionally only those in ``status``)."""
    endpoint = _endpoint_for(identity, endpoint_id, "webhook:read")
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    query = _page_after(query, WebhookDelivery, after, descending=True)
    rows, more = paging.cut(list(db.session.scalars(query.limit(limit + 1))), limit)
    return [delivery_view(d) for d in rows], (_cursor(rows[-1]) if more else None)


def retry_delivery(identity: Identity, endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> dict:
    """Send a failed delivery again now (one more attempt, then back-off as usual if it fails)."""
    endpoint = _endpoint_for(identity, endpoint_id, "webhook:write")
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.endpoint_id != endpoint.id:
        raise NotFound(f"No delivery {delivery_id} of webhook {endpoint_id}.")
    if delivery.status != "failed":
        raise Conflict(f"Only a failed delivery can be retried; this one is {delivery.status}.")
    if not endpoint.active:
        raise Conflict("The webhook is inactive; activate it before retrying its deliveries.")
    with unit_of_work() as uow:
        delivery.status, delivery.next_attempt_at = "pending", utcnow()
        uow.after_commit(enqueue, deliver, str(delivery.id))
    return delivery_view(delivery)
