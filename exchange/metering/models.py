"""What the download gateway records: reservations in flight, counted downloads, meter events, daily usage.

A ``DownloadReservation`` is the bytes one response may still send, held against its entitlement's
allowance (``Entitlement.bytes_reserved``) from before the first byte until the stream settles; its
``bytes_observed`` is what the stream had reported sent at its last heartbeat, all a reaper may
charge for a reservation whose process died. A ``DownloadVisit`` is one counted download in the
COUNTER sense (requests of the same asset by the same user within 30 s, and the range requests of
one resumed download, are one visit). ``MeterEvent`` rows are append-only: one per download attempt,
refusals included. ``DailyUsage`` is their roll-up per day × organisation × product.
"""
from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from exchange.core.db import UTCDateTime, db, new_id, utcnow

#: An integer primary key that is a BIGINT on PostgreSQL and SQLite's rowid on SQLite.
BigId = BigInteger().with_variant(Integer, "sqlite")


class DownloadReservation(db.Model):
    """Bytes held for one response in flight. Open while ``settled_at`` is None; the org's open
    reservations are its concurrent streams."""

    __tablename__ = "download_reservations"
    __table_args__ = (
        Index("ix_download_reservations_open", "org_id", "settled_at"),
        Index("ix_download_reservations_expires_at", "expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    entitlement_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("entitlements.id", ondelete="CASCADE"))
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("download_visits.id", ondelete="SET NULL"))
    item_key: Mapped[int | None] = mapped_column(ForeignKey("items.key", ondelete="SET NULL"))
    asset_key: Mapped[str] = mapped_column(String(255))
    bytes_reserved: Mapped[int] = mapped_column(BigInteger)
    bytes_observed: Mapped[int] = mapped_column(BigInteger, default=0)
    counted: Mapped[bool] = mapped_column(Boolean, default=False)  # it started a new visit
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # reclaimable after, unless a heartbeat moves it
    settled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class DownloadVisit(db.Model):
    """One counted download of one asset by one user (COUNTER): what ``downloads_per_asset`` counts."""

    __tablename__ = "download_visits"
    __table_args__ = (
        Index("ix_download_visits_user_asset", "user_id", "item_key", "asset_key", "last_at"),
        Index("ix_download_visits_entitlement_asset", "entitlement_id", "asset_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entitlement_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("entitlements.id", ondelete="CASCADE"))
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    item_key: Mapped[int | None] = mapped_column(ForeignKey("items.key", ondelete="SET NULL"))
    asset_key: Mapped[str] = mapped_column(String(255))
    etag: Mapped[str] = mapped_column(String(64))  # the object's SHA-256: a resumed download is of the same bytes
    served_to: Mapped[int] = mapped_column(BigInteger, default=0)  # bytes 0 … served_to − 1 went out: a resume's start
    first_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class MeterEvent(db.Model):
    """One download attempt, as it ended (append-only). ``rule`` names what refused a refusal;
    ``counted`` says whether it started a new visit (a counted download)."""

    __tablename__ = "meter_events"
    __table_args__ = (
        Index("ix_meter_events_at", "at"),
        Index("ix_meter_events_org_at", "org_id", "at"),
        Index("ix_meter_events_provider_at", "provider_org_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    via: Mapped[str] = mapped_column(String(16), default="gateway")  # gateway | link
    method: Mapped[str] = mapped_column(String(8), default="GET")
    entitlement_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # no foreign key: the record outlives rows
    reservation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    org_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    provider_org_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    client_id: Mapped[str | None] = mapped_column(String(64))
    item_key: Mapped[int | None] = mapped_column(BigInteger)
    collection_id: Mapped[str | None] = mapped_column(String(255))
    item_id: Mapped[str | None] = mapped_column(String(255))
    asset_key: Mapped[str | None] = mapped_column(String(255))
    range_start: Mapped[int | None] = mapped_column(BigInteger)
    range_end: Mapped[int | None] = mapped_column(BigInteger)  # inclusive, as in Content-Range
    bytes_sent: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[int] = mapped_column(Integer)
    counted: Mapped[bool] = mapped_column(Boolean, default=False)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    client_hash: Mapped[str | None] = mapped_column(String(64))  # salted hash of the client address
    user_agent: Mapped[str | None] = mapped_column(String(512))
    rule: Mapped[str | None] = mapped_column(String(64))


class DailyUsage(db.Model):
    """Meter events of one UTC day, one licensee organisation and one product, summed. Rebuilt from
    the events of the day (never incremented), so a roll-up run twice gives the same totals."""

    __tablename__ = "daily_usage"
    __table_args__ = (
        UniqueConstraint("day", "org_key", "item_key_or_zero", name="uq_daily_usage_day_org_item"),
        Index("ix_daily_usage_provider_day", "provider_org_id", "day"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    day: Mapped[dt.date] = mapped_column(Date)
    org_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    provider_org_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    item_key: Mapped[int | None] = mapped_column(BigInteger)
    # NULL-free copies of the grouping keys, so the unique constraint holds on every backend.
    org_key: Mapped[str] = mapped_column(String(36))
    item_key_or_zero: Mapped[int] = mapped_column(BigInteger)
    collection_id: Mapped[str | None] = mapped_column(String(255))
    item_id: Mapped[str | None] = mapped_column(String(255))
    downloads: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    refusals: Mapped[int] = mapped_column(BigInteger, default=0)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    rolled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
