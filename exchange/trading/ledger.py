"""The double-entry ledger: accounts found or opened by name, and transfers that always balance.

Every movement of money is one ``transfer``: its legs sum to zero per currency, the accounts it
touches are locked in account-id order (so two transfers never wait on each other in a cycle), and
their balances move by an UPDATE relative to the stored value. A wallet or receivable that would go
below zero is refused before anything is written (``InsufficientFunds``, with the shortfall), and
the database's CHECK constraint refuses it again should any code path forget to ask.
"""
from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, select, update
from sqlalchemy.dialects import postgresql, sqlite

from exchange.core.db import db, hold_sqlite_write_lock, utcnow
from exchange.trading.models import AccountKind, LedgerAccount, Posting, Transfer, TransferKind

#: Accounts that may not go below zero (the CHECK constraint says the same).
NEVER_NEGATIVE = (AccountKind.wallet, AccountKind.receivable)


class InsufficientFunds(Exception):
    """An account that may not go negative would: ``shortfall`` minor units are missing."""

    def __init__(self, account: LedgerAccount, shortfall: int) -> None:
        super().__init__(f"{account.name} is short of {shortfall} {account.currency} minor units")
        self.account = account
        self.shortfall = shortfall


class Unbalanced(ValueError):
    """A transfer whose legs do not sum to zero in some currency (a programming error)."""


#: The largest balance a BIGINT column holds (either sign).
BALANCE_LIMIT = 2**63 - 1


class OutOfRange(ValueError):
    """A balance would leave the range the database stores (the account and the amount say which)."""

    def __init__(self, account: LedgerAccount, amount: int) -> None:
        super().__init__(f"{account.name} cannot move by {amount}: its balance would leave the storable range")
        self.account = account
        self.amount = amount


def account_name(kind: AccountKind, currency: str, org_id: uuid.UUID | None = None) -> str:
    if kind in (AccountKind.wallet, AccountKind.receivable):
        if org_id is None:
            raise ValueError(f"a {kind.value} account belongs to an organisation")
        return f"org:{org_id}:{kind.value}:{currency}"
    return f"platform:{kind.value}:{currency}" if kind is AccountKind.revenue else f"external:{currency}"


def account(kind: AccountKind, currency: str, org_id: uuid.UUID | None = None) -> LedgerAccount:
    """The account, opened at zero on first use (race-free: two first uses open it once)."""
    name = account_name(kind, currency, org_id)
    found = db.session.scalar(select(LedgerAccount).where(LedgerAccount.name == name))
    if found is not None:
        return found
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    db.session.execute(insert(LedgerAccount).values(name=name, org_id=org_id, kind=kind, currency=currency,
                                                    balance=0).on_conflict_do_nothing(index_elements=["name"]))
    return db.session.scalar(select(LedgerAccount).where(LedgerAccount.name == name))


def find_account(kind: AccountKind, currency: str, org_id: uuid.UUID | None = None) -> LedgerAccount | None:
    """The account if it was ever opened (reads must not open accounts)."""
    return db.session.scalar(select(LedgerAccount).where(LedgerAccount.name == account_name(kind, currency, org_id)))


@dataclass(frozen=True)
class Leg:
    account: LedgerAccount
    amount: int  # signed minor units, in the account's currency


def transfer(kind: TransferKind, legs: list[Leg], *, reference: str | None = None,
             order_id: uuid.UUID | None = None, created_by: uuid.UUID | None = None,
             at: datetime | None = None) -> Transfer:
    """Record one balanced movement inside the caller's unit of work (it commits, or rolls back).

    ``at`` dates it (default: now): an order's payment and refund carry the order's ``paid_at`` and
    ``cancelled_at``, so that a statement never finds a sale and its receivable in different months."""
    sums: dict[str, int] = defaultdict(int)
    for leg in legs:
        if not isinstance(leg.amount, int) or isinstance(leg.amount, bool):
            raise Unbalanced("amounts are integers of minor units")
        sums[leg.account.currency] += leg.amount
    if len(legs) < 2 or any(sums.values()):
        raise Unbalanced(f"a transfer needs two or more legs summing to zero per currency, got {dict(sums)}")
    if not any(leg.amount for leg in legs):  # it would be a transfer of no postings: nothing moved
        raise Unbalanced("a transfer moves money: every leg is zero")
    moves: dict[int, int] = defaultdict(int)
    for leg in legs:
        moves[leg.account.id] += leg.amount
    ids = sorted(moves)
    # SQLite: the write lock before the balances are read (else two debits could both pass the check
    # and the CHECK constraint refuse the second, a 500).
    hold_sqlite_write_lock(LedgerAccount.balance, LedgerAccount.id.in_(ids))
    # Row locks in id order (PostgreSQL), then fresh balances.
    locked = {a.id: a for a in db.session.scalars(
        select(LedgerAccount).where(LedgerAccount.id.in_(ids)).order_by(LedgerAccount.id)
        .with_for_update().execution_options(populate_existing=True))}
    for account_id in ids:
        held = locked[account_id]
        if held.kind in NEVER_NEGATIVE and held.balance + moves[account_id] < 0:
            raise InsufficientFunds(held, -(held.balance + moves[account_id]))
        if abs(held.balance + moves[account_id]) > BALANCE_LIMIT:  # else a DataError (500) on PostgreSQL
            raise OutOfRange(held, moves[account_id])
    moving = [account_id for account_id in ids if moves[account_id]]
    # One statement for every account (the rows are locked already, so its order does not matter).
    db.session.execute(update(LedgerAccount).where(LedgerAccount.id.in_(moving))
                       .values(balance=LedgerAccount.balance + case(
                           {account_id: moves[account_id] for account_id in moving}, value=LedgerAccount.id))
                       .execution_options(synchronize_session=False))
    for account_id in moving:
        db.session.expire(locked[account_id], ["balance"])
    record = Transfer(kind=kind, reference=reference, order_id=order_id, created_by=created_by,
                      created_at=at or utcnow())
    db.session.add(record)
    db.session.flush()
    db.session.add_all(Posting(transfer_id=record.id, account_id=leg.account.id, currency=leg.account.currency,
                               amount=leg.amount) for leg in legs if leg.amount)
    db.session.flush()
    db.session.expire(record, ["postings"])
    return record
