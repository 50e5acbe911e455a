"""Monthly spending caps: a buyer organisation's budget per currency, per calendar month (UTC).

What counts as spent is what the organisation's orders paid this month and still hold (a refunded
order gives its money back to the budget too). An order checks the cap with the buyer's wallet row
locked (``orders.place_order``), so two orders at once cannot both fit in what is left.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select

from exchange.core.db import db, unit_of_work, utcnow
from exchange.core.problems import NotFound, Problem
from exchange.policy import Identity, require
from exchange.trading.models import Order, OrderLine, OrderStatus, SpendingCap

SPENT_STATUSES = (OrderStatus.paid, OrderStatus.fulfilled)


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def spent_this_month(org_id: uuid.UUID, currency: str, now: datetime, *, but: uuid.UUID | None = None) -> int:
    """Paid this month by the organisation's orders that still hold their money (``but`` one being placed)."""
    query = (select(func.coalesce(func.sum(OrderLine.amount), 0)).join(Order, Order.id == OrderLine.order_id)
             .where(Order.org_id == org_id, OrderLine.currency == currency, Order.status.in_(SPENT_STATUSES),
                    Order.paid_at >= month_start(now)))
    if but is not None:
        query = query.where(Order.id != but)
    return int(db.session.scalar(query) or 0)  # PostgreSQL's SUM of bigint is a numeric


def has_cap(org_id: uuid.UUID, currency: str) -> bool:
    return db.session.get(SpendingCap, (org_id, currency)) is not None


def check(org_id: uuid.UUID, currency: str, amount: int, now: datetime, *, order_id: uuid.UUID | None = None) -> None:
    """402 if spending ``amount`` more this month would pass the organisation's cap in ``currency``."""
    cap = db.session.get(SpendingCap, (org_id, currency))
    if cap is None or amount == 0:
        return
    spent = spent_this_month(org_id, currency, now, but=order_id)
    left = max(cap.monthly_limit - spent, 0)
    if amount > left:
        raise Problem(f"This order costs {amount} {currency} minor units, but only {left} are left of your "
                      f"organisation's monthly spending cap of {cap.monthly_limit} {currency}.", status=402,
                      title="Spending cap exceeded", cap={"currency": currency, "monthly_limit": cap.monthly_limit,
                                                          "spent": spent, "remaining": left},
                      required=amount, currency=currency)


def cap_view(cap: SpendingCap, now: datetime) -> dict:
    spent = spent_this_month(cap.org_id, cap.currency, now)
    return {"currency": cap.currency, "monthly_limit": cap.monthly_limit, "month": now.strftime("%Y-%m"),
            "spent": spent, "remaining": max(cap.monthly_limit - spent, 0), "updated_at": cap.updated_at.isoformat()}


def list_caps(identity: Identity) -> list[dict]:
    require(identity, "spending-cap:read")
    now = utcnow()
    caps = db.session.scalars(select(SpendingCap).where(SpendingCap.org_id == identity.org_id)
                              .order_by(SpendingCap.currency))
    return [cap_view(cap, now) for cap in caps]


def set_cap(identity: Identity, currency: str, monthly_limit: int) -> dict:
    """Set (or change) the caller's organisation's monthly cap in ``currency``."""
    require(identity, "spending-cap:write")
    with unit_of_work():
        cap = db.session.get(SpendingCap, (identity.org_id, currency))
        if cap is None:
            cap = SpendingCap(org_id=identity.org_id, currency=currency, monthly_limit=monthly_limit)
            db.session.add(cap)
        cap.monthly_limit = monthly_limit
        cap.updated_at = utcnow()
    return cap_view(cap, utcnow())


def remove_cap(identity: Identity, currency: str) -> None:
    require(identity, "spending-cap:write")
    with unit_of_work():
        cap = db.session.get(SpendingCap, (identity.org_id, currency))
        if cap is None:
            raise NotFound(f"Your organisation has no spending cap in {currency}.")
        db.session.delete(cap)
