"""Monthly spending caps: set, read and removed by the buyer organisation; an order that would pass
the cap is a 402 naming the cap and what is left, and writes nothing; a refund frees the budget."""
from __future__ import annotations

import pytest

from tests.trading.orders_world import build_world

pytestmark = pytest.mark.committed  # bearer tokens are checked on a connection of their own


@pytest.fixture
def world(app):
    world = build_world(app)
    world.offer_id = world.offer(collection="orders-test", price=3_000)
    world.fund(100_000)
    return world


def order(world, n=0, who="buyer"):
    return world.order(world.quote({"product_id": world.products[n], "offer_id": str(world.offer_id)}, who=who),
                       who=who)


def put_cap(world, limit, currency="CNY", who="buyer"):
    return world.http.put(f"/api/v1/wallet/caps/{currency}", json={"monthly_limit": limit},
                          headers=world.headers(who))


def test_a_cap_is_set_shown_with_what_is_left_and_enforced(world):
    response = put_cap(world, 5_000)
    assert response.status_code == 200, response.text
    assert (response.json["monthly_limit"], response.json["spent"], response.json["remaining"]) == (5_000, 0, 5_000)
    assert order(world).status_code == 201
    (cap,) = world.get("/api/v1/wallet/caps").json["items"]
    assert (cap["currency"], cap["spent"], cap["remaining"]) == ("CNY", 3_000, 2_000)
    before = world.counts()
    refused = order(world, 1)
    assert refused.status_code == 402 and refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json["title"] == "Spending cap exceeded"
    assert refused.json["cap"] == {"currency": "CNY", "monthly_limit": 5_000, "spent": 3_000, "remaining": 2_000}
    assert "2000" in refused.json["detail"] and "5000" in refused.json["detail"]
    assert world.counts()["orders"] == before["orders"] and world.counts()["balances"] == before["balances"]


def test_raising_or_removing_the_cap_lets_the_order_through(world):
    assert put_cap(world, 2_000).status_code == 200
    assert order(world).status_code == 402
    assert put_cap(world, 3_000).json["monthly_limit"] == 3_000
    assert order(world).status_code == 201
    assert order(world, 1).status_code == 402
    assert world.http.delete("/api/v1/wallet/caps/CNY", headers=world.headers()).status_code == 204
    assert world.get("/api/v1/wallet/caps").json == {"items": []}
    assert order(world, 1).status_code == 201
    assert world.http.delete("/api/v1/wallet/caps/CNY", headers=world.headers()).status_code == 404


def test_a_refunded_order_no_longer_counts_against_the_cap(world):
    put_cap(world, 3_000)
    first = order(world).json
    assert world.post(f"/api/v1/orders/{first['id']}/cancel", {}).status_code == 200
    assert order(world, 1).status_code == 201


def test_caps_are_per_currency_and_per_organisation(world):
    put_cap(world, 1_000, "USD")
    assert order(world).status_code == 201  # a CNY order: the USD cap does not apply
    put_cap(world, 1_000)
    world.fund(100_000, org=world.provider_org)  # any organisation may buy; the lab has no cap
    lab = world.quote({"product_id": world.products[0], "offer_id": str(world.offer_id)}, who="lab")
    assert lab["totals"] == {"CNY": 3_000}
    assert [c["currency"] for c in world.get("/api/v1/wallet/caps", who="lab").json["items"]] == []


@pytest.mark.parametrize("body, status", [({"monthly_limit": 0}, 422), ({"monthly_limit": -5}, 422),
                                          ({"monthly_limit": "lots"}, 422), ({}, 422)])
def test_a_bad_cap_is_refused_naming_the_field(world, body, status):
    response = world.http.put("/api/v1/wallet/caps/CNY", json=body, headers=world.headers())
    assert response.status_code == status and response.json["errors"][0]["field"] == "monthly_limit"
    assert world.get("/api/v1/wallet/caps").json == {"items": []}


def test_an_unknown_currency_is_404_and_scopes_are_required(world):
    assert put_cap(world, 100, "XYZ").status_code == 404
    assert world.http.get("/api/v1/wallet/caps").status_code == 401
