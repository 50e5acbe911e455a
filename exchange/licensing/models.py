"""Licence templates, offers and entitlements: what may be bought, on which terms, and what was.

A ``LicenseTemplate`` row is one version of a licence: a change is a new row with the next version,
so a version, once written, never changes and every offer and entitlement can cite it. An ``Offer``
binds a template version to a price, on one product or on a whole collection (a product with no
offer of its own is sold by its collection's). An ``Entitlement`` is what a paid order grants one
licensee organisation on one product: a copy of the terms as accepted (not a reference), its
validity and its allowances, which the download gateway draws on.
"""
from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, Float, ForeignKey, Index, Integer, String, Text, \
    UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exchange.core.db import UTCDateTime, db, new_id, string_enum, utcnow


class Use(str, enum.Enum):
    internal = "internal"
    commercial = "commercial"
    research = "research"
    government = "government"


class PricingModel(str, enum.Enum):
    free = "free"
    per_scene = "per_scene"
    per_km2 = "per_km2"
    per_gb = "per_gb"


class EntitlementStatus(str, enum.Enum):
    active = "active"
    expired = "expired"
    revoked = "revoked"
    refunded = "refunded"


#: ISO 4217 currencies an offer may be priced in (all with two minor-unit digits).
CURRENCIES = ("CNY", "USD", "EUR")


class LicenseTemplate(db.Model):
    """One version of a licence. Nullable limits mean unlimited (seats, duration, downloads, bytes)."""

    __tablename__ = "license_templates"
    __table_args__ = (UniqueConstraint("code", "version", name="uq_license_templates_code_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    terms: Mapped[str] = mapped_column(Text)
    uses: Mapped[list] = mapped_column(JSON, default=list)  # values of Use
    redistribution: Mapped[bool] = mapped_column(Boolean, default=False)
    derivatives: Mapped[bool] = mapped_column(Boolean, default=True)
    attribution: Mapped[str | None] = mapped_column(Text)
    seats: Mapped[int | None] = mapped_column(Integer)
    duration_days: Mapped[int | None] = mapped_column(Integer)
    downloads_per_asset: Mapped[int | None] = mapped_column(Integer)
    bytes_multiple: Mapped[float | None] = mapped_column(Float)  # allowance = multiple × product size
    aoi_restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def ref(self) -> str:
        """How offers, quotes and orders name this version: ``code@version``."""
        return f"{self.code}@{self.version}"


class Offer(db.Model):
    """A price for licensing one product, or every product of a collection without its own offer.

    ``revision`` goes up on every change of what a buyer pays or accepts, so an order can tell that
    the offer it was quoted has changed since."""

    __tablename__ = "offers"
    __table_args__ = (
        CheckConstraint("(item_key IS NULL) <> (collection_id IS NULL)", name="one_target"),
        CheckConstraint("price >= 0", name="price_not_negative"),
        Index("ix_offers_item_key", "item_key"),
        Index("ix_offers_collection_id", "collection_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    provider_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"),
                                                       index=True)
    item_key: Mapped[int | None] = mapped_column(ForeignKey("items.key", ondelete="CASCADE"))
    collection_id: Mapped[str | None] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    template_id: Mapped[int] = mapped_column(ForeignKey("license_templates.id", ondelete="RESTRICT"), index=True)
    pricing_model: Mapped[PricingModel] = mapped_column(string_enum(PricingModel, "pricing_model"))
    price: Mapped[int] = mapped_column(BigInteger)  # minor units per unit (scene, km², GB); 0 when free
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    min_km2: Mapped[float | None] = mapped_column(Float)  # per_km2: the least area billed
    gb: Mapped[float | None] = mapped_column(Float)  # per_gb: the prepaid allowance sold
    discounts: Mapped[dict] = mapped_column(JSON, default=dict)  # organisation kind -> percent
    valid_from: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    valid_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    template: Mapped[LicenseTemplate] = relationship(lazy="joined")


class Entitlement(db.Model):
    """What a licensee organisation holds on one product. ``license`` is the template's terms as
    accepted (a copy). Allowances: ``downloads_per_asset`` and ``bytes_allowed`` (None: unlimited);
    ``bytes_used`` is what was served and settled, ``bytes_reserved`` what streams in flight hold —
    the database refuses a row whose used and reserved bytes pass the allowance."""

    __tablename__ = "entitlements"
    __table_args__ = (
        CheckConstraint("bytes_allowed IS NULL OR bytes_used + bytes_reserved <= bytes_allowed",
                        name="bytes_within_allowance"),
        CheckConstraint("bytes_used >= 0 AND bytes_reserved >= 0", name="bytes_not_negative"),
        Index("ix_entitlements_org_item", "org_id", "item_key"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"))
    provider_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"),
                                                       index=True)
    item_key: Mapped[int | None] = mapped_column(ForeignKey("items.key", ondelete="SET NULL"), index=True)
    # The product's STAC ids, kept for the record should the product be deleted.
    collection_id: Mapped[str] = mapped_column(String(255))
    item_id: Mapped[str] = mapped_column(String(255))
    offer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("offers.id", ondelete="SET NULL"))
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"), index=True)
    license: Mapped[dict] = mapped_column(JSON)  # the terms as accepted: code, version, title, terms, uses, …
    valid_from: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    valid_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # None: perpetual
    downloads_per_asset: Mapped[int | None] = mapped_column(Integer)
    bytes_allowed: Mapped[int | None] = mapped_column(BigInteger)
    bytes_used: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    bytes_reserved: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    aoi: Mapped[dict | None] = mapped_column(JSON)  # GeoJSON geometry the licence is restricted to
    status: Mapped[EntitlementStatus] = mapped_column(string_enum(EntitlementStatus, "entitlement_status"),
                                                      default=EntitlementStatus.active)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
