"""Benchmark: does ``properties["sdx:offers"]`` slow STAC search? Search latency with offers on every
item against the same searches with no offer at all, interleaved in one run.

What it does:

1. Builds the app on a fresh database (PostgreSQL by default: ``CREATE DATABASE sdx_bench_<random>`` on
   ``--postgres-admin-url``, dropped at the end unless ``--keep``; or SQLite with ``--backend sqlite``),
   migrated to head (the seeded licence templates included), and loads ``--items`` synthetic published
   items over 7 collections exactly as bench/catalog_search.py does (its ``load``).
2. Makes the offers: one per collection (so every item has at least its collection's) plus a product
   offer of its own on every ``--product-offer-every``-th item (5 % by default), priced per scene,
   per km² or per GB in turn. They are written once, then removed and written back between rounds.
3. Serves the app with gunicorn and the production configuration (bench/catalog_search.py's
   ``Gunicorn``) and times, from a client in its own process (``run_client``: one keep-alive session,
   gzip), ``--requests`` requests per class after ``--warmup`` untimed ones, at limit 10 and 100:

   * small bbox      ``GET /stac/search?bbox=`` a 0.5° box around a random item's centre
   * bbox+datetime   ``GET /stac/search?bbox=`` a continent ``&datetime=`` one calendar month
   * collection      ``GET /stac/collections/{one of the 7}/items``
   * page 1          ``GET /stac/search`` (everything, newest first)

   in ``--rounds`` rounds, each round timing every class once with the offers and once without
   (the order alternating), so that both states meet the same caches and the same machine load.
4. Prints per class and limit the median and p95 with and without offers and the p95 ratio (target
   ≤ 1.15), and the ratio over all requests.

Run from the project root::

    .venv/bin/python bench/offers_search.py --postgres-admin-url postgresql+psycopg://root@127.0.0.1:5432/test
    .venv/bin/python bench/offers_search.py --backend sqlite --items 20000

This is a benchmark, not a test: it prints figures and only fails if the server answers wrongly
(or an item of the "with" state lacks its offers).
"""
from __future__ import annotations

import argparse
import random
import signal
import statistics
import sys
import tempfile
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

import requests  # noqa: E402

from bench.catalog_search import (COLLECTIONS, CONTINENTS, DEFAULT_ADMIN_URL, DEFAULT_SEED,  # noqa: E402
                                  MONTH_YEARS, ORG, Gunicorn, build_app, cores, create_postgres_database,
                                  drop_postgres_database, free_port, in_client_process, load, percentile,
                                  run_client, server_version)

LIMITS = (10, 100)
CLASSES = ("small bbox", "bbox+datetime", "collection", "page 1")
TARGET_RATIO = 1.15
PRICINGS = ({"pricing_model": "per_scene", "price": 12000}, {"pricing_model": "per_km2", "price": 350, "min_km2": 25},
            {"pricing_model": "per_gb", "price": 900, "gb": 10})


def plan(centres: list[tuple[float, float]], collections: list[str], count: int, seed: int) -> list[dict]:
    """Each class at each limit: ``count`` requests (warm-up included); ``collections``: those holding items."""
    rng = random.Random(seed)
    series = []
    for limit in LIMITS:
        small, continental, collection = [], [], []
        for _ in range(count):
            lon, lat = rng.choice(centres)
            small.append(("GET", "/stac/search", {"bbox": f"{lon - .25:.4f},{lat - .25:.4f},{lon + .25:.4f},"
                                                          f"{lat + .25:.4f}", "limit": limit}, None))
            west, south, east, north = CONTINENTS[rng.choice(sorted(CONTINENTS))]
            year, month = rng.choice(MONTH_YEARS), rng.randint(1, 12)
            last = ((datetime(year + month // 12, month % 12 + 1, 1)) - timedelta(days=1)).day
            continental.append(("GET", "/stac/search", {
                "bbox": f"{west},{south},{east},{north}", "limit": limit,
                "datetime": f"{year}-{month:02d}-01T00:00:00Z/{year}-{month:02d}-{last:02d}T23:59:59Z"}, None))
            collection.append(("GET", f"/stac/collections/{rng.choice(collections)}/items", {"limit": limit}, None))
        page1 = [("GET", "/stac/search", {"limit": limit}, None)] * count
        series += [{"class": "small bbox", "limit": limit, "requests": small},
                   {"class": "bbox+datetime", "limit": limit, "requests": continental},
                   {"class": "collection", "limit": limit, "requests": collection},
                   {"class": "page 1", "limit": limit, "requests": page1}]
    return series


def filled_collections(app) -> list[str]:
    """The collections holding items (a small --items fills only the first few)."""
    from sqlalchemy import select

    from exchange.catalog.models import Item
    from exchange.core.db import db

    with app.app_context():
        return sorted(db.session.scalars(select(Item.collection_id).distinct()))


def make_offers(app, every: int) -> list[dict]:
    """The offers' rows: one per collection, and one on every ``every``-th item."""
    from sqlalchemy import select

    from auth import service
    from exchange.catalog.models import Item
    from exchange.core.db import db
    from exchange.licensing.models import LicenseTemplate

    now = datetime.now(timezone.utc) - timedelta(minutes=1)
    with app.app_context():
        org_id = service.find_org(ORG).id
        template_id = db.session.scalar(select(LicenseTemplate.id).where(
            LicenseTemplate.code == "commercial-single-org", LicenseTemplate.version == 1))
        base = {"provider_org_id": org_id, "template_id": template_id, "currency": "CNY", "discounts": {},
                "valid_from": now, "valid_until": None, "withdrawn_at": None, "revision": 1, "created_at": now,
                "updated_at": now, "min_km2": None, "gb": None, "item_key": None, "collection_id": None}
        rows = [dict(base, id=uuid.uuid4(), collection_id=spec.id, **PRICINGS[n % 3])
                for n, spec in enumerate(COLLECTIONS)]
        keys = db.session.scalars(select(Item.key).order_by(Item.key)).all()
        rows += [dict(base, id=uuid.uuid4(), item_key=key, **PRICINGS[n % 3])
                 for n, key in enumerate(keys[::every])]
    return rows


def set_offers(app, rows: list[dict], present: bool) -> None:
    """Write the offers (``present``) or remove every one, and analyse the table as autovacuum would."""
    from sqlalchemy import delete, insert, text

    from exchange.core.db import db
    from exchange.licensing.models import Offer

    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(delete(Offer.__table__))
            if present:
                conn.execute(insert(Offer.__table__), rows)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE offers"))


def check_offers_shown(url: str, present: bool) -> None:
    """Every item of a page carries its offers when there are some, none when there are none."""
    features = requests.get(f"{url}/stac/search", params={"limit": 100}, timeout=60).json()["features"]
    carrying = sum(1 for f in features if f["properties"].get("sdx:offers"))
    if carrying != (len(features) if present else 0):
        raise RuntimeError(f"{carrying} of {len(features)} items carry sdx:offers with the offers "
                           f"{'present' if present else 'removed'}")


def report(times: dict, rounds: int, requests_per_round: int) -> None:
    ms = lambda seconds: seconds * 1000  # noqa: E731
    print(f"\nsearch latency, ms ({rounds} rounds x {requests_per_round} timed requests per class, state and limit)")
    print(f"{'class':<15}{'limit':>6}{'p50 offers':>12}{'p50 none':>10}{'p95 offers':>12}{'p95 none':>10}"
          f"{'p95 ratio':>11}")
    ratios = []
    for limit in LIMITS:
        for name in CLASSES:
            with_, without = times[(name, limit, True)], times[(name, limit, False)]
            ratio = percentile(with_, .95) / percentile(without, .95)
            ratios.append(ratio)
            print(f"{name:<15}{limit:>6}{ms(statistics.median(with_)):>12.1f}{ms(statistics.median(without)):>10.1f}"
                  f"{ms(percentile(with_, .95)):>12.1f}{ms(percentile(without, .95)):>10.1f}"
                  f"{ratio:>10.2f}{' ' if ratio <= TARGET_RATIO else '!'}")
    every_with = [t for (_, _, present), ts in times.items() if present for t in ts]
    every_without = [t for (_, _, present), ts in times.items() if not present for t in ts]
    overall = percentile(every_with, .95) / percentile(every_without, .95)
    print(f"all requests: p95 {ms(percentile(every_with, .95)):.1f} ms with offers, "
          f"{ms(percentile(every_without, .95)):.1f} ms without: ratio {overall:.2f} (target <= {TARGET_RATIO}); "
          f"worst class {max(ratios):.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--postgres-admin-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30, help="timed requests per class, limit, state and round")
    parser.add_argument("--warmup", type=int, default=10, help="untimed requests before each series")
    parser.add_argument("--rounds", type=int, default=6, help="rounds, each timing both states (default 6)")
    parser.add_argument("--product-offer-every", type=int, default=20,
                        help="a product offer of its own on every N-th item (default 20: 5 %%)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    parser.add_argument("--load-workers", type=int, default=cores())
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--keep", action="store_true", help="do not drop the PostgreSQL database")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    created = None
    with tempfile.TemporaryDirectory(prefix="sdx-bench-") as tmpdir:
        if args.backend == "postgresql":
            database_url = created = create_postgres_database(args.postgres_admin_url)
        else:
            database_url = f"sqlite:///{tmpdir}/bench.db"
        app = None
        try:
            port = free_port()
            app = build_app(database_url, tmpdir, port)
            print(f"loading {args.items:,} items ({server_version(app)}, {cores()} cores)", flush=True)
            loaded = load(app, args.items, 2000, args.seed, False, args.load_workers, tmpdir)
            rows = make_offers(app, args.product_offer_every)
            print(f"loaded {loaded.items:,} items; {len(rows):,} offers ({len(COLLECTIONS)} on collections, "
                  f"{len(rows) - len(COLLECTIONS):,} on products)", flush=True)
            series = plan(loaded.centres, filled_collections(app), args.warmup + args.requests, args.seed + 7)
            certain = {name: name != "bbox+datetime" for name in CLASSES}
            times: dict = {(name, limit, present): [] for name in CLASSES for limit in LIMITS
                           for present in (True, False)}
            with Gunicorn(database_url, tmpdir, port, args.workers, gc_freeze=True) as server:
                for number in range(args.rounds):
                    for present in ((True, False) if number % 2 == 0 else (False, True)):
                        set_offers(app, rows, present)
                        check_offers_shown(server.url, present)
                        results = in_client_process(run_client, server.url, series, args.requests, args.warmup,
                                                    certain, ("gzip",))["gzip"]
                        for (name, limit), entry in results.items():
                            times[(name, limit, present)] += entry["times"]
                        print(f"  round {number + 1}, offers {'present' if present else 'removed'}: done", flush=True)
            report(times, args.rounds, args.requests)
        finally:
            if app is not None:
                from exchange.core.db import db

                with app.app_context():
                    db.engine.dispose()
            if created and not args.keep:
                drop_postgres_database(args.postgres_admin_url, created)
    return 0


if __name__ == "__main__":
    sys.exit(main())
