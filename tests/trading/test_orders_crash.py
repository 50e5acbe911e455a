"""A real app server (gunicorn, the production configuration) killed with SIGKILL while orders are
being placed: after a restart every order is whole — its line, its entitlement, its balanced
transfer, its idempotency answer — or absent, and the money adds up. A request cut off by the kill
can be repeated with its key: it is answered from what was committed, or done once its abandoned
key's lease is over."""
from __future__ import annotations

import threading
import uuid

import pytest
import requests
from sqlalchemy import func, select, update

from bench.orders import OrderServer, make_quotes, place, seed_market, sign_in
from exchange.core.db import db, unit_of_work, utcnow
from exchange.licensing.models import Entitlement
from exchange.trading import idempotency
from exchange.trading.models import IdempotencyKey, LedgerAccount, Order, OrderLine, Posting, Transfer, TransferKind
from storage.embedded import free_ports
from tests.conftest import TEST_SECRET

PRICE, FUNDS, BUYERS, QUOTES_EACH = 100, 100 * 40, 4, 12


def _whole(app, market) -> dict:
    """Check that every committed order is whole and the books balance; return {quote id: order id}."""
    with app.app_context():
        orders = db.session.scalars(select(Order)).all()
        for order in orders:
            assert [line.amount for line in order.lines] == [PRICE]
            (entitlement,) = db.session.scalars(select(Entitlement).where(Entitlement.order_id == order.id)).all()
            assert order.lines[0].entitlement_id == entitlement.id
            (transfer,) = db.session.scalars(select(Transfer).where(Transfer.order_id == order.id)).all()
            assert transfer.kind is TransferKind.order and sum(p.amount for p in transfer.postings) == 0
            key = db.session.scalar(select(IdempotencyKey).where(IdempotencyKey.response_body["id"].as_string()
                                                                 == str(order.id)))
            assert key is not None and key.response_status == 201
        assert db.session.scalar(select(func.count()).select_from(Entitlement).where(
            Entitlement.order_id.is_(None))) == 0
        assert db.session.scalar(select(func.count()).select_from(OrderLine)) == len(orders)
        assert db.session.scalar(select(func.count()).select_from(Transfer).where(
            Transfer.kind == TransferKind.order)) == len(orders)
        for buyer in market.buyers:
            paid = sum(order.totals["CNY"] for order in orders if order.org_id == buyer.org_id)
            wallet = db.session.scalar(select(LedgerAccount.balance).where(
                LedgerAccount.name == f"org:{buyer.org_id}:wallet:CNY"))
            assert wallet == FUNDS - paid
        assert db.session.scalar(select(func.sum(Posting.amount))) == 0
        assert db.session.scalar(select(func.sum(LedgerAccount.balance))) == 0
        return {str(order.quote_id): str(order.id) for order in orders}


@pytest.mark.committed  # a server process of its own reads and writes the database
def test_a_server_killed_in_the_middle_of_orders_leaves_each_order_whole_or_absent(make_app, databases, backend,
                                                                                   tmp_path):
    (port,) = free_ports(1)
    app = make_app(PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")
    market = seed_market(app, buyers=BUYERS, price=PRICE, funds=FUNDS)
    server = OrderServer(databases.url(backend), tmp_path / "var", port, workers=1, secret_key=TEST_SECRET).start()
    try:
        sign_in(server.url, market)
        quotes = {b.client_id: make_quotes(requests.Session(), server.url, market, b, QUOTES_EACH)
                  for b in market.buyers}
        sent: list[tuple] = []  # (buyer, quote id, key, status or None when cut off)
        answered = threading.Semaphore(0)

        def client(buyer) -> None:
            http = requests.Session()
            for quote_id in quotes[buyer.client_id]:
                key = str(uuid.uuid4())
                try:
                    status = place(http, server.url, buyer, quote_id, market.license, key).status_code
                except requests.RequestException:
                    sent.append((buyer, quote_id, key, None))
                    return
                sent.append((buyer, quote_id, key, status))
                answered.release()

        threads = [threading.Thread(target=client, args=(b,)) for b in market.buyers]
        for thread in threads:
            thread.start()
        for _ in range(8):  # a few orders through, the others in flight: then the kill
            assert answered.acquire(timeout=60)
        server.kill()
        for thread in threads:
            thread.join(60)
        assert all(status in (201, None) for *_, status in sent), sent
        cut_off = [entry for entry in sent if entry[3] is None]
        assert cut_off, "the kill cut no request off"

        ordered = _whole(app, market)
        assert {q for _, q, _, status in sent if status == 201} <= set(ordered)

        server.start()
        http = requests.Session()
        for buyer, quote_id, key, _ in cut_off:
            again = place(http, server.url, buyer, quote_id, market.license, key)
            if quote_id in ordered:  # committed before the kill: the first answer, replayed
                assert again.status_code == 201 and again.json()["id"] == ordered[quote_id]
            else:  # its key may be held by the dead request: in flight until the lease is over
                assert again.status_code in (201, 409), again.text
        with app.app_context(), unit_of_work():  # the lease passes
            db.session.execute(update(IdempotencyKey).where(IdempotencyKey.response_status.is_(None)).values(
                created_at=utcnow() - idempotency.IN_FLIGHT_LEASE))
        for buyer, quote_id, key, _ in cut_off:
            assert place(http, server.url, buyer, quote_id, market.license, key).status_code == 201
        after = _whole(app, market)
        assert {q for _, q, _, _ in cut_off} <= set(after)
    finally:
        server.stop()
