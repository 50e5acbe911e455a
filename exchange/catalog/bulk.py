"""Writing many new item rows fast: PostgreSQL's COPY, else the ORM's multi-row INSERT.

COPY moves a batch in one round trip without per-row statement work, several times faster than
an INSERT batch; it runs inside the caller's transaction, so the unit of work still commits once.
"""
from __future__ import annotations

import json

import shapely

from exchange.catalog.models import Item
from exchange.core.db import db, utcnow

#: Columns written by COPY, in order; every other column of items has a server-side default.
COPY_COLUMNS = ("collection_id", "item_id", "provider_org_id", "status", "datetime", "dt_start", "dt_end",
                "range_end", "gsd", "cloud_cover", "off_nadir", "platform", "constellation", "instruments",
                "minx", "miny", "maxx", "maxy", "geometry", "data", "created_at", "updated_at")


def insert_items(rows: list[dict]) -> None:
    """Insert new item rows (dicts of Item column values) in the current transaction."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        from sqlalchemy import insert

        db.session.execute(insert(Item), rows)
        return
    now = utcnow()
    raw = connection.connection.driver_connection
    with raw.cursor() as cursor:
        with cursor.copy(f"COPY items ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row((
                    row["collection_id"], row["item_id"], row["provider_org_id"], row["status"].value,
                    row["datetime"], row["dt_start"], row["dt_end"], row["range_end"], row["gsd"],
                    row["cloud_cover"], row["off_nadir"], row["platform"], row["constellation"],
                    row["instruments"], row["minx"], row["miny"], row["maxx"], row["maxy"],
                    shapely.to_wkb(row["geometry"], hex=True), json.dumps(row["data"]), now, now))
