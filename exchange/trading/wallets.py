"""Wallets: money an administrator brings onto the platform (top-ups) or pays out to a provider, and
what an organisation sees of its own accounts.

A top-up moves money from the ``external`` account of its currency into the organisation's
``wallet``; a payout moves it from the organisation's ``receivable`` back out to ``external``. Both
are one ledger transfer in one unit of work: refused, nothing is written (not even an account
opened). Reads never open accounts: an organisation that never held money has empty balances.
"""
from __future__ import annotations

import uuid

from sqlalchemy import select

from auth.models import Organisation
from exchange.core import paging
from exchange.core.db import db, unit_of_work
from exchange.core.problems import Conflict, NotFound, ValidationProblem
from exchange.policy import Identity, require
from exchange.sharing import audit
from exchange.trading import ledger
from exchange.trading.ledger import Leg
from exchange.trading.models import AccountKind, LedgerAccount, Posting, Transfer, TransferKind


def organisation(org_id: uuid.UUID) -> Organisation:
    """The organisation, or 404."""
    org = db.session.get(Organisation, org_id)
    if org is None:
        raise NotFound(f"No organisation {org_id}.")
    return org


#: The largest id a BIGINT column holds.
MAX_ROW_ID = 2**63 - 1


def bad_cursor() -> ValidationProblem:
    return ValidationProblem("The cursor is not valid.", errors=[{"field": "after", "message": "bad cursor"}])


def cursor_id(after: str | None) -> int | None:
    """The integer row id a listing's cursor holds (``None`` for the first page), or a 422."""
    if not after:
        return None
    try:
        value = int(paging.decode_key(after))
    except ValueError:  # paging.BadCursor is one
        raise bad_cursor() from None
    if not 0 <= value <= MAX_ROW_ID:  # a forged cursor: the database would refuse the number (a 500)
        raise bad_cursor()
    return value


# -- views ------------------------------------------------------------------------------------------------
def transfer_view(record: Transfer, account: LedgerAccount | None = None) -> dict:
    """A transfer as an administrator sees it: what moved, between which accounts; with ``account``,
    that account's balance right after (read under the transfer's row lock)."""
    postings = [{"account": p.account.name, "kind": p.account.kind.value, "org_id": p.account.org_id,
                 "amount": p.amount, "currency": p.currency} for p in record.postings]
    moved = sum(p["amount"] for p in postings if p["amount"] > 0)
    view = {"id": record.id, "kind": record.kind.value, "amount": moved,
            "currency": postings[0]["currency"] if postings else None, "reference": record.reference,
            "order_id": record.order_id, "created_by": record.created_by, "created_at": record.created_at,
            "postings": postings}
    if account is not None:
        view.update(org_id=account.org_id, account=account.kind.value, balance=account.balance)
    return view


def _movement(identity: Identity, action: str, org_id: uuid.UUID, body: dict) -> dict:
    """A top-up or a payout: the same checks, one transfer, the organisation's account after it."""
    require(identity, action)
    org = organisation(org_id)
    amount, currency = body["amount"], body["currency"]
    with unit_of_work():
        outside = ledger.account(AccountKind.external, currency)
        if action == "ledger:topup":
            mine = ledger.account(AccountKind.wallet, currency, org.id)
            kind, legs = TransferKind.topup, [Leg(outside, -amount), Leg(mine, amount)]
        else:
            mine = ledger.find_account(AccountKind.receivable, currency, org.id)
            if mine is None:  # never earned anything in this currency: nothing to pay out
                raise _short(org, currency, amount, available=0)
            kind, legs = TransferKind.payout, [Leg(mine, -amount), Leg(outside, amount)]
        try:
            record = ledger.transfer(kind, legs, reference=body["reference"], created_by=identity.user_id)
        except ledger.InsufficientFunds as exc:
            raise _short(org, currency, amount, available=amount - exc.shortfall) from None
        except ledger.OutOfRange:
            raise Conflict(f"This would take a {currency} balance beyond what the ledger can hold; nothing was "
                           "moved.", currency=currency, requested=amount) from None
        audit.record("wallet.topup" if action == "ledger:topup" else "wallet.payout", actor_user_id=identity.user_id,
                     actor_org_id=identity.org_id, object_type="transfer", object_id=record.id,
                     details={"org_id": str(org.id), "amount": amount, "currency": currency,
                              "reference": body["reference"]})
        return transfer_view(record, mine)


def _short(org: Organisation, currency: str, amount: int, *, available: int) -> Conflict:
    return Conflict(f"{org.name}'s {currency} receivable holds {available}; a payout of {amount} is more than that. "
                    "Nothing was paid out.", currency=currency, requested=amount, available=available)


def top_up(identity: Identity, org_id: uuid.UUID, body: dict) -> dict:
    """Credit an organisation's wallet with money received outside the platform (``body``: amount,
    currency, reference); the transfer and the wallet's balance after it."""
    return _movement(identity, "ledger:topup", org_id, body)


def pay_out(identity: Identity, org_id: uuid.UUID, body: dict) -> dict:
    """Pay a provider what its receivable holds, or part of it; 409 naming what is available if the
    amount is more."""
    return _movement(identity, "ledger:payout", org_id, body)


def get_transfer(identity: Identity, transfer_id: uuid.UUID) -> dict:
    """One transfer with its postings (administrators)."""
    require(identity, "ledger:read")
    record = db.session.get(Transfer, transfer_id)
    if record is None:
        raise NotFound(f"No transfer {transfer_id}.")
    return transfer_view(record)


# -- an organisation's wallet ---------------------------------------------------------------------------------
def own_wallet(identity: Identity, *, after: str | None, limit: int) -> dict:
    """The caller's organisation's balances and its transfers, newest first."""
    org = db.session.get(Organisation, identity.org_id) if identity.org_id else None
    require(identity, "wallet:read", org)
    return _wallet(org, after=after, limit=limit)


def org_wallet(identity: Identity, org_id: uuid.UUID, *, after: str | None, limit: int) -> dict:
    """Any organisation's wallet, as its members see it (administrators)."""
    require(identity, "ledger:read")
    return _wallet(organisation(org_id), after=after, limit=limit)


def _wallet(org: Organisation, *, after: str | None, limit: int) -> dict:
    last = cursor_id(after)
    accounts = {a.id: a for a in db.session.scalars(select(LedgerAccount).where(LedgerAccount.org_id == org.id))}
    balances = {AccountKind.wallet: {}, AccountKind.receivable: {}}
    for held in sorted(accounts.values(), key=lambda a: a.currency):
        balances[held.kind][held.currency] = held.balance
    rows = []
    if accounts:
        query = (select(Posting.id, Posting.account_id, Posting.amount, Posting.currency, Transfer.id,
                        Transfer.kind, Transfer.reference, Transfer.order_id, Transfer.created_at)
                 .join(Transfer, Transfer.id == Posting.transfer_id)
                 .where(Posting.account_id.in_(list(accounts))))
        if last is not None:
            query = query.where(Posting.id < last)
        rows = list(db.session.execute(query.order_by(Posting.id.desc()).limit(limit + 1)))
    page, more = paging.cut(rows, limit)
    transfers = [{"id": transfer_id, "kind": kind.value, "account": accounts[account_id].kind.value,
                  "amount": amount, "currency": currency, "reference": reference, "order_id": order_id,
                  "created_at": created_at}
                 for _, account_id, amount, currency, transfer_id, kind, reference, order_id, created_at in page]
    return {"org_id": org.id, "balances": balances[AccountKind.wallet],
            "receivables": balances[AccountKind.receivable], "transfers": transfers,
            "next": paging.encode(str(page[-1][0])) if more else None}
