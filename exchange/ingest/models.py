"""A product's uploaded assets and the upload sessions that bring their bytes to S3.

``ProductAsset`` is one file of a product (an item of the catalogue) with what the provider declared
(size, SHA-256, media type) and where it stands: ``uploading → verifying → ready | quarantined``,
with the reason when it is not ready. ``Upload`` is one attempt at sending its bytes: a presigned
PUT for small files, an S3 multipart upload with presigned part URLs for large ones.
"""
from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exchange.core.db import UTCDateTime, db, new_id, string_enum, utcnow


class AssetState(str, enum.Enum):
    uploading = "uploading"
    verifying = "verifying"
    ready = "ready"
    quarantined = "quarantined"


class UploadState(str, enum.Enum):
    open = "open"
    completed = "completed"
    aborted = "aborted"


class ProductAsset(db.Model):
    __tablename__ = "product_assets"
    __table_args__ = (UniqueConstraint("item_key", "asset_key", name="uq_product_assets_item_asset"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    item_key: Mapped[int] = mapped_column(ForeignKey("items.key", ondelete="CASCADE"), index=True)
    asset_key: Mapped[str] = mapped_column(String(100))
    state: Mapped[AssetState] = mapped_column(string_enum(AssetState, "asset_state"), default=AssetState.uploading)
    reason: Mapped[str | None] = mapped_column(Text)
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(255))
    roles: Mapped[list] = mapped_column(JSON, default=list)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    object_key: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    uploads: Mapped[list["Upload"]] = relationship(back_populates="asset", cascade="all, delete-orphan")

    @property
    def is_data(self) -> bool:
        from exchange.catalog.stac import PUBLIC_ASSET_ROLES

        return not PUBLIC_ASSET_ROLES.intersection(self.roles or ["data"])


class Upload(db.Model):
    __tablename__ = "uploads"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("product_assets.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    owner_org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organisations.id", ondelete="CASCADE"),
                                                    index=True)
    state: Mapped[UploadState] = mapped_column(string_enum(UploadState, "upload_state"), default=UploadState.open,
                                               index=True)
    s3_upload_id: Mapped[str | None] = mapped_column(String(1024))  # None: a single presigned PUT
    part_size: Mapped[int] = mapped_column(BigInteger)
    part_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    asset: Mapped[ProductAsset] = relationship(back_populates="uploads")

    @property
    def multipart(self) -> bool:
        return self.s3_upload_id is not None
