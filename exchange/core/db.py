"""The database handle, the declarative base and the unit of work.

A service opens one ``unit_of_work()``; it commits once at the end and only then runs the
callbacks registered with ``after_commit`` (typically ``task.delay``), so a worker never sees an id
whose row is not yet committed, and a rolled-back request enqueues nothing.

Units of work nest: one opened while another is open on the same session joins it, so a service
calling another commits once, at the end of the outermost, and every callback registered inside
runs after that commit (in the order registered). An inner one flushes at its end, so the service
that opened it still sees its rows' ids and its own constraint errors (the IntegrityError it turns
into a 409). An exception leaving an inner one rolls back the whole transaction at once, not to a
savepoint: an order's ledger legs, entitlements and audit entry stand or fall together, and no
caller can half-commit by catching the error. An outer one that carries on regardless raises
``TransactionRolledBack`` at its end instead of committing.
"""
from __future__ import annotations

import enum
import gc
import logging
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, Enum, MetaData, TypeDecorator
from sqlalchemy import update as sa_update
from sqlalchemy.orm import DeclarativeBase

log = logging.getLogger(__name__)

# Stable constraint names so that Alembic revisions are identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


#: Tables PostGIS creates for itself: not ours, so Alembic comparisons leave them out.
POSTGIS_OWN_TABLES = frozenset({"spatial_ref_sys", "geography_columns", "geometry_columns", "raster_columns",
                                "raster_overviews", "topology", "layer"})


#: Spatial indexes made by hand in the catalog migration (GiST; the SQLite R*Tree and its shadow tables).
HAND_MADE_SPATIAL = ("ix_items_geometry", "items_rtree")
#: Property indexes, made on request (``exchange.catalog.property_indexes``), not by a revision.
PROPERTY_INDEX_PREFIX = "ixp_"


def include_object(obj: Any, name: str, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic filter: leave out what no model describes on purpose — PostGIS's own tables and
    the hand-made spatial and property indexes."""
    if reflected and compare_to is None and (name in POSTGIS_OWN_TABLES or (name or "").startswith(
            (*HAND_MADE_SPATIAL, PROPERTY_INDEX_PREFIX))):
        return False
    return True


class UTCDateTime(TypeDecorator):
    """A timestamp that is always timezone-aware UTC in Python, whatever the backend stores."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; SDX stores UTC-aware timestamps only")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


def string_enum(cls: type[enum.Enum], name: str) -> Enum:
    """An enum stored as a plain string with a CHECK constraint: the same on SQLite and PostgreSQL."""
    return Enum(cls, name=name, native_enum=False, create_constraint=True, length=16,
                values_callable=lambda members: [m.value for m in members])


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


class TransactionRolledBack(RuntimeError):
    """An inner unit of work failed and rolled the transaction back; the outer one cannot commit."""


#: Where the open unit of work is kept: on the session itself, since it is the session's transaction.
_OPEN = "sdx_unit_of_work"


class UnitOfWork:
    def __init__(self) -> None:
        self._after_commit: list[tuple[Callable[..., Any], tuple, dict]] = []
        self.rolled_back = False
        #: What a service looks up once per transaction however often it is asked (an organisation's
        #: webhook endpoints, for the several events one order announces).
        self.memo: dict[Any, Any] = {}

    @property
    def session(self):
        return db.session

    def add(self, obj: Any) -> None:
        db.session.add(obj)

    def flush(self) -> None:
        db.session.flush()

    def after_commit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run ``fn(*args, **kwargs)`` once the outermost unit of work has committed (never on rollback)."""
        self._after_commit.append((fn, args, kwargs))

    def _run_after_commit(self) -> None:
        for fn, args, kwargs in self._after_commit:
            try:
                fn(*args, **kwargs)
            except Exception:  # the data is committed; a lost enqueue must be visible, not fatal
                log.exception("after-commit callback %s failed", getattr(fn, "__qualname__", fn))


@contextmanager
def unit_of_work() -> Iterator[UnitOfWork]:
    """One transaction: commit on success, roll back on any exception, then run after-commit hooks.
    Inside an open unit of work, join it instead (see the module's docstring)."""
    session = db.session()
    outer = session.info.get(_OPEN)
    if outer is not None:
        try:
            yield outer
            session.flush()  # the service's rows get their ids and its constraint errors surface here
        except BaseException:
            if not outer.rolled_back:
                session.rollback()
                outer.rolled_back = True
            raise
        return
    uow = UnitOfWork()
    session.info[_OPEN] = uow
    try:
        yield uow
        if uow.rolled_back:
            raise TransactionRolledBack("an inner unit of work failed and rolled the transaction back")
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info.pop(_OPEN, None)
    uow._run_after_commit()


def hold_sqlite_write_lock(attribute: Any, *where: Any) -> None:
    """On SQLite, take the database's write lock now with a no-op UPDATE of ``attribute`` on the rows
    ``where`` selects. SQLite has no row locks, and its driver reads outside a transaction until the
    first write: without this, what a service checks before writing (a balance, an offer's revision)
    could change under it before it commits. PostgreSQL callers take row locks instead; there this
    does nothing."""
    if db.session.get_bind().dialect.name != "sqlite":
        return
    db.session.execute(sa_update(attribute.class_).where(*where).values({attribute: attribute})
                       .execution_options(synchronize_session=False))


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Python's cycle collector off for a bulk job (an import, a batch streaming to COPY): parsing and
    validating items allocates millions of short-lived containers, which set off collections that
    walk every live object of the process — at the import's pace, a full collection walks the
    batches held in memory over and over (measured: JSON parsing took 10 µs an item with the
    collector on, 2 µs with it off). Item documents hold no cycles: reference counting frees them."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
