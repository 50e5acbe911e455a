"""Size on disk of a catalogue's items: the database, the items table (with its partitions), its TOAST
and each of its indexes, measured and printed the same way for SDX (bench/catalog_search.py) and for
pgstac (bench/pgstac_load.py), so that the two can be set side by side.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

MIB = 1024 * 1024  # pg_size_pretty's "MB"


@dataclass(frozen=True)
class Storage:
    items: int
    database: int  # the whole database: pg_database_size, or SQLite's pages
    partitions: int  # the items table's leaf tables (1 when it is not partitioned)
    heap: int  # the table(s) without TOAST: the main fork and its free-space and visibility maps
    toast: int  # the TOAST table(s) with their indexes (0 on SQLite, which keeps overflow pages in the table)
    indexes: dict[str, int]  # index → bytes, all forks; one name per index of every partition, summed

    @property
    def total(self) -> int:
        """The items table as pg_total_relation_size counts it (summed over its partitions)."""
        return self.heap + self.toast + sum(self.indexes.values())

    def lines(self, label: str) -> list[str]:
        def size(nbytes: int) -> str:
            return f"{nbytes / MIB:,.1f} MiB ({nbytes / self.items:,.0f} B/item)"

        tables = f"{self.partitions} partitions" if self.partitions > 1 else "1 table"
        lines = [f"{label} storage, {self.items:,} items: database {size(self.database)}",
                 f"  items ({tables}) {size(self.total)} = heap {size(self.heap)} + TOAST {size(self.toast)} "
                 f"+ {len(self.indexes)} indexes {size(sum(self.indexes.values()))}"]
        lines += [f"    index {name:<34} {size(nbytes)}"
                  for name, nbytes in sorted(self.indexes.items(), key=lambda entry: -entry[1])]
        return lines


def postgres_storage(conn, table: str, items: int) -> Storage:
    """``table`` (schema-qualified if need be) with every partition under it. An index of a partition is
    named without the partition's prefix (pgstac's ``_items_3_pk`` counts under ``pk``)."""
    # pg_partition_tree has no rows for a plain table: then the table itself is the one leaf.
    leaves = ("SELECT c.oid, c.relname, c.relispartition, c.reltoastrelid FROM pg_class c "
              "WHERE c.oid IN (SELECT relid FROM pg_partition_tree(CAST(:table AS regclass)) WHERE isleaf) "
              "OR (c.oid = CAST(:table AS regclass) AND c.relkind = 'r')")
    database = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    partitions, table_bytes, toast = conn.execute(text(
        f"SELECT count(*), coalesce(sum(pg_table_size(l.oid)), 0), "
        f"coalesce(sum(pg_total_relation_size(nullif(l.reltoastrelid, 0))), 0) FROM ({leaves}) l"),
        {"table": table}).one()
    indexes: dict[str, int] = {}
    for relname, is_partition, index, nbytes in conn.execute(text(
            f"SELECT l.relname, l.relispartition, i.indexrelid::regclass::text, pg_total_relation_size(i.indexrelid) "
            f"FROM ({leaves}) l JOIN pg_index i ON i.indrelid = l.oid"), {"table": table}):
        index = index.rsplit(".", 1)[-1]
        if is_partition and index.startswith(relname + "_"):
            index = index[len(relname) + 1:]
        indexes[index] = indexes.get(index, 0) + nbytes
    return Storage(items, database, partitions, table_bytes - toast, toast, indexes)


def sqlite_storage(conn, table: str, items: int) -> Storage:
    """The same from SQLite's dbstat table (pages per table and index)."""
    database = conn.execute(text("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")).scalar_one()
    pages = dict(conn.execute(text("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")).all())
    names = conn.execute(text("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = :table"),
                         {"table": table}).scalars()
    return Storage(items, database, 1, pages.get(table, 0), 0, {name: pages.get(name, 0) for name in names})
