"""Idempotency-Key on POST /api/v1/orders (IETF httpapi draft): required; the same key and body give
the first answer unchanged, a refusal included (an unexpected failure releases the key); another body → 422; while the first is in flight → 409; a key abandoned
by a dead process is taken over after its lease; keys are per organisation. And a suspended
organisation cannot order (the policy's organisation check)."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import update

from auth import service
from auth.models import OrgStatus, User
from exchange.core.db import db, unit_of_work, utcnow
from exchange.core.problems import Forbidden
from exchange.trading import idempotency, orders
from exchange.trading.models import AccountKind, IdempotencyKey
from tests.conftest import identity_for
from tests.trading.orders_world import build_world

pytestmark = pytest.mark.committed  # bearer tokens are checked on a connection of their own


@pytest.fixture
def world(app):
    world = build_world(app)
    world.offer_id = world.offer(world.products[0], price=1_000)
    world.fund(10_000)
    return world


def quote(world, who="buyer"):
    return world.quote({"product_id": world.products[0], "offer_id": str(world.offer_id)}, who=who)


def test_the_same_key_and_body_replays_the_first_answer_and_pays_once(world):
    q = quote(world)
    first = world.order(q, key="k-1")
    again = world.order(q, key="k-1")
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["Location"] == first.headers["Location"]
    assert world.counts()["orders"] == 1 and world.balance(AccountKind.wallet, org=world.buyer_org) == 9_000


def test_a_quoted_key_is_the_same_key(world):
    q = quote(world)
    first = world.order(q, key="k-2")
    assert world.order(q, key='"k-2"').json == first.json


def test_the_same_key_with_another_body_is_422(world):
    first, second = quote(world), quote(world)
    assert world.order(first, key="k-3").status_code == 201
    before = world.counts()
    response = world.order(second, key="k-3")
    assert response.status_code == 422 and response.json["errors"][0]["field"] == "Idempotency-Key"
    assert world.counts() == before


@pytest.mark.parametrize("header", [None, "", "x" * 256, "bad\u00e9key"])
def test_a_missing_or_malformed_key_is_400_and_nothing_is_written(world, header):
    q = quote(world)
    before = world.counts()
    headers = world.headers()
    if header is not None:
        headers["Idempotency-Key"] = header
    response = world.http.post("/api/v1/orders", json={"quote_id": q["id"], "accept_licenses": q["licenses"]},
                               headers=headers)
    assert response.status_code == 400 and response.json["errors"][0]["field"] == "Idempotency-Key"
    assert world.counts() == before


def _pending(world, key: str, request_body: dict, age: dt.timedelta) -> None:
    """What a request that is still running (or died) leaves: the key claimed, no answer yet."""
    with world.app.app_context():
        assert idempotency.claim(world.buyer_org, key, idempotency.fingerprint("POST", orders.ORDERS_PATH,
                                                                               request_body)) is None
        with unit_of_work():
            db.session.execute(update(IdempotencyKey).values(created_at=utcnow() - age))


def test_a_request_while_the_first_is_in_flight_is_409_and_an_abandoned_key_is_taken_over(world):
    q = quote(world)
    body = {"quote_id": uuid.UUID(q["id"]), "accept_licenses": q["licenses"]}
    _pending(world, "k-4", body, dt.timedelta(seconds=1))
    before = world.counts()
    response = world.order(q, key="k-4")
    assert response.status_code == 409 and response.headers["Retry-After"] == "1"
    assert "still being processed" in response.json["detail"]
    assert world.counts() == before
    # The process that claimed it died: once the lease is over, the next request does the work.
    with world.app.app_context(), unit_of_work():
        db.session.execute(update(IdempotencyKey).values(created_at=utcnow() - idempotency.IN_FLIGHT_LEASE
                                                         - dt.timedelta(seconds=1)))
    taken_over = world.order(q, key="k-4")
    assert taken_over.status_code == 201, taken_over.text
    assert world.order(q, key="k-4").json == taken_over.json


def test_a_refusal_is_the_keys_answer_and_a_new_key_orders_once_the_cause_is_fixed(world):
    q = world.quote({"product_id": world.products[1], "offer_id": str(world.offer(world.products[1],
                                                                                   price=50_000))})
    before = world.counts()
    refused = world.order(q, key="k-5")
    assert refused.status_code == 402 and refused.headers["Content-Type"] == "application/problem+json"
    assert world.counts() == before  # nothing of an order written; the key keeps only the refusal
    world.fund(40_000)
    again = world.order(q, key="k-5")  # the same key and body: the first answer, unchanged
    assert again.status_code == 402 and again.headers["Content-Type"] == "application/problem+json"
    assert again.json == refused.json and "Location" not in again.headers
    assert world.counts()["orders"] == 0
    assert world.order(q, key="k-5b").status_code == 201


def test_an_unexpected_failure_releases_the_key(world, monkeypatch):
    """A 500 is no answer: the key is dropped and the same request may be repeated with it."""
    q = quote(world)

    def crash(*args, **kwargs):
        raise RuntimeError("the database went away")
    monkeypatch.setattr(orders, "_order_quote", crash)
    with world.app.app_context(), pytest.raises(RuntimeError):
        orders.place_order(identity_for(_buyer(world), "orders:write"),
                           {"quote_id": uuid.UUID(q["id"]), "accept_licenses": q["licenses"]}, "k-7")
    monkeypatch.undo()
    assert world.counts()["idempotency_keys"] == 0
    assert world.order(q, key="k-7").status_code == 201


def _buyer(world) -> User:
    return db.session.query(User).filter_by(email="buyer@orders.example").one()


def test_keys_are_per_organisation_and_expire_after_a_day(world):
    mine, theirs = quote(world), quote(world, who="lab")
    world.fund(10_000, org=_lab(world))
    assert world.order(mine, key="shared").status_code == 201
    assert world.order(theirs, key="shared", who="lab").status_code == 201  # another organisation's key
    with world.app.app_context(), unit_of_work():
        db.session.execute(update(IdempotencyKey).values(created_at=utcnow() - dt.timedelta(hours=24, seconds=1)))
    second = quote(world)
    assert world.order(second, key="shared").status_code == 201  # the day-old key is forgotten


def _lab(world):
    with world.app.app_context():
        return service.find_org("Orders Lab").id


def test_a_suspended_organisation_cannot_order(world):
    q = quote(world)
    with world.app.app_context():
        buyer = db.session.query(User).filter_by(email="buyer@orders.example").one()
        with unit_of_work():
            buyer.organisation.status = OrgStatus.suspended
        identity = identity_for(buyer, "orders:write orders:read")
        before = world.counts()
        with pytest.raises(Forbidden) as refused:
            orders.place_order(identity, {"quote_id": uuid.UUID(q["id"]), "accept_licenses": q["licenses"]}, "k-6")
        assert refused.value.extra["rule"] == "org-status"
    assert world.counts() == before
    # Over HTTP its tokens stop working altogether.
    assert world.order(q).status_code == 401
