"""Orders over HTTP: a quote paid from the wallet, split between the provider and the platform,
turned into entitlements — and every refusal a problem that wrote nothing (rows and balances)."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import OperationalError

from exchange.core.db import db, unit_of_work, utcnow
from exchange.licensing.models import Entitlement, Offer
from exchange.trading import events, ledger, orders
from exchange.trading.models import AccountKind, Order, Quote, Transfer, TransferKind
from tests.trading.orders_world import PRODUCT_BYTES, QUARTER, build_world

pytestmark = pytest.mark.committed  # bearer tokens are checked on a connection of their own

WALLET, RECEIVABLE, REVENUE = AccountKind.wallet, AccountKind.receivable, AccountKind.revenue


@pytest.fixture
def world(app):
    return build_world(app)


def line(world, n=0, offer=None, **extra):
    return {"product_id": world.products[n], "offer_id": str(offer), **extra}


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    return response.json


def test_an_order_pays_the_provider_and_the_platform_and_grants_the_licence(world):
    offer = world.offer(world.products[0], price=12_000)
    world.fund(50_000)
    quote = world.quote(line(world, 0, offer, aoi=QUARTER))
    heard = []
    with events.order_paid.connected_to(lambda _, **kw: heard.append(("order.paid", kw["org_id"]))), \
            events.order_fulfilled.connected_to(lambda _, **kw: heard.append(("order.fulfilled", kw["org_id"]))), \
            events.entitlement_granted.connected_to(lambda _, **kw: heard.append(("entitlement.granted",
                                                                                   kw["org_id"]))):
        response = world.order(quote, key="first-order")
    assert response.status_code == 201, response.text
    order = response.json
    assert response.headers["Location"].endswith(f"/api/v1/orders/{order['id']}")
    assert order["status"] == "fulfilled" and order["totals"] == {"CNY": 12_000} and len(order["license_ids"]) == 1
    assert order["paid_at"] and order["fulfilled_at"] and order["accepted_licenses"] == ["orders-test-commercial@1"]
    assert world.balance(WALLET, org=world.buyer_org) == 38_000
    assert world.balance(RECEIVABLE, org=world.provider_org) == 10_800  # price − 10 % fee
    assert world.balance(REVENUE) == 1_200
    assert set(world.trial_balance().values()) == {0}
    assert {event for event, _ in heard} == {"order.paid", "order.fulfilled", "entitlement.granted"}
    assert {org for _, org in heard} == {world.buyer_org, world.provider_org}
    with world.app.app_context():
        granted = db.session.get(Entitlement, uuid.UUID(order["license_ids"][0]))
        assert (granted.org_id, granted.item_key, granted.status.value) == (world.buyer_org, world.products[0], "active")
        assert granted.license["code"] == "orders-test-commercial" and granted.license["version"] == 1
        assert granted.license["terms"].startswith("You may use")
        assert granted.valid_until - granted.valid_from == dt.timedelta(days=365)
        assert (granted.downloads_per_asset, granted.bytes_allowed) == (2, 3 * PRODUCT_BYTES)
        assert granted.aoi == QUARTER and granted.order_id == uuid.UUID(order["id"])
    shown = world.get(f"/api/v1/orders/{order['id']}").json
    assert shown == order
    assert [o["id"] for o in world.get("/api/v1/orders").json["items"]] == [order["id"]]


def test_per_gb_grants_the_prepaid_bytes_and_a_perpetual_licence_has_no_end(world):
    perpetual = world.template("orders-test-perpetual", duration_days=None, bytes_multiple=None)
    offer = world.offer(world.products[0], model="per_gb", price=1_000, gb=2.0, template_id=perpetual)
    world.fund(2_000)
    order = world.order(world.quote(line(world, 0, offer))).json
    with world.app.app_context():
        granted = db.session.get(Entitlement, uuid.UUID(order["license_ids"][0]))
        assert (granted.bytes_allowed, granted.valid_until) == (2 * 10**9, None)
    assert world.balance(WALLET, org=world.buyer_org) == 0


def test_free_lines_make_a_zero_amount_order_with_entitlements_and_no_money_moves(world):
    offer = world.offer(world.products[0], model="free", price=0)
    before = world.counts()
    response = world.order(world.quote(line(world, 0, offer)))
    assert response.status_code == 201, response.text
    assert response.json["totals"] == {"CNY": 0} and len(response.json["license_ids"]) == 1
    after = world.counts()
    assert (after["orders"], after["entitlements"], after["ledger_transfers"]) == (1, 1, before["ledger_transfers"])


def test_lines_in_two_currencies_are_paid_from_two_wallets_by_one_transfer_each(world):
    cny, usd = world.offer(world.products[0], price=5_000), world.offer(world.products[1], price=700, currency="USD")
    world.fund(5_000)
    world.fund(700, "USD")
    order = world.order(world.quote(line(world, 0, cny), line(world, 1, usd))).json
    assert order["totals"] == {"CNY": 5_000, "USD": 700}
    with world.app.app_context():
        transfers = db.session.scalars(select(Transfer).where(Transfer.order_id == uuid.UUID(order["id"]))).all()
        assert sorted(str({p.currency for p in t.postings}) for t in transfers) == ["{'CNY'}", "{'USD'}"]
    assert world.balance(WALLET, "USD", world.buyer_org) == 0 and world.balance(REVENUE, "USD") == 70
    assert set(world.trial_balance().values()) == {0}


def test_insufficient_funds_is_402_with_the_shortfall_and_nothing_written(world):
    offer = world.offer(world.products[0], price=12_000)
    world.fund(5_000)
    quote = world.quote(line(world, 0, offer))
    before = world.counts()
    problem = assert_problem(world.order(quote), 402)
    assert (problem["shortfall"], problem["currency"], problem["balance"]) == (7_000, "CNY", 5_000)
    assert world.counts() == before


def test_a_balance_beyond_what_the_ledger_stores_is_409_and_nothing_written(world):
    """The provider's receivable is so near the BIGINT limit that its share of the sale cannot land."""
    offer = world.offer(world.products[0], price=12_000)
    world.fund(12_000)
    with world.app.app_context(), unit_of_work():  # from revenue: external already holds the top-up
        ledger.transfer(TransferKind.topup, [
            ledger.Leg(ledger.account(REVENUE, "CNY"), -(ledger.BALANCE_LIMIT - 100)),
            ledger.Leg(ledger.account(RECEIVABLE, "CNY", world.provider_org), ledger.BALANCE_LIMIT - 100)])
    quote = world.quote(line(world, 0, offer))
    before = world.counts()
    problem = assert_problem(world.order(quote), 409)
    assert problem["title"] == "Amount out of range" and problem["account"].endswith(":receivable:CNY")
    assert world.counts() == before


def test_a_wallet_in_another_currency_does_not_pay(world):
    """Wallets are per currency and money is never converted: CNY in the wallet does not pay a USD offer."""
    offer = world.offer(world.products[0], price=100, currency="USD")
    world.fund(1_000_000)
    quote = world.quote(line(world, 0, offer))
    before = world.counts()
    problem = assert_problem(world.order(quote), 402)
    assert (problem["currency"], problem["shortfall"]) == ("USD", 100) and "per currency" in problem["detail"]
    assert world.counts() == before


def test_an_expired_quote_is_refused(world):
    offer = world.offer(world.products[0])
    world.fund(20_000)
    quote = world.quote(line(world, 0, offer))
    with world.app.app_context(), unit_of_work():
        db.session.execute(update(Quote).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    before = world.counts()
    problem = assert_problem(world.order(quote), 409)
    assert problem["title"] == "Quote expired" and "new quote" in problem["detail"]
    assert world.counts() == before


def test_a_price_changed_since_the_quote_is_409_with_the_new_figures(world):
    changed, withdrawn = world.offer(world.products[0], price=10_000), world.offer(world.products[1], price=500)
    world.fund(100_000)
    quote = world.quote(line(world, 0, changed), line(world, 1, withdrawn))
    world.change_offer(changed, price=11_000)
    world.change_offer(withdrawn, withdrawn_at=utcnow())
    before = world.counts()
    problem = assert_problem(world.order(quote), 409)
    first, second = problem["changes"]
    assert first["quoted"]["total"] == 10_000 and first["now"]["total"] == 11_000 and first["now"]["revision"] == 2
    assert second["reason"] == "the offer has been withdrawn" and second["now"] is None
    assert world.counts() == before


@pytest.mark.parametrize("accept, missing", [([], ["orders-test-commercial@1"]),
                                             (["orders-test-commercial@2"], ["orders-test-commercial@1"]),
                                             (["orders-test-commercial"], ["orders-test-commercial@1"])])
def test_every_licence_must_be_accepted_by_code_and_version(world, accept, missing):
    offer = world.offer(world.products[0])
    world.fund(20_000)
    quote = world.quote(line(world, 0, offer))
    before = world.counts()
    problem = assert_problem(world.order(quote, accept=accept), 422)
    assert problem["missing_licenses"] == missing
    assert problem["errors"] == [{"field": "accept_licenses", "message": f"{missing[0]} is not accepted"}]
    assert world.counts() == before


def test_a_quote_is_ordered_once(world):
    offer = world.offer(world.products[0], price=1_000)
    world.fund(5_000)
    quote = world.quote(line(world, 0, offer))
    first = world.order(quote)
    assert first.status_code == 201
    problem = assert_problem(world.order(quote), 409)
    assert problem["order_id"] == first.json["id"]
    assert world.balance(WALLET, org=world.buyer_org) == 4_000


def test_another_organisations_quote_and_order_read_as_absent_and_admins_see_every_order(world):
    offer = world.offer(world.products[0], price=1_000)
    world.fund(5_000)
    quote = world.quote(line(world, 0, offer))
    before = world.counts()
    assert_problem(world.order(quote, who="lab"), 404)
    assert world.counts() == before
    order = world.order(quote).json
    assert_problem(world.get(f"/api/v1/orders/{order['id']}", who="lab"), 404)
    assert_problem(world.post(f"/api/v1/orders/{order['id']}/cancel", {}, who="lab"), 404)
    assert world.get("/api/v1/orders", who="lab").json == {"items": [], "next": None}
    assert world.get(f"/api/v1/orders/{order['id']}", who="admin").status_code == 200
    assert [o["id"] for o in world.get("/api/v1/orders", who="admin").json["items"]] == [order["id"]]
    assert_problem(world.get(f"/api/v1/orders/{uuid.uuid4()}"), 404)


def test_orders_are_paged_newest_first(world):
    offer = world.offer(collection="orders-test", price=10)
    world.fund(1_000)
    ids = [world.order(world.quote(line(world, n % 3, offer))).json["id"] for n in range(5)]
    seen, cursor = [], None
    while True:
        page = world.get("/api/v1/orders?limit=2" + (f"&after={cursor}" if cursor else "")).json
        seen += [o["id"] for o in page["items"]]
        cursor = page["next"]
        if not cursor:
            break
    assert seen == ids[::-1]
    assert_problem(world.get("/api/v1/orders?after=garbage"), 422)


def test_cancel_refunds_in_full_and_then_refuses(world):
    offer = world.offer(world.products[0], price=12_000)
    world.fund(12_000)
    order = world.order(world.quote(line(world, 0, offer))).json
    refunded = world.post(f"/api/v1/orders/{order['id']}/cancel", {})
    assert refunded.status_code == 200, refunded.text
    assert refunded.json["status"] == "refunded" and refunded.json["cancelled_at"]
    assert world.balance(WALLET, org=world.buyer_org) == 12_000
    assert world.balance(RECEIVABLE, org=world.provider_org) == 0 and world.balance(REVENUE) == 0
    assert set(world.trial_balance().values()) == {0}
    with world.app.app_context():
        assert db.session.get(Entitlement, uuid.UUID(order["license_ids"][0])).status.value == "refunded"
        # Each transfer is dated like the order's own moment, so a statement's month cannot split them.
        placed = db.session.get(Order, uuid.UUID(order["id"]))
        dated = dict(db.session.execute(select(Transfer.kind, Transfer.created_at)
                                        .where(Transfer.order_id == placed.id)).all())
        assert dated == {TransferKind.order: placed.paid_at, TransferKind.refund: placed.cancelled_at}
    again = assert_problem(world.post(f"/api/v1/orders/{order['id']}/cancel", {}), 409)
    assert "refunded" in again["detail"]


@pytest.mark.parametrize("after", ["download", "window"])
def test_cancel_after_a_download_or_after_the_window_is_409_saying_why(world, after):
    offer = world.offer(world.products[0], price=12_000)
    world.fund(12_000)
    order = world.order(world.quote(line(world, 0, offer))).json
    with world.app.app_context(), unit_of_work():
        if after == "download":
            db.session.execute(update(Entitlement).values(bytes_used=1))
        else:
            db.session.execute(update(Order).values(paid_at=utcnow() - dt.timedelta(hours=24, seconds=1)))
    before = world.counts()
    problem = assert_problem(world.post(f"/api/v1/orders/{order['id']}/cancel", {}), 409)
    assert ("downloaded" in problem["detail"]) if after == "download" else ("window closed" in problem["detail"])
    assert world.counts() == before


def test_the_quotes_offers_are_locked_until_the_order_commits(world, monkeypatch):
    """A change of an offer while it is being ordered waits for the order (PostgreSQL: a shared row
    lock on the offer; SQLite: the order holds the database's write lock from its start)."""
    offer = world.offer(world.products[0], price=1_000)
    world.fund(1_000)
    quote = world.quote(line(world, 0, offer))
    fulfil, blocked = orders._fulfil, []

    def fulfil_while_a_provider_patches(*args, **kwargs):
        with db.engine.connect() as other:  # another transaction, as a concurrent PATCH would be
            if other.dialect.name == "postgresql":
                other.execute(text("SET lock_timeout = '200ms'"))
            else:
                other.exec_driver_sql("PRAGMA busy_timeout = 200")
            try:
                other.execute(update(Offer).where(Offer.id == offer).values(revision=Offer.revision + 1))
            except OperationalError:
                blocked.append(True)
            other.rollback()
        return fulfil(*args, **kwargs)
    monkeypatch.setattr(orders, "_fulfil", fulfil_while_a_provider_patches)
    assert world.order(quote).status_code == 201
    assert blocked == [True]
