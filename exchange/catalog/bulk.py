"""Writing many item rows fast: insert the new ones and replace the existing ones of one batch (or,
inserting only, leave the existing ones as they are and say which they were).

PostgreSQL, optimistically: the rows are COPYed straight into items while the caller is still
validating the next ones (the server inserts and indexes one part of the batch while Python
prepares the next: two cores at work, not one after the other). Should an id already exist, the
unique index refuses the COPY; the batch is then rolled back to a savepoint and written again
through a session-local staging table with one ``INSERT … SELECT … ON CONFLICT (collection_id,
item_id) DO UPDATE`` (inserting only: ``DO NOTHING RETURNING`` the ids written). Either way the
unique index decides what is new — never a "which of these ids exist?" query, whose plan depends
on statistics a table being bulk-loaded does not have yet (on a fresh table that query scanned
every earlier row of the collection, once per batch) — and a
concurrent writer of the same id cannot make the batch fail. Everything runs in the caller's
transaction, so the unit of work still commits once.

SQLite: the existing rows are looked up through the unique index and updated through the ORM (or
left alone); the new ones are inserted with one multi-row INSERT (its R*Tree triggers keep the
spatial index).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import orjson
import psycopg
import shapely
from sqlalchemy import insert, select

from exchange.catalog.models import Item
from exchange.core.db import db, no_cyclic_gc, utcnow

#: Columns written by COPY, in order; every other column of items has a server-side default.
COPY_COLUMNS = ("collection_id", "item_id", "provider_org_id", "status", "dt_start", "dt_end",
                "range_end", "gsd", "cloud_cover", "off_nadir", "platform", "constellation", "instruments",
                "minx", "miny", "maxx", "maxy", "geometry", "data", "created_at", "updated_at")
#: What a replaced item keeps of its row: its key, owner, collection and creation time.
KEPT_ON_REPLACE = {"collection_id", "item_id", "provider_org_id", "created_at"}
STAGE = "sdx_items_stage"


@dataclass
class Written:
    count: int = 0
    refused: list[str] = field(default_factory=list)  # item ids left as they were (inserting only)


def write_items(rows: Iterable[dict], *, replace: bool = True, keep_status: bool = True) -> Written:
    """Insert item rows (dicts of Item column values; ``(collection_id, item_id)`` unique among
    them) in the current transaction, replacing existing ones unless ``replace`` is false: those are
    then left alone and their ids returned as refused. ``rows`` may be a generator, consumed as it
    is written. A replaced row keeps its status unless ``keep_status`` is false (the platform's own
    import)."""
    kept = KEPT_ON_REPLACE | {"status"} if keep_status else KEPT_ON_REPLACE
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        return _write_postgresql(connection, rows, kept if replace else None)
    rows = list(rows)
    return _write_orm(rows, kept if replace else None) if rows else Written()


def _write_orm(rows: list[dict], kept: set[str] | None) -> Written:
    ids: dict[str, list[str]] = {}
    for row in rows:
        ids.setdefault(row["collection_id"], []).append(row["item_id"])
    existing = {(item.collection_id, item.item_id): item for collection_id, item_ids in ids.items()
                for item in db.session.scalars(select(Item).where(Item.collection_id == collection_id,
                                                                  Item.item_id.in_(item_ids)))}
    new_rows, written = [], Written()
    for row in rows:
        item = existing.get((row["collection_id"], row["item_id"]))
        if item is None:
            new_rows.append(row)
        elif kept is None:
            written.refused.append(row["item_id"])
        else:
            for name, value in row.items():
                if name not in kept:
                    setattr(item, name, value)
    if new_rows:
        db.session.execute(insert(Item), new_rows)
    db.session.flush()
    written.count = len(rows) - len(written.refused)
    return written


#: What each COPY column is sent as, in binary COPY format. The footprint goes as its WKB and the
#: document as JSONB's binary input (a version byte, then the JSON text): both as plain bytes, which
#: the server hands to geometry's and jsonb's receive functions. Binary COPY spares both sides the
#: text format's escaping and parsing (hex WKB, timestamps, floats).
COPY_TYPES = ("text", "text", "uuid", "text", "timestamptz", "timestamptz", "timestamptz",
              "float8", "float8", "float8", "text", "text", "text", "float8", "float8", "float8", "float8",
              "bytea", "bytea", "timestamptz", "timestamptz")
JSONB_VERSION = b"\x01"


def _float(value) -> float | None:
    return None if value is None else float(value)


def _json(doc: dict) -> bytes:
    """The document as JSON text: orjson, five times as fast as the standard library on items, which
    a bulk load writes by the million; the standard library for what orjson refuses (an integer
    beyond 64 bits, which strict_json lets through up to a float's range)."""
    try:
        return orjson.dumps(doc)
    except TypeError:
        return json.dumps(doc).encode()


def _encoded(rows: Iterable[dict], now, into: list) -> Iterator[tuple]:
    for row in rows:
        values = (row["collection_id"], row["item_id"], row["provider_org_id"], row["status"].value,
                  row["dt_start"], row["dt_end"], row["range_end"], _float(row["gsd"]),
                  _float(row["cloud_cover"]), _float(row["off_nadir"]), row["platform"], row["constellation"],
                  row["instruments"], float(row["minx"]), float(row["miny"]), float(row["maxx"]),
                  float(row["maxy"]), shapely.to_wkb(row["geometry"]),
                  JSONB_VERSION + _json(row["data"]), now, now)
        into.append(values)
        yield values


def _write_postgresql(connection, rows: Iterable[dict], kept: set[str] | None) -> Written:
    db.session.flush()  # pending ORM changes first, as a query would
    columns = ", ".join(COPY_COLUMNS)
    encoded: list[tuple] = []
    raw = connection.connection.driver_connection
    refused = []
    with raw.cursor() as cursor:
        values_of_rows = _encoded(rows, utcnow(), encoded)
        cursor.execute("SAVEPOINT sdx_bulk_copy")
        try:
            with cursor.copy(f"COPY items ({columns}) FROM STDIN (FORMAT BINARY)") as copy, no_cyclic_gc():
                copy.set_types(COPY_TYPES)
                for values in values_of_rows:
                    copy.write_row(values)
        except psycopg.errors.UniqueViolation:
            cursor.execute("ROLLBACK TO SAVEPOINT sdx_bulk_copy")
            for _ in values_of_rows:  # whatever the refused COPY did not get to
                pass
            refused = _write_staged(cursor, encoded, kept)
        cursor.execute("RELEASE SAVEPOINT sdx_bulk_copy")
    return Written(len(encoded) - len(refused), refused)


def _write_staged(cursor, encoded: list[tuple], kept: set[str] | None) -> list[str]:
    """Some rows exist already: insert or update each (``kept`` None: insert or leave alone), as the
    unique index says. Returns the ids left alone."""
    columns = ", ".join(COPY_COLUMNS)
    # Created once per connection and emptied at every commit; emptied here too in case of an
    # earlier call in the same transaction.
    cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE} ON COMMIT DELETE ROWS AS "
                   f"SELECT {columns} FROM items WITH NO DATA")
    cursor.execute(f"DELETE FROM {STAGE}")
    with cursor.copy(f"COPY {STAGE} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(COPY_TYPES)
        for values in encoded:
            copy.write_row(values)
    insert_rows = f"INSERT INTO items ({columns}) SELECT {columns} FROM {STAGE} ON CONFLICT (collection_id, item_id)"
    if kept is not None:
        updates = ", ".join(f"{name} = excluded.{name}" for name in COPY_COLUMNS if name not in kept)
        cursor.execute(f"{insert_rows} DO UPDATE SET {updates}")
        return []
    cursor.execute(f"{insert_rows} DO NOTHING RETURNING item_id")
    inserted = {item_id for (item_id,) in cursor.fetchall()}
    return [values[1] for values in encoded if values[1] not in inserted]
