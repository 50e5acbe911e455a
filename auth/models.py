"""Organisations, users and their roles."""
from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Uuid, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exchange.core.db import UTCDateTime, db, new_id, string_enum, utcnow


class OrgKind(str, enum.Enum):
    provider = "provider"
    buyer = "buyer"
    government = "government"
    research = "research"
    platform = "platform"


class OrgStatus(str, enum.Enum):
    pending = "pending"
    active = "active"
    suspended = "suspended"


class Role(str, enum.Enum):
    provider = "provider"
    buyer = "buyer"
    admin = "admin"


class Organisation(db.Model):
    __tablename__ = "organisations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[OrgKind] = mapped_column(string_enum(OrgKind, "org_kind"))
    status: Mapped[OrgStatus] = mapped_column(string_enum(OrgStatus, "org_status"), default=OrgStatus.pending)
    #: Set by administrators (``POST /api/v1/admin/orgs/{id}/verify``); sharing policies may name it.
    verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    users: Mapped[list["User"]] = relationship(back_populates="organisation")


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    # Stored lower-cased so that uniqueness is case-insensitive on every backend.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Stored in the signed session cookie at sign-in; sign-out bumps it, so every cookie issued
    # before (including a copy an attacker took) stops being a session.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")

    organisation: Mapped[Organisation] = relationship(back_populates="users")
    role_rows: Mapped[list["UserRole"]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def roles(self) -> set[Role]:
        return {row.role for row in self.role_rows}

    def get_user_id(self) -> str:
        """What Authlib puts in a token's ``sub``."""
        return str(self.id)


class UserRole(db.Model):
    __tablename__ = "user_roles"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[Role] = mapped_column(string_enum(Role, "user_role"), primary_key=True)
