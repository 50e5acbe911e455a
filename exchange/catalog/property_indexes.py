"""Indexes on one property of one collection's items, asked for by the collection's provider or an admin.

A filter on a document property reads every item of the searched collections; at scale, a provider
can ask for an index on the properties its buyers filter on. The index is a partial expression
index — ``ON items ((EXPR)) WHERE collection_id = 'c'`` — with EXPR exactly the expression a filter
on that property and kind uses (``properties.expression_sql``), so the planner matches the two on
both backends. It is built after the request's commit by a task (minutes at a million items;
``CREATE INDEX CONCURRENTLY`` on PostgreSQL, so writes go on meanwhile), whose outcome is the
record's status: building, ready or failed.
"""
from __future__ import annotations

import logging
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from exchange.policy import Identity
from exchange.catalog import properties
from exchange.catalog.models import IndexStatus, PropertyIndex
from exchange.catalog.service import collection_for_write
from exchange.catalog.validation import error
from exchange.core.celery import enqueue
from exchange.core.db import PROPERTY_INDEX_PREFIX, db, unit_of_work
from exchange.core.problems import Conflict, NotFound, ValidationProblem

log = logging.getLogger(__name__)

#: The kinds an index can read a property as (booleans have two values: an index would not help).
INDEX_KINDS = ("number", "string")


def new_index_name() -> str:
    """A name of its own for every record (within PostgreSQL's 63 characters): an index dropped and
    asked for again while the first build still runs must not be taken for, or dropped as, the other."""
    return f"{PROPERTY_INDEX_PREFIX}{uuid.uuid4().hex[:24]}"


def view(index: PropertyIndex) -> dict:
    shown = {"name": index.name, "kind": index.kind, "status": index.status.value, "index": index.index_name,
             "created_at": index.created_at.isoformat().replace("+00:00", "Z")}
    if index.error:
        shown["error"] = index.error
    return shown


def list_indexes(identity: Identity, collection_id: str) -> list[PropertyIndex]:
    collection_for_write(identity, collection_id)
    return list(db.session.scalars(select(PropertyIndex).where(PropertyIndex.collection_id == collection_id)
                                   .order_by(PropertyIndex.name, PropertyIndex.kind)))


def checked_request(body: dict) -> tuple[str, str]:
    """The property name and kind of an index request, or a 422 naming every invalid field."""
    errors = []
    name, kind = body.get("name"), body.get("kind")
    if not isinstance(name, str) or properties.property_name(name) is None:
        errors.append(error("/name", "must be a property name: 1 to 100 letters, digits, '_', ':', '.' or '-', "
                                     "not starting with ':', '.' or '-'"))
    elif properties.property_name(name) in properties.PROMOTED:
        errors.append(error("/name", f"{name!r} is a promoted column, which is indexed or filtered as a column"))
    if kind not in INDEX_KINDS:
        errors.append(error("/kind", f"must be one of {', '.join(INDEX_KINDS)}"))
    if errors:
        raise ValidationProblem("The index request is invalid; see errors.", errors=errors)
    return properties.property_name(name), kind


def request_index(identity: Identity, collection_id: str, body: dict) -> PropertyIndex:
    """Record the index as building; the build starts once this commits. Asking again for one whose
    build failed builds it again."""
    from exchange.catalog.tasks import build_property_index

    collection_for_write(identity, collection_id)
    name, kind = checked_request(body)
    exists = Conflict(f"An index on {name!r} as {kind} already exists for {collection_id!r}.")
    index = db.session.scalar(select(PropertyIndex).where(PropertyIndex.collection_id == collection_id,
                                                          PropertyIndex.name == name, PropertyIndex.kind == kind))
    if index is not None and index.status is not IndexStatus.failed:
        raise exists
    try:
        with unit_of_work() as uow:
            if index is None:
                index = PropertyIndex(collection_id=collection_id, name=name, kind=kind, index_name=new_index_name())
                uow.add(index)
            index.status, index.error = IndexStatus.building, None
            uow.flush()
            uow.after_commit(enqueue, build_property_index, index.id)
    except IntegrityError:  # the same index asked for by a request running at the same moment
        raise exists from None
    db.session.refresh(index)  # the embedded mode has built it already
    return index


def drop_indexes(identity: Identity, collection_id: str, name: str) -> None:
    """Drop every index on property ``name`` of the collection (each kind)."""
    collection_for_write(identity, collection_id)
    name = properties.property_name(name) or name
    found = list(db.session.scalars(select(PropertyIndex).where(PropertyIndex.collection_id == collection_id,
                                                                PropertyIndex.name == name)))
    if not found:
        raise NotFound(f"No property index on {name!r} in collection {collection_id!r}.")
    with unit_of_work() as uow:
        for index in found:
            db.session.delete(index)
            uow.after_commit(enqueue_drop, index.index_name)


def enqueue_drop(sql_name: str) -> None:
    """Drop the SQL index in a task: DROP INDEX CONCURRENTLY waits for builds on the table to end."""
    from exchange.catalog.tasks import drop_property_index

    enqueue(drop_property_index, sql_name)


def _ddl(statement: str) -> None:
    """Run DDL outside any transaction on PostgreSQL (CONCURRENTLY requires it)."""
    engine = db.engine
    options = {"isolation_level": "AUTOCOMMIT"} if engine.dialect.name == "postgresql" else {}
    with engine.connect().execution_options(**options) as connection:
        connection.exec_driver_sql(statement)
        connection.commit()


def _analyse() -> None:
    """The planner knows nothing of an indexed expression's values until the table is analysed: it
    guesses 0.5 % of the collection for "= value" and, at 5M items, walked the datetime index instead
    (200 ms against 8). ANALYZE samples a fixed number of rows, whatever the table's size; should it
    fail, the index is still good and autovacuum analyses later."""
    try:
        _ddl("ANALYZE items")
    except Exception:
        log.exception("analysing items after building a property index")


def create_sql(index: PropertyIndex, dialect: str) -> str:
    expression = properties.expression_sql(index.name, index.kind, dialect, column="data")
    collection = index.collection_id.replace("'", "''")
    concurrently = "CONCURRENTLY " if dialect == "postgresql" else ""
    return (f"CREATE INDEX {concurrently}{index.index_name} ON items (({expression})) "
            f"WHERE collection_id = '{collection}'")


def drop_sql_index(index_name: str) -> None:
    concurrently = "CONCURRENTLY " if db.engine.dialect.name == "postgresql" else ""
    _ddl(f"DROP INDEX {concurrently}IF EXISTS {index_name}")


def build(index_id: int) -> str:
    """Build a recorded index; its record says ready or failed (with the database's reason). Whatever
    an earlier, interrupted build of it left (an invalid index, after a worker died) is dropped first."""
    index = db.session.get(PropertyIndex, index_id)
    if index is None:
        return "gone"
    statement, sql_name = create_sql(index, db.engine.dialect.name), index.index_name
    db.session.rollback()  # no transaction of ours may be open while PostgreSQL builds concurrently
    try:
        drop_sql_index(sql_name)
        _ddl(statement)
    except Exception as exc:  # the database's reason is the provider's to read
        log.warning("building property index %s failed: %s", sql_name, exc)
        try:
            drop_sql_index(sql_name)  # a failed concurrent build leaves an invalid index behind
        except Exception:  # the database may be what failed: the next build drops it first
            log.exception("dropping the failed property index %s", sql_name)
        status, reason = IndexStatus.failed, str(getattr(exc, "orig", exc)).splitlines()[0]
    else:
        status, reason = IndexStatus.ready, None
        _analyse()
    index = db.session.get(PropertyIndex, index_id)
    if index is None:  # dropped while it was built
        drop_sql_index(sql_name)
        return "gone"
    with unit_of_work():
        index.status, index.error = status, reason
    return status.value
