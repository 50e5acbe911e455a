"""Orders: a quote paid from the buyer's wallet and turned into entitlements, in one transaction.

``place_order`` checks, inside one unit of work, that the quote is the caller's, unexpired, not
ordered yet, that every offer it priced is unchanged (same revision, still on sale; else 409 with
the new figures), that every licence is accepted by ``code@version``, that the organisation's
monthly cap leaves room, and that the wallet holds the price (402 with the shortfall); then one
ledger transfer per currency moves the price from the buyer's wallet to each provider's receivable
(price − fee) and the platform's revenue (the fee), and each line gets its entitlement. Any refusal
rolls back everything. Wallets are per currency and money is never converted: an offer in USD is
paid from the USD wallet, whatever the CNY one holds.

``cancel_order`` refunds in full (one reverse transfer per currency) while nothing entitled has been
downloaded and the refund window (``REFUND_WINDOW_HOURS`` after payment) is open.
"""
from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError

from auth.models import Organisation
from exchange.catalog.models import Item
from exchange.core import paging
from exchange.core.db import db, hold_sqlite_write_lock, new_id, unit_of_work, utcnow
from exchange.core.problems import Conflict, Problem, ValidationProblem, body_of
from exchange.licensing.models import Entitlement, EntitlementStatus, Offer
from exchange.policy import Identity, decide, forbidden, query_filter, require_own
from exchange.sharing import audit
from exchange.trading import caps, events, fulfilment, idempotency, ledger, pricing
from exchange.trading.models import AccountKind, LedgerAccount, Order, OrderLine, OrderStatus, Quote, TransferKind
from exchange.trading.quotes import licenses_of, offer_for, valid_lines

ORDERS_PATH = "/api/v1/orders"


# -- placing -------------------------------------------------------------------------------------------
def place_order(identity: Identity, body: dict, idempotency_key: str | None) -> tuple[int, dict]:
    """Order a quote (``quote_id``, ``accept_licenses``) once per ``Idempotency-Key``: (status, answer)."""
    key = idempotency.parse_key(idempotency_key)
    replay = idempotency.claim(identity.org_id, key, idempotency.fingerprint("POST", ORDERS_PATH, body))
    if replay is not None:
        return replay.status, replay.body
    try:
        return 201, _order_quote(identity, body["quote_id"], list(body["accept_licenses"]), key)
    except Problem as refusal:  # the key's answer: the same key and body get it again, unchanged
        idempotency.record_refusal(identity.org_id, key, refusal.status, body_of(refusal))
        raise
    except Exception:
        idempotency.release(identity.org_id, key)  # failed, not refused: no answer to keep
        raise


def _changed_lines(identity: Identity, quote: Quote, now: datetime) -> tuple[list, list[dict]]:
    """(line, item, offer) for each line still priced as quoted, and what changed for the others.

    The quote's offers are read under a shared row lock (in id order) until the order commits, so a
    PATCH of one of them waits rather than slipping between this check and the payment (on SQLite
    the order holds the database's write lock from its start: see ``_order_quote``)."""
    offer_ids = sorted({line.offer_id for line in valid_lines(quote)})
    db.session.execute(select(Offer).where(Offer.id.in_(offer_ids)).order_by(Offer.id)
                       .with_for_update(read=True, of=Offer).execution_options(populate_existing=True))
    current, changes = [], []
    for line in valid_lines(quote):
        item, offer = db.session.get(Item, line.item_key), None
        if item is None or not decide(identity, "item:read", item):
            why = "the product is no longer available"
        elif not (licensing := decide(identity, "item:license", item)):
            raise forbidden(licensing)  # a sharing policy refuses it now: the order, with its rule and policy
        else:
            offer, why = offer_for(line.offer_id, item, now)
            if why is None and offer.revision != line.offer_revision:
                why = "the offer changed since the quote"
        if why is None:
            current.append((line, item, offer))
            continue
        now_figures = None
        if why == "the offer changed since the quote":
            aoi = pricing.parse_aoi(line.aoi) if line.aoi else None
            org_kind = db.session.get(Organisation, identity.org_id).kind.value
            priced = pricing.price(offer, item.geometry, aoi, org_kind)
            now_figures = {"quantity": priced.quantity, "unit": priced.unit, "unit_price": priced.unit_price,
                           "discount_percent": priced.discount_percent, "total": priced.total,
                           "currency": priced.currency, "license": offer.template.ref, "revision": offer.revision}
        changes.append({"product_id": line.item_key, "offer_id": line.offer_id, "reason": why,
                        "quoted": {"quantity": line.quantity, "unit_price": line.unit_price, "total": line.total,
                                   "currency": line.currency, "license": line.license_ref,
                                   "revision": line.offer_revision},
                        "now": now_figures})
    return current, changes


def _accounts(specs: list[tuple[AccountKind, str, uuid.UUID | None]]) -> list[LedgerAccount]:
    """The accounts named by (kind, currency, org), read in one query; any never used is opened."""
    names = [ledger.account_name(*spec) for spec in specs]
    found = {a.name: a for a in db.session.scalars(select(LedgerAccount).where(LedgerAccount.name.in_(names)))}
    return [found.get(name) or ledger.account(*spec) for name, spec in zip(names, specs)]


def _legs(org_id: uuid.UUID, currency: str, lines: list[OrderLine], sign: int) -> list[ledger.Leg]:
    """Buyer's wallet → providers' receivables (amount − fee) and platform revenue (fee); ``sign`` −1 reverses."""
    moves: dict[tuple, int] = defaultdict(int)
    moves[(AccountKind.wallet, currency, org_id)] = -sum(line.amount for line in lines)
    for line in lines:
        moves[(AccountKind.receivable, currency, line.provider_org_id)] += line.amount - line.fee
        moves[(AccountKind.revenue, currency, None)] += line.fee
    specs = [spec for spec, amount in moves.items() if amount]
    return [ledger.Leg(account, moves[spec] * sign) for spec, account in zip(specs, _accounts(specs))]


def _pay(order: Order, currency: str, lines: list[OrderLine], now: datetime) -> None:
    total = sum(line.amount for line in lines)
    if total == 0:
        return
    legs = _legs(order.org_id, currency, lines, +1)
    if caps.has_cap(order.org_id, currency):
        # The accounts locked in id order (as the transfer will) before the month's spending is read,
        # so that two orders at once cannot both fit in what is left.
        db.session.execute(select(LedgerAccount.id).where(LedgerAccount.id.in_([leg.account.id for leg in legs]))
                           .order_by(LedgerAccount.id).with_for_update())
        caps.check(order.org_id, currency, total, now, order_id=order.id)  # its own lines are written already
    try:
        ledger.transfer(TransferKind.order, legs, reference=f"order {order.id}", order_id=order.id,
                        created_by=order.user_id, at=order.paid_at)
    except ledger.InsufficientFunds as exc:
        raise Problem(f"Your organisation's {currency} wallet holds {total - exc.shortfall} minor units; this order "
                      f"needs {total} {currency}. Wallets are per currency and never converted: top up the "
                      f"{currency} wallet.", status=402, title="Insufficient funds", shortfall=exc.shortfall,
                      currency=currency, required=total, balance=total - exc.shortfall) from None
    except ledger.OutOfRange as exc:  # a balance the database cannot store: refused, not a 500
        raise Conflict(f"This order would move {exc.account.name} beyond the largest balance the ledger stores; "
                       "ask an administrator.", title="Amount out of range", account=exc.account.name,
                       currency=currency) from None


def _order_quote(identity: Identity, quote_id: uuid.UUID, accepted: list[str], key: str) -> dict:
    now = utcnow()
    try:
        with unit_of_work() as uow:
            # Quotes never change: the lock only makes two orders of one quote take turns (and, on
            # SQLite, holds every other writer off until the order commits).
            hold_sqlite_write_lock(Quote.expires_at, Quote.id == quote_id)
            quote = db.session.scalar(select(Quote).where(Quote.id == quote_id).with_for_update()
                                      .execution_options(populate_existing=True))
            require_own(identity, "order:place", quote, "quote", quote_id)
            if quote.expires_at <= now:
                raise Conflict(f"The quote expired at {quote.expires_at.isoformat()}; ask for a new quote.",
                               title="Quote expired", expired_at=quote.expires_at.isoformat())
            missing = sorted(licenses_of(quote) - set(accepted))
            if missing:
                raise ValidationProblem("Every licence of the quote must be accepted explicitly, by code@version.",
                                        errors=[{"field": "accept_licenses", "message": f"{ref} is not accepted"}
                                                for ref in missing], missing_licenses=missing)
            current, changes = _changed_lines(identity, quote, now)
            if changes:
                raise Conflict("The price or terms of some lines changed since the quote; ask for a new quote.",
                               title="Quote out of date", changes=changes)
            return _fulfil(uow, quote, current, accepted, key, identity.user_id, now)
    except IntegrityError:  # orders.quote_id is unique: the quote was ordered already
        ordered = db.session.scalar(select(Order.id).where(Order.quote_id == quote_id))
        if ordered is None:
            raise
        raise Conflict("This quote has already been ordered.", order_id=str(ordered)) from None


def _fulfil(uow, quote: Quote, current: list, accepted: list[str], key: str, user_id: uuid.UUID | None,
            now: datetime) -> dict:
    """Order the checked ``current`` lines of ``quote``: entitlements, lines, events, then the payment.

    All of it is one transaction, so nobody sees the order between ``paid`` and ``fulfilled``: the
    row is written once, fulfilled, with both timestamps. The payment comes last, so that the
    shared accounts (the providers' receivables, the platform's revenue) stay locked only until the
    commit; a refused payment rolls everything back, announcements included."""
    basis_points = current_app.config["PLATFORM_FEE_BPS"]
    totals: dict[str, int] = defaultdict(int)
    for line, _, _ in current:
        totals[line.currency] += line.total
    order = Order(id=new_id(), org_id=quote.org_id, user_id=user_id, quote_id=quote.id, lines=[],
                  status=OrderStatus.fulfilled, totals=dict(totals), created_at=now, paid_at=now, fulfilled_at=now,
                  accepted_licenses=sorted(set(accepted) & licenses_of(quote)))
    db.session.add(order)
    db.session.flush()  # tables are written in this order: orders, entitlements, their lines
    granted = [fulfilment.grant(order, line, offer, item, now) for line, item, offer in current]
    db.session.flush()
    by_currency: dict[str, list[OrderLine]] = defaultdict(list)
    for (line, item, offer), entitlement in zip(current, granted):
        order_line = OrderLine(item_key=item.key, provider_org_id=item.provider_org_id, offer_id=offer.id,
                               entitlement_id=entitlement.id, license_ref=line.license_ref, quantity=line.quantity,
                               unit=line.unit, currency=line.currency, amount=line.total,
                               fee=pricing.fee(line.total, basis_points))
        order.lines.append(order_line)
        by_currency[line.currency].append(order_line)
    db.session.flush()
    answer = order_view(order)
    idempotency.record(quote.org_id, key, 201, answer)
    _announce(uow, events.order_paid, order)
    for entitlement in granted:
        for org_id in {entitlement.org_id, entitlement.provider_org_id}:
            events.announce(events.entitlement_granted, uow=uow, org_id=org_id,
                            data={"entitlement_id": str(entitlement.id), "order_id": str(order.id),
                                  "product_id": entitlement.item_key,
                                  "license": f"{entitlement.license['code']}@{entitlement.license['version']}"})
    _announce(uow, events.order_fulfilled, order)
    for currency, lines in sorted(by_currency.items()):
        _pay(order, currency, lines, now)
    audit.record("order.placed", actor_user_id=user_id, actor_org_id=order.org_id, object_type="order",
                 object_id=order.id, details={"quote_id": str(quote.id), "totals": order.totals,
                                              "lines": len(order.lines)})
    return answer


def _announce(uow, signal, order: Order) -> None:
    """To the buyer the whole order; to each provider only its own lines."""
    events.announce(signal, uow=uow, org_id=order.org_id, data=order_view(order))
    for provider in sorted({line.provider_org_id for line in order.lines}):
        view = order_view(order)
        view["lines"] = [v for v, line in zip(view["lines"], order.lines) if line.provider_org_id == provider]
        events.announce(signal, uow=uow, org_id=provider, data=view)


# -- cancelling ----------------------------------------------------------------------------------------
def cancel_order(identity: Identity, order_id: uuid.UUID) -> dict:
    """Refund an order in full and mark its entitlements refunded; 409 saying why when it cannot be."""
    now = utcnow()
    with unit_of_work() as uow:
        order = db.session.scalar(select(Order).where(Order.id == order_id).with_for_update()
                                  .execution_options(populate_existing=True))
        require_own(identity, "order:cancel", order, "order", order_id)
        if order.status not in (OrderStatus.paid, OrderStatus.fulfilled):
            raise Conflict(f"This order is {order.status.value}; only a paid order can be cancelled.",
                           status_now=order.status.value)
        closes = order.paid_at + timedelta(hours=current_app.config["REFUND_WINDOW_HOURS"])
        if now >= closes:
            raise Conflict(f"The refund window closed at {closes.isoformat()}.", title="Refund window closed",
                           refund_window_closed_at=closes.isoformat())
        entitlements = list(db.session.scalars(select(Entitlement).where(Entitlement.order_id == order.id)
                                               .with_for_update().execution_options(populate_existing=True)))
        if any(e.bytes_used or e.bytes_reserved for e in entitlements):
            raise Conflict("Data licensed by this order has already been downloaded; it can no longer be refunded.",
                           title="Already downloaded")
        by_currency: dict[str, list[OrderLine]] = defaultdict(list)
        for line in order.lines:
            by_currency[line.currency].append(line)
        for currency, lines in sorted(by_currency.items()):
            if sum(line.amount for line in lines):
                try:
                    ledger.transfer(TransferKind.refund, _legs(order.org_id, currency, lines, -1),
                                    reference=f"refund of order {order.id}", order_id=order.id,
                                    created_by=identity.user_id, at=now)
                except ledger.InsufficientFunds:
                    raise Conflict("The provider has already been paid out for this sale; ask an administrator.",
                                   title="Refund not possible") from None
        order.status, order.cancelled_at = OrderStatus.refunded, now  # the refund transfer is dated the same
        for entitlement in entitlements:
            entitlement.status = EntitlementStatus.refunded
            for org_id in {entitlement.org_id, entitlement.provider_org_id}:
                events.announce(events.entitlement_refunded, uow=uow, org_id=org_id,
                                data={"entitlement_id": str(entitlement.id), "order_id": str(order.id)})
        _announce(uow, events.order_refunded, order)
        audit.record("order.refunded", actor_user_id=identity.user_id, actor_org_id=identity.org_id,
                     object_type="order", object_id=order.id, details={"totals": order.totals,
                                                                      "buyer_org_id": str(order.org_id)})
    return order_view(order)


# -- reading -------------------------------------------------------------------------------------------
def get_order(identity: Identity, order_id: uuid.UUID) -> dict:
    order = db.session.get(Order, order_id)
    require_own(identity, "order:read", order, "order", order_id)
    return order_view(order)


def list_orders(identity: Identity, *, after: str | None, limit: int) -> tuple[list[dict], str | None]:
    """The caller's organisation's orders (an admin's: everyone's), newest first."""
    query = select(Order).where(query_filter(identity, "order:read", Order))
    if after:
        try:
            created, last_id = paging.decode(after)
            created, last_id = datetime.fromisoformat(created), uuid.UUID(last_id)
        except (ValueError, TypeError):  # paging.BadCursor is a ValueError
            raise ValidationProblem("The cursor is not valid.", errors=[{"field": "after", "message": "bad cursor"}]) \
                from None
        query = query.where(or_(Order.created_at < created, and_(Order.created_at == created, Order.id < last_id)))
    orders, more = paging.cut(list(db.session.scalars(
        query.order_by(Order.created_at.desc(), Order.id.desc()).limit(limit + 1))), limit)
    cursor = paging.encode([orders[-1].created_at.isoformat(), str(orders[-1].id)]) if more else None
    return [order_view(order) for order in orders], cursor


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def order_view(order: Order) -> dict:
    return {"id": str(order.id), "status": order.status.value, "quote_id": str(order.quote_id),
            "totals": dict(order.totals or {}), "accepted_licenses": list(order.accepted_licenses or []),
            "license_ids": [str(line.entitlement_id) for line in order.lines if line.entitlement_id],
            "lines": [{"product_id": line.item_key, "offer_id": str(line.offer_id) if line.offer_id else None,
                       "license": line.license_ref, "license_id": str(line.entitlement_id) if line.entitlement_id
                       else None, "quantity": line.quantity, "unit": line.unit, "currency": line.currency,
                       "amount": line.amount} for line in order.lines],
            "created_at": _iso(order.created_at), "paid_at": _iso(order.paid_at),
            "fulfilled_at": _iso(order.fulfilled_at), "cancelled_at": _iso(order.cancelled_at)}
