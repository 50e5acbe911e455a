"""Celery tasks of sharing: they call the services."""
from __future__ import annotations

from celery import shared_task

from exchange.sharing import access


@shared_task(name="access_requests.expire")
def expire_access_requests() -> int:
    """Mark the pending access requests past their 30 days expired (and tell the requesters)."""
    return access.expire_overdue()
