"""Collections and items (products): the full STAC JSON plus promoted, indexed columns.

Footprints are stored per backend: a PostGIS ``geometry(Geometry,4326)`` with an SP-GiST index on
PostgreSQL; WKB on SQLite, where an R*Tree over the bounding boxes (kept by triggers, see the
migration) prefilters and a Shapely test registered as an SQL function decides exactly.
"""
from __future__ import annotations

import datetime as dt
import enum
import uuid

import shapely
from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, \
    TypeDecorator, UniqueConstraint, Uuid, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import UserDefinedType

from exchange.core.db import UTCDateTime, db, string_enum, utcnow


class _PostgisGeometry(UserDefinedType):
    cache_ok = True

    def get_col_spec(self, **kw) -> str:
        return "geometry(Geometry,4326)"


class Footprint(TypeDecorator):
    """A WGS84 geometry: Shapely in Python, PostGIS geometry or WKB in the database."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return _PostgisGeometry()
        return LargeBinary()

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return shapely.to_wkb(value, hex=dialect.name == "postgresql")

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return shapely.from_wkb(value)


#: JSON on SQLite, JSONB on PostgreSQL.
Document = JSON().with_variant(JSONB(), "postgresql")


class ItemStatus(str, enum.Enum):
    draft = "draft"
    processing = "processing"
    published = "published"
    withdrawn = "withdrawn"


class Collection(db.Model):
    __tablename__ = "collections"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    owner_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict] = mapped_column(Document)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Item(db.Model):
    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("collection_id", "item_id", name="uq_items_collection_item"),
        # The default order (datetime desc, then key) and its keyset paging ride on this index.
        Index("ix_items_dt_key", "dt_start", "key"),
        Index("ix_items_collection_dt", "collection_id", "dt_start", "key"),
        Index("ix_items_cloud_cover", "cloud_cover"),
        Index("ix_items_gsd", "gsd"),
        Index("ix_items_range_end", "range_end", postgresql_where=text("range_end IS NOT NULL"),
              sqlite_where=text("range_end IS NOT NULL")),
    )

    key: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                     autoincrement=True)
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id", ondelete="RESTRICT"))
    item_id: Mapped[str] = mapped_column(String(255))
    provider_org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organisations.id", ondelete="RESTRICT"),
                                                       index=True)
    # Not indexed: nearly every row is published, and the other statuses are reached through
    # provider_org_id; an index would only slow every insert down.
    status: Mapped[ItemStatus] = mapped_column(string_enum(ItemStatus, "item_status"), default=ItemStatus.draft)
    # An item has a datetime, or a start/end range; dt_start/dt_end hold the instant or the range
    # (the document keeps which it was).
    dt_start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    dt_end: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    # dt_end again, but only for items with a time range (null for instants): few rows, and the
    # planner knows it, so "earliest range still running at t" is one cheap index probe (a partial
    # index: the instants, nearly every row, are not in it).
    range_end: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    gsd: Mapped[float | None] = mapped_column(Float)
    cloud_cover: Mapped[float | None] = mapped_column(Float)
    off_nadir: Mapped[float | None] = mapped_column(Float)
    platform: Mapped[str | None] = mapped_column(String(100), index=True)
    constellation: Mapped[str | None] = mapped_column(String(100))
    instruments: Mapped[str | None] = mapped_column(String(255))  # space-separated, for filtering
    minx: Mapped[float] = mapped_column(Float)
    miny: Mapped[float] = mapped_column(Float)
    maxx: Mapped[float] = mapped_column(Float)
    maxy: Mapped[float] = mapped_column(Float)
    geometry: Mapped[object] = mapped_column(Footprint)
    data: Mapped[dict] = mapped_column(Document)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CollectionProperty(db.Model):
    """A property some item of the collection carries, with one JSON type it was seen with (a summary
    kept on every item write; never shrunk by deletes, see ``exchange.catalog.properties``)."""

    __tablename__ = "collection_properties"

    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    json_type: Mapped[str] = mapped_column(String(10), primary_key=True)


class IndexStatus(str, enum.Enum):
    building = "building"
    ready = "ready"
    failed = "failed"


class PropertyIndex(db.Model):
    """An expression index on one property of one collection's items, asked for by its provider or an admin."""

    __tablename__ = "property_indexes"
    __table_args__ = (UniqueConstraint("collection_id", "name", "kind", name="uq_property_indexes_collection_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(10))  # number | string
    status: Mapped[IndexStatus] = mapped_column(string_enum(IndexStatus, "property_index_status"),
                                                default=IndexStatus.building)
    index_name: Mapped[str] = mapped_column(String(63), unique=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
