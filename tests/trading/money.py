"""Test data for the wallet, ledger and statement tests: organisations with tokens, products, and
sales written the way the orders service writes them (an order, its lines, one balanced transfer)."""
from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from auth import service
from exchange.catalog import batches
from exchange.catalog.models import Item, ItemStatus
from exchange.catalog.transactions import create_collection
from exchange.core.db import db, unit_of_work
from exchange.policy import SYSTEM
from exchange.trading import ledger
from exchange.trading.ledger import Leg
from exchange.trading.models import AccountKind, Order, OrderLine, OrderStatus, Quote, TransferKind
from tests.conftest import add_user

ADMIN_SCOPES = "admin:accounts orders:read"
ITEM = {"type": "Feature", "stac_version": "1.0.0", "bbox": [0, 0, 1, 1], "links": [], "assets": {},
        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]},
        "properties": {"datetime": "2026-01-01T00:00:00Z"}}


def org_id(name: str) -> uuid.UUID:
    return service.find_org(name).id


def token(live, email: str, org: str, *, roles=("buyer",), kind: str = "buyer", scopes: str = "orders:read") -> str:
    """A user of ``org`` (both made if new) and an access token of theirs carrying ``scopes``."""
    with live.app.app_context():
        known = service.find_user(email) is not None
    if not known:
        live.user(email, roles=roles, org=org, kind=kind)
    client_id, _ = live.client(email, scopes)
    return live.minted_token(client_id)


def admin_token(live, scopes: str = ADMIN_SCOPES) -> str:
    return token(live, "admin@sdx.example", "Platform", roles=("admin",), kind="platform", scopes=scopes)


def products(provider: str, collection: str, count: int) -> list[int]:
    """``count`` published products of ``provider``'s new collection, by key."""
    owner = service.find_org(provider) or add_user(f"owner@{collection}.example", ("provider",), provider,
                                                   "provider").organisation
    create_collection(SYSTEM, {"id": collection, "description": collection}, owner_org_id=owner.id)
    docs = [dict(ITEM, id=f"{collection}-{n}", collection=collection) for n in range(count)]
    result = batches.bulk_write(SYSTEM, collection, docs, method="insert", status=ItemStatus.published)
    assert not result.failures, result.failures
    return list(db.session.scalars(select(Item.key).where(Item.collection_id == collection).order_by(Item.item_id)))


def top_up(org: uuid.UUID, amount: int, currency: str = "CNY") -> None:
    from exchange.trading import wallets

    wallets.top_up(SYSTEM, org, {"amount": amount, "currency": currency, "reference": "test top-up"})


def _legs_of_sale(buyer: uuid.UUID, lines: list[OrderLine], currency: str, sign: int) -> list[Leg]:
    total = sum(line.amount for line in lines)
    legs = [Leg(ledger.account(AccountKind.wallet, currency, buyer), -sign * total)]
    for line in lines:
        legs.append(Leg(ledger.account(AccountKind.receivable, currency, line.provider_org_id),
                        sign * (line.amount - line.fee)))
        legs.append(Leg(ledger.account(AccountKind.revenue, currency), sign * line.fee))
    return legs


def sell(buyer: uuid.UUID, provider: uuid.UUID, priced: list[tuple[int, int]], at: dt.datetime, *,
         currency: str = "CNY", fee_bps: int = 1000) -> Order:
    """A paid and fulfilled order of ``priced`` (product key, price) lines, paid ``at``, as the orders
    service writes it: buyer wallet −total, provider receivable +(price − fee), platform revenue +fee."""
    with unit_of_work():
        quote = Quote(org_id=buyer, totals={currency: sum(p for _, p in priced)}, expires_at=at + dt.timedelta(days=1))
        db.session.add(quote)
        db.session.flush()
        order = Order(org_id=buyer, quote_id=quote.id, status=OrderStatus.fulfilled, totals=quote.totals,
                      accepted_licenses=["commercial-single-org@1"], created_at=at, paid_at=at, fulfilled_at=at)
        order.lines = [OrderLine(item_key=key, provider_org_id=provider, license_ref="commercial-single-org@1",
                                 quantity=1, unit="scene", currency=currency, amount=price, fee=price * fee_bps // 10000)
                       for key, price in priced]
        db.session.add(order)
        db.session.flush()
        record = ledger.transfer(TransferKind.order, _legs_of_sale(buyer, order.lines, currency, +1), order_id=order.id)
        record.created_at = at
    return order


def refund(order: Order, at: dt.datetime) -> None:
    """Cancel a paid order with a full refund ``at``: every leg of its sale reversed."""
    with unit_of_work():
        order.status, order.cancelled_at = OrderStatus.refunded, at
        currency = order.lines[0].currency
        record = ledger.transfer(TransferKind.refund, _legs_of_sale(order.org_id, order.lines, currency, -1),
                                 order_id=order.id)
        record.created_at = at


def pay_out(org: uuid.UUID, amount: int, at: dt.datetime, currency: str = "CNY") -> None:
    """A payout from the provider's receivable, dated ``at``."""
    from exchange.trading import wallets
    from exchange.trading.models import Transfer

    done = wallets.pay_out(SYSTEM, org, {"amount": amount, "currency": currency, "reference": f"payout {at:%Y-%m-%d}"})
    with unit_of_work():
        db.session.get(Transfer, done["id"]).created_at = at
