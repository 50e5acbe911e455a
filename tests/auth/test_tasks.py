"""The purge task removes long-expired OAuth records and keeps live ones, on a real worker."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from auth.oauth_models import AccessToken, OAuthClient, RefreshToken
from auth.tasks import purge_expired_credentials
from exchange.core.db import db, utcnow
from tests.auth.conftest import PASSWORD


def seed_tokens(app) -> None:
    from auth import clients, service
    from exchange.policy import SYSTEM

    with app.app_context():
        service.create_org(SYSTEM, {"name": "Purge Org", "kind": "buyer"})
        user = service.create_user(SYSTEM, {"org": "Purge Org", "email": "purge@t.example", "password": PASSWORD,
                                            "roles": ["buyer"]})
        client, _ = clients.create_client(SYSTEM, {"name": "c", "grant_types": ["client_credentials"],
                                                   "scope": "catalog:read"}, owner=user)
        now = utcnow()
        for jti, expires in (("old", now - timedelta(days=3)), ("recent", now - timedelta(hours=2)),
                             ("live", now + timedelta(minutes=5))):
            db.session.add(AccessToken(jti=jti, family_id=uuid.uuid4(), client_id=client.client_id,
                                       user_id=user.id, scope="catalog:read", expires_at=expires))
        db.session.add(RefreshToken(token_hash="h" * 64, family_id=uuid.uuid4(), client_id=client.client_id,
                                    user_id=user.id, scope="catalog:read", expires_at=now - timedelta(days=40)))
        db.session.commit()


def remaining(app) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(AccessToken.jti)))


def test_purge_keeps_live_and_recent_records(app):
    seed_tokens(app)
    with app.app_context():
        removed = purge_expired_credentials.delay().get()
        assert removed["oauth_access_tokens"] == 1 and removed["oauth_refresh_tokens"] == 1
        assert db.session.scalar(select(func.count()).select_from(OAuthClient)) == 1
    assert remaining(app) == {"recent", "live"}


@pytest.mark.integration
def test_purge_runs_on_a_real_worker(celery_worker):
    import time

    seed_tokens(celery_worker)
    with celery_worker.app_context():
        purge_expired_credentials.delay()
    deadline = time.monotonic() + 20
    while remaining(celery_worker) != {"recent", "live"} and time.monotonic() < deadline:
        time.sleep(0.2)
    assert remaining(celery_worker) == {"recent", "live"}


def test_beat_schedules_the_purge(app):
    schedule = app.extensions["celery"].conf.beat_schedule
    assert any(entry["task"] == "auth.purge_expired_credentials" for entry in schedule.values())
