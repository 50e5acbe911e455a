"""Writing many item rows fast: insert the new ones and replace the existing ones of one batch.

PostgreSQL: the batch is COPYed into a session-local staging table (temporary: no WAL, no indexes),
then moved with one ``INSERT … SELECT … ON CONFLICT (collection_id, item_id) DO UPDATE``. The unique
index decides per row whether it is new — no "which of these ids exist?" query first, whose plan
depends on statistics that a table being bulk-loaded does not have yet (on a fresh table that query
scanned every earlier row of the collection, once per batch, so the load slowed down as it grew),
and no race with a concurrent writer of the same id. Everything runs in the caller's transaction,
so the unit of work still commits once.

SQLite: the existing rows are looked up through the unique index and updated through the ORM;
the new ones are inserted with one multi-row INSERT (its R*Tree triggers keep the spatial index).
"""
from __future__ import annotations

import json

import shapely
from sqlalchemy import insert, select

from exchange.catalog.models import Item
from exchange.core.db import db, utcnow

#: Columns written by COPY, in order; every other column of items has a server-side default.
COPY_COLUMNS = ("collection_id", "item_id", "provider_org_id", "status", "datetime", "dt_start", "dt_end",
                "range_end", "gsd", "cloud_cover", "off_nadir", "platform", "constellation", "instruments",
                "minx", "miny", "maxx", "maxy", "geometry", "data", "created_at", "updated_at")
#: What a replaced item keeps of its row: its key, owner, collection and creation time.
KEPT_ON_REPLACE = {"collection_id", "item_id", "provider_org_id", "created_at"}
STAGE = "sdx_items_stage"


def upsert_items(rows: list[dict]) -> None:
    """Insert or replace item rows (dicts of Item column values, ``collection_id`` and ``item_id``
    unique within the batch) in the current transaction."""
    if not rows:
        return
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        _upsert_postgresql(connection, rows)
    else:
        _upsert_orm(rows)


def _upsert_orm(rows: list[dict]) -> None:
    ids: dict[str, list[str]] = {}
    for row in rows:
        ids.setdefault(row["collection_id"], []).append(row["item_id"])
    existing = {(item.collection_id, item.item_id): item for collection_id, item_ids in ids.items()
                for item in db.session.scalars(select(Item).where(Item.collection_id == collection_id,
                                                                  Item.item_id.in_(item_ids)))}
    new_rows = []
    for row in rows:
        item = existing.get((row["collection_id"], row["item_id"]))
        if item is None:
            new_rows.append(row)
            continue
        for name, value in row.items():
            if name not in KEPT_ON_REPLACE:
                setattr(item, name, value)
    if new_rows:
        db.session.execute(insert(Item), new_rows)
    db.session.flush()


def _upsert_postgresql(connection, rows: list[dict]) -> None:
    db.session.flush()  # pending ORM changes first, as a query would
    now = utcnow()
    columns = ", ".join(COPY_COLUMNS)
    updates = ", ".join(f"{name} = excluded.{name}" for name in COPY_COLUMNS if name not in KEPT_ON_REPLACE)
    raw = connection.connection.driver_connection
    with raw.cursor() as cursor:
        # Created once per connection and emptied at every commit; emptied here too in case of an
        # earlier call in the same transaction (DELETE on the empty table of a new one costs nothing).
        cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE} ON COMMIT DELETE ROWS AS "
                       f"SELECT {columns} FROM items WITH NO DATA")
        cursor.execute(f"DELETE FROM {STAGE}")
        with cursor.copy(f"COPY {STAGE} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row((
                    row["collection_id"], row["item_id"], row["provider_org_id"], row["status"].value,
                    row["datetime"], row["dt_start"], row["dt_end"], row["range_end"], row["gsd"],
                    row["cloud_cover"], row["off_nadir"], row["platform"], row["constellation"],
                    row["instruments"], row["minx"], row["miny"], row["maxx"], row["maxy"],
                    shapely.to_wkb(row["geometry"], hex=True), json.dumps(row["data"]), now, now))
        cursor.execute(f"INSERT INTO items ({columns}) SELECT {columns} FROM {STAGE} "
                       f"ON CONFLICT (collection_id, item_id) DO UPDATE SET {updates}")
