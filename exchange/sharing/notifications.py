"""In-app notifications: what an organisation's members are told (an access request made to it, a
decision on its own). ``notify`` writes the row and announces the event in the caller's unit of work,
so trading's webhook delivery sends it, signed, to the organisation's subscribed endpoints after the
commit — and a rolled-back change tells nobody."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import and_, or_, select

from exchange.core import paging
from exchange.core.db import db, unit_of_work, utcnow
from exchange.core.problems import ValidationProblem
from exchange.policy import Identity, query_filter, require_own
from exchange.sharing.models import Notification
from exchange.trading import events

#: Notification kinds, each also the webhook event type an endpoint may subscribe to.
SIGNALS = {signal.name: signal for signal in (
    events.access_request_created, events.access_request_approved, events.access_request_rejected,
    events.access_request_withdrawn, events.access_request_expired)}


def notify(uow, org_id: uuid.UUID, kind: str, subject: str, data: dict) -> Notification:
    """Tell ``org_id``: a notification row, and the ``kind`` event to its webhooks (after the commit)."""
    notification = Notification(id=uuid.uuid4(), org_id=org_id, kind=kind, subject=subject, data=data,
                                created_at=utcnow())
    db.session.add(notification)
    events.announce(SIGNALS[kind], uow=uow, org_id=org_id, data={"notification_id": str(notification.id), **data})
    return notification


def view(notification: Notification) -> dict:
    return {"id": str(notification.id), "kind": notification.kind, "subject": notification.subject,
            "data": notification.data, "created_at": notification.created_at.isoformat(),
            "read_at": notification.read_at.isoformat() if notification.read_at else None}


def page_after(query, model, after: str | None):
    """Newest first, keyset-paged on (created_at, id) from the ``after`` cursor (422 naming it if bad)."""
    if after:
        try:
            created, key = paging.decode(after, max_depth=1)
            created, key = datetime.fromisoformat(created), uuid.UUID(key)
            if created.tzinfo is None:
                raise paging.BadCursor
        except (ValueError, TypeError):
            raise ValidationProblem("The cursor is not valid.",
                                    errors=[{"field": "after", "message": "bad cursor"}]) from None
        query = query.where(or_(model.created_at < created, and_(model.created_at == created, model.id < key)))
    return query.order_by(model.created_at.desc(), model.id.desc())


def cursor(row) -> str:
    return paging.encode([row.created_at.isoformat(), str(row.id)])


def list_notifications(identity: Identity, *, unread: bool | None, after: str | None,
                       limit: int) -> tuple[list[dict], str | None]:
    """The caller's organisation's notifications, newest first (``unread``: only those not read yet)."""
    query = select(Notification).where(query_filter(identity, "notification:read", Notification))
    if unread is not None:
        query = query.where(Notification.read_at.is_(None) if unread else Notification.read_at.is_not(None))
    rows, more = paging.cut(list(db.session.scalars(page_after(query, Notification, after).limit(limit + 1))), limit)
    return [view(n) for n in rows], (cursor(rows[-1]) if more else None)


def mark_read(identity: Identity, notification_id: uuid.UUID) -> dict:
    """Mark one of the organisation's notifications read (again: unchanged); another's reads as absent."""
    notification = db.session.get(Notification, notification_id)
    require_own(identity, "notification:read", notification, "notification", notification_id)
    if notification.read_at is None:
        with unit_of_work():
            notification.read_at = utcnow()
    return view(notification)
