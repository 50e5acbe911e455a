"""Housekeeping of OAuth records (Celery beat)."""
from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from sqlalchemy import delete

from auth.oauth_models import AccessToken, AuthorizationCode, RefreshToken
from exchange.core.db import db, unit_of_work, utcnow

#: Expired records are kept this long for audits and replay detection before they are purged.
GRACE = timedelta(days=1)


@shared_task(name="auth.purge_expired_credentials")
def purge_expired_credentials() -> dict:
    """Delete authorization codes, access-token records and refresh tokens expired for a day."""
    cutoff = utcnow() - GRACE
    removed = {}
    with unit_of_work():
        for model in (AuthorizationCode, AccessToken, RefreshToken):
            result = db.session.execute(delete(model).where(model.expires_at < cutoff))
            removed[model.__tablename__] = result.rowcount
    return removed
