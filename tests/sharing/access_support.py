"""Access-request test support: the metering shop (live server, real store) with a require_approval
policy on alice's collection, and short helpers for the calls the tests make."""
from __future__ import annotations

import uuid

import pytest

from exchange.core.db import db, unit_of_work
from exchange.sharing.models import AccessRequest
from tests.metering.conftest import open_shop
from tests.metering.meter import settled

HOLD = {"name": "alice's scenes need approval", "target": {"collections": ["alice"]},
        "actions": ["license", "download"], "effect": "require_approval"}


@pytest.fixture
def shop(live):
    shop = open_shop(live)
    made = shop.api("POST", "/api/v1/admin/policies", "admin", json=HOLD)
    assert made.status_code == 201, made.text
    yield shop
    settled(shop)


def ask(shop, who: str = "buyer", **body):
    return shop.api("POST", "/api/v1/access-requests", who,
                    json={"purpose": "research", "message": "for a study", **body})


def asked(shop, who: str = "buyer", **body) -> dict:
    """A pending request (for alice-1 unless told), asserted made."""
    answer = ask(shop, who, **(body or {"product_id": shop.products["alice-1"]}))
    assert answer.status_code == 201, answer.text
    return answer.json()


def act(shop, request_id: str, verb: str, who: str, body: dict | None = None):
    return shop.api("POST", f"/api/v1/access-requests/{request_id}/{verb}", who, json=body)


def stored(shop, request_id: str) -> AccessRequest:
    with shop.live.app.app_context():
        row = db.session.get(AccessRequest, uuid.UUID(request_id))
        db.session.expunge(row)
        return row


def change(shop, request_id: str, **columns) -> None:
    with shop.live.app.app_context(), unit_of_work():
        row = db.session.get(AccessRequest, uuid.UUID(request_id))
        for name, value in columns.items():
            setattr(row, name, value)


def fields_of(answer) -> set[str]:
    return {error["field"] for error in answer.json().get("errors", [])}
