"""The books as an administrator audits them: the trial balance and every account.

Double entry means the balances of all accounts sum to zero in each currency (the trial balance),
and so do all postings; and each account's stored balance equals the sum of its postings. ``check``
verifies all three from the database, so a bug that wrote one side of a movement, or a hand-made
UPDATE of a balance, shows up here (and in ``flask --app app sdx ledger check``).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import and_, func, or_, select

from exchange.core import paging
from exchange.core.db import db
from exchange.policy import Identity, require
from exchange.trading.models import AccountKind, LedgerAccount, Posting, Transfer
from exchange.trading.wallets import bad_cursor, cursor_id, transfer_view


@dataclass
class LedgerCheck:
    trial_balance: dict[str, int]  # currency -> sum of account balances
    postings_total: dict[str, int]  # currency -> sum of all postings
    #: accounts whose stored balance is not the sum of their postings: name, balance, postings
    mismatched: list[dict] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return not any(self.trial_balance.values()) and not any(self.postings_total.values()) \
            and not self.mismatched


def _sums(query) -> dict[str, int]:
    return {currency: int(total or 0) for currency, total in sorted(db.session.execute(query))}


def check() -> LedgerCheck:
    """Add up the whole ledger (three aggregate queries; no locks, so run it on a quiet ledger or
    accept that a transfer committing meanwhile may show as a passing difference)."""
    trial = _sums(select(LedgerAccount.currency, func.sum(LedgerAccount.balance)).group_by(LedgerAccount.currency))
    postings = _sums(select(Posting.currency, func.sum(Posting.amount)).group_by(Posting.currency))
    per_account = select(Posting.account_id, func.sum(Posting.amount).label("total")) \
        .group_by(Posting.account_id).subquery()
    mismatched = [{"account": name, "balance": balance, "postings": int(total or 0)}
                  for name, balance, total in db.session.execute(
                      select(LedgerAccount.name, LedgerAccount.balance, per_account.c.total)
                      .outerjoin(per_account, per_account.c.account_id == LedgerAccount.id)
                      .where(LedgerAccount.balance != func.coalesce(per_account.c.total, 0))
                      .order_by(LedgerAccount.id))]
    return LedgerCheck(trial, postings, mismatched)


def account_view(held: LedgerAccount) -> dict:
    return {"id": held.id, "name": held.name, "org_id": held.org_id, "kind": held.kind.value,
            "currency": held.currency, "balance": held.balance, "created_at": held.created_at}


def ledger_overview(identity: Identity, *, org_id: uuid.UUID | None, kind: AccountKind | None,
                    after: str | None, limit: int) -> dict:
    """The accounts (optionally of one organisation or kind), by id, and on the first page the check of
    the whole ledger (three aggregates over every posting: not worth repeating on every page; null after)."""
    require(identity, "ledger:read")
    last = cursor_id(after)
    query = select(LedgerAccount)
    if org_id is not None:
        query = query.where(LedgerAccount.org_id == org_id)
    if kind is not None:
        query = query.where(LedgerAccount.kind == kind)
    if last is not None:
        query = query.where(LedgerAccount.id > last)
    page, more = paging.cut(list(db.session.scalars(query.order_by(LedgerAccount.id).limit(limit + 1))), limit)
    books = check() if last is None else None
    return {"trial_balance": books and books.trial_balance, "postings_total": books and books.postings_total,
            "balanced": books and books.balanced, "mismatched_accounts": books and books.mismatched,
            "accounts": [account_view(a) for a in page], "next": paging.encode(str(page[-1].id)) if more else None}


def recent_transfers(identity: Identity, *, after: str | None, limit: int) -> tuple[list[dict], str | None]:
    """Every transfer (top-ups, payouts, orders, refunds) with its postings, newest first by the time it
    counts from, a page at a time; the cursor holds the last transfer's id."""
    require(identity, "ledger:read")
    query = select(Transfer)
    if after:
        try:
            last = db.session.get(Transfer, uuid.UUID(paging.decode_key(after)))
        except ValueError:  # paging.BadCursor is one
            raise bad_cursor() from None
        if last is None:
            raise bad_cursor()
        query = query.where(or_(Transfer.created_at < last.created_at,
                                and_(Transfer.created_at == last.created_at, Transfer.id < last.id)))
    rows, more = paging.cut(list(db.session.scalars(
        query.order_by(Transfer.created_at.desc(), Transfer.id.desc()).limit(limit + 1))), limit)
    return [transfer_view(record) for record in rows], (paging.encode(str(rows[-1].id)) if more else None)
