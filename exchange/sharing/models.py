"""Sharing policies (versioned), access requests, in-app notifications and the audit log."""
from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from exchange.core.db import UTCDateTime, db, new_id, string_enum, utcnow


class SharingPolicy(db.Model):
    """A policy's identity and state; its content lives in its versions (every change is a new one,
    the old ones stay readable). ``owner_org_id``: a provider's own policy (None: the platform's)."""

    __tablename__ = "sharing_policies"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    owner_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"),
                                                           index=True)
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SharingPolicyVersion(db.Model):
    """One immutable version of a policy: the whole document as accepted (see ``schemas.PolicySchema``)."""

    __tablename__ = "sharing_policy_versions"
    __table_args__ = (UniqueConstraint("policy_id", "version", name="uq_sharing_policy_versions_policy_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    policy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sharing_policies.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    document: Mapped[dict] = mapped_column(JSON)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AccessRequestState(str, enum.Enum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    withdrawn = "withdrawn"
    expired = "expired"


class AccessRequest(db.Model):
    """An organisation asks a provider for a product or a whole collection that a ``require_approval``
    policy holds back. Approved, it lifts that hold for the requester until ``valid_until``."""

    __tablename__ = "access_requests"
    __table_args__ = (Index("ix_access_requests_org_state", "org_id", "state"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    provider_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"),
                                                       index=True)
    item_key: Mapped[int | None] = mapped_column(ForeignKey("items.key", ondelete="CASCADE"))
    collection_id: Mapped[str | None] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(40))
    message: Mapped[str | None] = mapped_column(Text)
    state: Mapped[AccessRequestState] = mapped_column(string_enum(AccessRequestState, "access_request_state"),
                                                      default=AccessRequestState.pending)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # a pending request lapses then
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(Text)  # a rejection's reason
    #: The approval's conditions: duration_days, downloads_per_asset, bytes_allowed, price (see the API).
    conditions: Mapped[dict | None] = mapped_column(JSON)
    valid_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # an approval's end (None: open-ended)
    entitlement_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("entitlements.id", ondelete="SET NULL"))
    quote_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("quotes.id", ondelete="SET NULL"))


class Notification(db.Model):
    """An in-app message to an organisation's members (``GET /api/v1/notifications``)."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_org_created", "org_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str] = mapped_column(String(300))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(db.Model):
    """One entry of the append-only audit log. ``hash`` is the SHA-256 of the entry's content and of
    ``prev_hash`` (the previous entry's hash), so an altered, removed or inserted row breaks the chain
    (``flask --app app sdx audit verify``)."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_action_at", "action", "at"),
                      Index("ix_audit_entries_object", "object_type", "object_id"))

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                     autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    actor_org_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(100))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(db.Model):
    """The chain's tip (one row): appending locks it, so entries are numbered and chained in the order
    their transactions commit, on every backend."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))
