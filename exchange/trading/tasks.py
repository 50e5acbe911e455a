"""Celery tasks of trading: they take ids and call the services.

``webhooks.deliver`` makes one attempt at a webhook delivery; the delivery itself schedules the
next one (a countdown) when it fails, so the task never retries on its own and a task delivered
twice attempts once (the attempt claims the delivery first). ``webhooks.resend_overdue`` (beat)
sends again the deliveries whose retry was lost.
"""
from __future__ import annotations

import uuid

from celery import shared_task

from exchange.trading import webhook_delivery


@shared_task(name=webhook_delivery.DELIVER_TASK, acks_late=True, reject_on_worker_lost=True)
def deliver(delivery_id: str) -> str:
    """One attempt at one webhook delivery (if it is still due)."""
    return webhook_delivery.attempt(uuid.UUID(delivery_id))


@shared_task(name="webhooks.resend_overdue")
def resend_overdue() -> int:
    """Re-send pending webhook deliveries whose scheduled retry is long overdue."""
    return webhook_delivery.resend_overdue()
