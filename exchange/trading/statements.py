"""A provider's monthly statement: what it sold, to whom, the platform's fees, refunds, payouts, and
its receivable at the month's start and end.

A calendar month in UTC. A sale belongs to the month its order was paid in (whatever happened to the
order later); a refund to the month the order was refunded in, as a negative line. Balances come from
the ledger's postings up to each bound, so a statement reconciles: closing = opening + net sales −
net refunds − payouts. Amounts are integer minor units per currency, never mixed across currencies.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict

from sqlalchemy import func, select

from auth.models import Organisation
from exchange.catalog.models import Item
from exchange.core.db import db
from exchange.core.spreadsheets import csv_text
from exchange.policy import Identity, require_own
from exchange.trading.models import AccountKind, LedgerAccount, Order, OrderLine, OrderStatus, Posting, Transfer, \
    TransferKind

#: Orders whose lines are sales: paid at some point (a refunded one was a sale, then a refund).
SOLD = (OrderStatus.paid, OrderStatus.fulfilled, OrderStatus.refunded)
TOTALS = ("gross", "fees", "net", "refunded", "refunded_fees", "refunded_net", "payouts", "opening_receivable",
          "closing_receivable")


def month_bounds(year: int, month: int) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(year, month, 1, tzinfo=dt.timezone.utc)
    end = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=dt.timezone.utc)
    return start, end


def statement(identity: Identity, year: int, month: int, *, org_id: uuid.UUID | None = None) -> dict:
    """The statement of ``org_id`` (default: the caller's organisation) for one month. Another
    organisation's statement reads as absent unless the caller is an administrator."""
    wanted = org_id or identity.org_id
    org = db.session.get(Organisation, wanted) if wanted else None
    require_own(identity, "statement:read", org, "organisation", wanted)  # another's figures: as if absent
    start, end = month_bounds(year, month)
    receivables = list(db.session.scalars(select(LedgerAccount.id).where(
        LedgerAccount.org_id == org.id, LedgerAccount.kind == AccountKind.receivable)))
    totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(TOTALS, 0))
    by_product, by_buyer = _sales(org.id, start, end, totals)
    refunds = _refunds(org.id, start, end, totals)
    payouts = _payouts(receivables, start, end, totals)
    for key, bound in (("opening_receivable", start), ("closing_receivable", end)):
        for currency, total in _receivable_at(receivables, bound).items():
            totals[currency][key] = total
    return {"org_id": org.id, "organisation": org.name, "month": f"{year:04d}-{month:02d}", "from": start,
            "until": end, "totals": {c: totals[c] for c in sorted(totals)}, "by_product": by_product,
            "by_buyer": by_buyer, "refunds": refunds, "payouts": payouts}


def _product_name(collection_id: str | None, item_id: str | None) -> str:
    return f"{collection_id}/{item_id}" if item_id else "(deleted product)"


def _sales(provider: uuid.UUID, start: dt.datetime, end: dt.datetime, totals: dict) -> tuple[list, list]:
    paid_at = func.coalesce(Order.paid_at, Order.created_at)
    rows = db.session.execute(
        select(OrderLine.item_key, Item.collection_id, Item.item_id, Order.org_id, Organisation.name,
               OrderLine.currency, func.count(OrderLine.id), func.sum(OrderLine.amount), func.sum(OrderLine.fee))
        .join(Order, Order.id == OrderLine.order_id).join(Organisation, Organisation.id == Order.org_id)
        .outerjoin(Item, Item.key == OrderLine.item_key)
        .where(OrderLine.provider_org_id == provider, Order.status.in_(SOLD), paid_at >= start, paid_at < end)
        .group_by(OrderLine.item_key, Item.collection_id, Item.item_id, Order.org_id, Organisation.name,
                  OrderLine.currency))
    products: dict[tuple, dict] = {}
    buyers: dict[tuple, dict] = {}
    for item_key, collection_id, item_id, buyer_id, buyer, currency, lines, gross, fees in rows:
        gross, fees = int(gross), int(fees)
        for table, key, head in (
                (products, (item_key, currency), {"product_id": item_key, "product": _product_name(collection_id, item_id)}),
                (buyers, (buyer_id, currency), {"org_id": buyer_id, "name": buyer})):
            entry = table.setdefault(key, {**head, "currency": currency, "lines": 0, "gross": 0, "fees": 0, "net": 0})
            entry["lines"] += lines
            entry["gross"] += gross
            entry["fees"] += fees
            entry["net"] += gross - fees
        totals[currency]["gross"] += gross
        totals[currency]["fees"] += fees
        totals[currency]["net"] += gross - fees
    order = lambda e: (e["currency"], -e["gross"], str(e.get("product_id") or e.get("org_id")))  # noqa: E731
    return sorted(products.values(), key=order), sorted(buyers.values(), key=order)


def _refunds(provider: uuid.UUID, start: dt.datetime, end: dt.datetime, totals: dict) -> list[dict]:
    rows = db.session.execute(
        select(Order.id, Order.cancelled_at, OrderLine.item_key, Item.collection_id, Item.item_id, Order.org_id,
               Organisation.name, OrderLine.currency, OrderLine.amount, OrderLine.fee)
        .join(Order, Order.id == OrderLine.order_id).join(Organisation, Organisation.id == Order.org_id)
        .outerjoin(Item, Item.key == OrderLine.item_key)
        .where(OrderLine.provider_org_id == provider, Order.status == OrderStatus.refunded,
               Order.cancelled_at >= start, Order.cancelled_at < end)
        .order_by(Order.cancelled_at, Order.id, OrderLine.id))
    refunds = []
    for order_id, refunded_at, item_key, collection_id, item_id, buyer_id, buyer, currency, amount, fee in rows:
        refunds.append({"order_id": order_id, "refunded_at": refunded_at, "product_id": item_key,
                        "product": _product_name(collection_id, item_id), "buyer_org_id": buyer_id, "buyer": buyer,
                        "currency": currency, "gross": -amount, "fees": -fee, "net": -(amount - fee)})
        totals[currency]["refunded"] += amount
        totals[currency]["refunded_fees"] += fee
        totals[currency]["refunded_net"] += amount - fee
    return refunds


def _payouts(receivables: list[int], start: dt.datetime, end: dt.datetime, totals: dict) -> list[dict]:
    if not receivables:
        return []
    rows = db.session.execute(
        select(Transfer.id, Transfer.created_at, Transfer.reference, Posting.currency, Posting.amount)
        .join(Posting, Posting.transfer_id == Transfer.id)
        .where(Posting.account_id.in_(receivables), Transfer.kind == TransferKind.payout,
               Transfer.created_at >= start, Transfer.created_at < end)
        .order_by(Transfer.created_at, Posting.id))
    payouts = []
    for transfer_id, created_at, reference, currency, amount in rows:
        payouts.append({"transfer_id": transfer_id, "created_at": created_at, "reference": reference,
                        "currency": currency, "amount": -amount})
        totals[currency]["payouts"] += -amount
    return payouts


def _receivable_at(receivables: list[int], bound: dt.datetime) -> dict[str, int]:
    """The receivable's balance per currency just before ``bound``: the sum of its earlier postings."""
    if not receivables:
        return {}
    rows = db.session.execute(
        select(Posting.currency, func.sum(Posting.amount)).join(Transfer, Transfer.id == Posting.transfer_id)
        .where(Posting.account_id.in_(receivables), Transfer.created_at < bound).group_by(Posting.currency))
    return {currency: int(total) for currency, total in rows}


# -- CSV ---------------------------------------------------------------------------------------------------
CSV_COLUMNS = ("section", "currency", "id", "name", "date", "lines", "gross", "fees", "net")


def statement_csv(doc: dict) -> str:
    """The statement as one CSV table: a section column, then per-row figures in minor units."""
    rows = []
    for entry in doc["by_product"]:
        rows.append(("product", entry["currency"], entry["product_id"], entry["product"], None, entry["lines"],
                     entry["gross"], entry["fees"], entry["net"]))
    for entry in doc["by_buyer"]:
        rows.append(("buyer", entry["currency"], entry["org_id"], entry["name"], None, entry["lines"],
                     entry["gross"], entry["fees"], entry["net"]))
    for entry in doc["refunds"]:
        rows.append(("refund", entry["currency"], entry["order_id"], entry["product"], entry["refunded_at"], 1,
                     entry["gross"], entry["fees"], entry["net"]))
    for entry in doc["payouts"]:
        rows.append(("payout", entry["currency"], entry["transfer_id"], entry["reference"], entry["created_at"], None,
                     None, None, -entry["amount"]))
    for currency, figures in doc["totals"].items():
        for name in TOTALS:
            rows.append(("total", currency, None, name, None, None, None, None, figures[name]))
    return csv_text(CSV_COLUMNS, rows)
