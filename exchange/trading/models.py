"""Quotes, orders, the double-entry ledger, spending caps, idempotency keys and webhooks.

Money is an integer count of a currency's minor units (fen, cents) everywhere. The ledger is
double-entry: a ``Transfer`` is immutable and holds two or more ``Posting`` rows that sum to zero per
currency; each ``LedgerAccount`` keeps its balance on its row, updated under row locks taken in
account-id order, and the database itself refuses a wallet or receivable below zero.
"""
from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import JSON, BigInteger, CheckConstraint, Float, ForeignKey, Index, Integer, String, Text, \
    UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exchange.core.db import UTCDateTime, db, new_id, string_enum, utcnow


class AccountKind(str, enum.Enum):
    wallet = "wallet"  # an organisation's prepaid money, spent on orders
    receivable = "receivable"  # what the platform owes a provider for its sales
    revenue = "revenue"  # the platform's fees (one per currency, no organisation)
    external = "external"  # money entering or leaving the platform (one per currency)


class TransferKind(str, enum.Enum):
    topup = "topup"
    payout = "payout"
    order = "order"
    refund = "refund"


class OrderStatus(str, enum.Enum):
    created = "created"
    paid = "paid"
    fulfilled = "fulfilled"
    cancelled = "cancelled"
    refunded = "refunded"


class LedgerAccount(db.Model):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("name", name="uq_ledger_accounts_name"),
        CheckConstraint("kind NOT IN ('wallet', 'receivable') OR balance >= 0", name="balance_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: ``org:<uuid>:wallet:CNY``, ``platform:revenue:CNY``, ``external:CNY``: unique on every backend
    #: (a unique constraint over a nullable org_id would not be).
    name: Mapped[str] = mapped_column(String(100))
    org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[AccountKind] = mapped_column(string_enum(AccountKind, "ledger_account_kind"))
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Transfer(db.Model):
    """One movement of money: immutable, its postings sum to zero per currency."""

    __tablename__ = "ledger_transfers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    kind: Mapped[TransferKind] = mapped_column(string_enum(TransferKind, "ledger_transfer_kind"))
    reference: Mapped[str | None] = mapped_column(Text)
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"), index=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    postings: Mapped[list["Posting"]] = relationship(back_populates="transfer", lazy="selectin",
                                                     order_by="Posting.id")


class Posting(db.Model):
    """One leg of a transfer: ``amount`` (signed, minor units) into an account."""

    __tablename__ = "ledger_postings"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        Index("ix_ledger_postings_account_id_id", "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                    autoincrement=True)
    transfer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_transfers.id", ondelete="RESTRICT"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id", ondelete="RESTRICT"))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)

    transfer: Mapped[Transfer] = relationship(back_populates="postings")
    account: Mapped[LedgerAccount] = relationship(lazy="joined")


class SpendingCap(db.Model):
    """A buyer organisation's monthly spending cap in one currency (calendar month, UTC)."""

    __tablename__ = "spending_caps"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    monthly_limit: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Quote(db.Model):
    __tablename__ = "quotes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    totals: Mapped[dict] = mapped_column(JSON, default=dict)  # currency -> minor units
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    lines: Mapped[list["QuoteLine"]] = relationship(back_populates="quote", lazy="selectin",
                                                    order_by="QuoteLine.position", cascade="all, delete-orphan")


class QuoteLine(db.Model):
    """One product of a quote, priced — or, with ``reason``, why it cannot be licensed."""

    __tablename__ = "quote_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    quote_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("quotes.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    item_key: Mapped[int | None] = mapped_column(BigInteger)  # as asked; not a key, it may not exist
    offer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    offer_revision: Mapped[int | None] = mapped_column(Integer)
    license_ref: Mapped[str | None] = mapped_column(String(80))  # code@version
    aoi: Mapped[dict | None] = mapped_column(JSON)
    quantity: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(16))  # scene | km2 | GB
    unit_price: Mapped[int | None] = mapped_column(BigInteger)
    discount_percent: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    reason: Mapped[str | None] = mapped_column(Text)

    quote: Mapped[Quote] = relationship(back_populates="lines")


class Order(db.Model):
    __tablename__ = "orders"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    quote_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("quotes.id", ondelete="RESTRICT"), unique=True)
    status: Mapped[OrderStatus] = mapped_column(string_enum(OrderStatus, "order_status"), default=OrderStatus.created)
    totals: Mapped[dict] = mapped_column(JSON, default=dict)
    accepted_licenses: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    paid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    fulfilled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    lines: Mapped[list["OrderLine"]] = relationship(back_populates="order", lazy="selectin",
                                                    order_by="OrderLine.id", cascade="all, delete-orphan")


class OrderLine(db.Model):
    """What one product of an order cost, what the provider earns and the platform's fee."""

    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    item_key: Mapped[int | None] = mapped_column(ForeignKey("items.key", ondelete="SET NULL"))
    provider_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"),
                                                       index=True)
    offer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("offers.id", ondelete="SET NULL"))
    entitlement_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("entitlements.id", ondelete="SET NULL"))
    license_ref: Mapped[str] = mapped_column(String(80))
    quantity: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[int] = mapped_column(BigInteger)  # what the buyer paid for the line
    fee: Mapped[int] = mapped_column(BigInteger)  # the platform's part of it

    order: Mapped[Order] = relationship(back_populates="lines")


class IdempotencyKey(db.Model):
    """An ``Idempotency-Key`` an organisation used, the request it came with and the first answer."""

    __tablename__ = "idempotency_keys"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of method, path and body
    response_status: Mapped[int | None] = mapped_column(Integer)  # None: the first request is in flight
    response_body: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class WebhookEndpoint(db.Model):
    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str] = mapped_column(String(100))  # whsec_<base64>, Standard Webhooks
    events: Mapped[list] = mapped_column(JSON, default=list)  # empty: every event
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(db.Model):
    """One event sent (or being sent) to one endpoint, with what came of each attempt."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)  # the webhook-id
    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
                                                   index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: Every attempt so far, oldest first: ``{"at", "status_code", "error", "duration_ms"}``.
    attempt_log: Mapped[list] = mapped_column(JSON, default=list)
    #: When the next attempt is due (pending), or until when the attempt under way holds the delivery.
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
