"""bench/storage.py: the size breakdown the catalogue benchmarks print, for SDX and for pgstac, must add up
to what the database itself counts, or the SDX / pgstac size ratios mean nothing."""
import pytest
from sqlalchemy import text

from bench.storage import postgres_storage, sqlite_storage
from exchange.core.db import db


@pytest.mark.committed  # measures on a connection of its own
def test_the_items_breakdown_names_every_index_and_adds_up(app, backend):
    with app.app_context(), db.engine.connect() as conn:
        if backend == "postgresql":
            storage = postgres_storage(conn, "items", 10)
            whole = conn.execute(text("SELECT pg_total_relation_size('items')")).scalar_one()
            indexes = set(conn.execute(text(
                "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'items'::regclass")).scalars())
            assert storage.total == whole
        else:
            storage = sqlite_storage(conn, "items", 10)
            indexes = {row.name for row in conn.execute(text("SELECT name FROM pragma_index_list('items')"))}
            assert 0 < storage.total <= storage.database
    assert set(storage.indexes) == indexes
    assert "ix_items_dt_key" in storage.indexes
    assert storage.partitions == 1
    assert storage.lines("SDX")[0].startswith("SDX storage, 10 items: database ")


@pytest.mark.committed  # measures on a connection of its own
def test_partitions_are_summed_and_their_indexes_counted_once_per_kind(app, backend):
    """As pgstac keeps its items: one partition per collection, each with its own ``<partition>_pk``."""
    if backend != "postgresql":
        pytest.skip("partitioned tables are PostgreSQL's")
    with app.app_context(), db.engine.connect() as conn:
        conn.execute(text("CREATE TABLE bench_parts (k int, id int, v text) PARTITION BY LIST (k)"))
        try:
            for k in (1, 2):
                conn.execute(text(f"CREATE TABLE bench_parts_{k} PARTITION OF bench_parts FOR VALUES IN ({k})"))
                conn.execute(text(f"CREATE UNIQUE INDEX bench_parts_{k}_pk ON bench_parts_{k} (id)"))
            conn.execute(text("INSERT INTO bench_parts SELECT n % 2 + 1, n, (SELECT string_agg(md5(random()::text), '') "
                              "FROM generate_series(0, n % 200)) FROM generate_series(1, 2000) n"))
            storage = postgres_storage(conn, "bench_parts", 2000)
            whole = conn.execute(text("SELECT sum(pg_total_relation_size(relid)) FROM "
                                      "pg_partition_tree('bench_parts')")).scalar_one()
        finally:
            conn.rollback()
    assert storage.partitions == 2
    assert set(storage.indexes) == {"pk"}
    assert storage.toast > 0  # values up to 6,400 hex digits: the longest go to TOAST
    assert storage.total == whole
