"""What the import's check before writing costs: an NDJSON of items of three collections, interleaved.

Builds the app on a fresh SQLite file (or a fresh database created, and dropped after, through
``--postgres ADMIN_URL``),
writes N NAIP sample items (fresh ids) into an NDJSON file and measures, in the same run:

- the first pass alone (``_destinations``: every line parsed, only its collection kept);
- the import without ``--collection`` (first pass + each item into the collection it names);
- the baseline: the same file imported with ``--collection`` (no first pass), into a fourth collection.

Usage: ``PYTHONPATH=. python bench/import_mixed.py [--items 20000] [--postgres URL]``
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.catalog_search import build_app, create_postgres_database, drop_postgres_database  # noqa: E402

COLLECTIONS = ["mixed-a", "mixed-b", "mixed-c"]
BASELINE = "single"


def write_items(path: Path, count: int) -> None:
    from exchange.catalog.demo import BESIDE_THE_PROJECT

    samples = [json.loads(line) for line in (BESIDE_THE_PROJECT / "naip" / "items.ndjson").read_text().splitlines()
               if line.strip()]
    with path.open("w") as out:
        for n in range(count):
            doc = dict(samples[n % len(samples)], id=f"bench-{n}", collection=COLLECTIONS[n % len(COLLECTIONS)])
            out.write(json.dumps(doc) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--postgres", help="a PostgreSQL URL to run on instead of SQLite")
    args = parser.parse_args()
    url = create_postgres_database(args.postgres) if args.postgres else None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            figures = measure(url or f"sqlite:///{tmp}/bench.db", Path(tmp), args.items)
    finally:
        if url:
            drop_postgres_database(args.postgres, url)
    first_pass, by_name, by_target = figures
    print(f"import of {args.items:,} NAIP items ({'PostgreSQL' if url else 'SQLite'}), "
          f"{len(COLLECTIONS)} collections interleaved")
    print(f"first pass alone:             {first_pass:7.2f} s  ({first_pass / args.items * 1e6:5.1f} µs an item)")
    print(f"import by named collection:   {by_name:7.2f} s  ({args.items / by_name:,.0f} items/s)")
    print(f"import with --collection:     {by_target:7.2f} s  ({args.items / by_target:,.0f} items/s)")
    print(f"first pass / whole import:    {first_pass / by_name:7.1%}")
    print(f"by named / with --collection: {by_name / by_target:7.2f}x")


def measure(url: str, tmp: Path, count: int) -> tuple[float, float, float]:
    from auth import service
    from exchange.policy import SYSTEM
    from exchange.catalog import importer
    from exchange.catalog.transactions import create_collection

    app = build_app(url, str(tmp), 0)
    path = tmp / "items.ndjson"
    write_items(path, count)
    with app.app_context():
        service.create_org(SYSTEM, {"name": "Bench", "kind": "provider"})
        org_id = service.find_org("Bench").id
        for cid in COLLECTIONS + [BASELINE]:
            create_collection(SYSTEM, {"id": cid, "description": cid}, owner_org_id=org_id)
        started = time.perf_counter()
        importer._destinations(importer.read_stac(path).items, None, org_id)
        first_pass = time.perf_counter() - started
        started = time.perf_counter()
        by_name = importer.import_path(SYSTEM, path, collection_id=None, provider_org_id=org_id)
        by_name_seconds = time.perf_counter() - started
        started = time.perf_counter()
        by_target = importer.import_path(SYSTEM, path, collection_id=BASELINE, provider_org_id=org_id)
        by_target_seconds = time.perf_counter() - started
        from exchange.core.db import db

        db.engine.dispose()
    assert by_name.written == by_target.written == count, (by_name.failures[:3], by_target.failures[:3])
    return first_pass, by_name_seconds, by_target_seconds


if __name__ == "__main__":
    main()
