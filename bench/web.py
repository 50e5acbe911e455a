"""What a page costs over the API call it is built on: the web pages against the same reads through
the STAC API, on the sample catalogue (1,000 NAIP + 100 Sentinel-2 items).

    PYTHONPATH=. python bench/web.py [--rounds 40] [--postgres]

One run: a fresh database (SQLite in a temporary folder; ``--postgres``: a PostgreSQL+PostGIS database
made from SDX_TEST_POSTGRES_URL's server and dropped at the end), migrated to head, the sample sets
imported as ``make run`` does, a buyer signed in through the sign-in form. Every request goes through
Flask's test client in this process (no network), in rounds that alternate page and API, so both
see the same machine. Prints per pair the medians (ms) and the ratio page / API; then the medians of
the buyer's own pages. The page's extra work is rendering, the explanation of the visitor's standing,
offers and licence terms: the ratio says what that costs.

This is a benchmark, not a test: it prints figures and stops only if an answer is wrong.
"""
from __future__ import annotations

import argparse
import re
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bench.catalog_search import (DEFAULT_ADMIN_URL, create_postgres_database,  # noqa: E402
                                  drop_postgres_database)

PASSWORD = "a long bench password"
BBOX = "-88.5,30.5,-86.5,31.5"  # over the NAIP sample's Alabama tiles


def build(database_url: str, tmpdir: str):
    from flask_migrate import upgrade

    from app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SDX_VAR_DIR": tmpdir, "S3_ENDPOINT": "",
                      "SECRET_KEY": secrets.token_urlsafe(32), "PUBLIC_BASE_URL": "http://127.0.0.1:5999",
                      "RATELIMIT_ENABLED": False, "PASSWORD_HASH": "scrypt:1024:8:1"})
    with app.app_context():
        upgrade(directory=str(_HERE.parent / "migrations"))
        from auth import service
        from exchange.catalog.demo import seed_demo_catalog
        from exchange.policy import SYSTEM
        service.create_org(SYSTEM, {"name": "Demo Provider", "kind": "provider"})
        print("\n".join(seed_demo_catalog()))
        service.create_org(SYSTEM, {"name": "Bench Buyer", "kind": "buyer"})
        service.create_user(SYSTEM, {"org": "Bench Buyer", "email": "buyer@bench.example", "password": PASSWORD,
                                     "roles": ["buyer"]})
    return app


def signed_in(app):
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    answer = client.post("/login", data={"email": "buyer@bench.example", "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 302, answer.get_data(as_text=True)[:500]
    return client


def timed(client, path: str) -> float:
    start = time.perf_counter()
    answer = client.get(path)
    elapsed = (time.perf_counter() - start) * 1000
    assert answer.status_code == 200, (path, answer.status_code, answer.get_data(as_text=True)[:300])
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    tmpdir = tempfile.mkdtemp(prefix="sdx-bench-web-")
    url = create_postgres_database(DEFAULT_ADMIN_URL) if args.postgres else f"sqlite:///{tmpdir}/bench.db"
    try:
        app = build(url, tmpdir)
        anonymous, buyer = app.test_client(), signed_in(app)
        found = anonymous.get(f"/stac/search?bbox={BBOX}&limit=20").get_json()
        feature = found["features"][0]
        key = feature["properties"]["sdx:product_id"]
        item = f"/stac/collections/{feature['collection']}/items/{feature['id']}"
        pairs = [
            ("search, 20 results (anonymous)", anonymous, f"/search?bbox={BBOX}&limit=20", f"/stac/search?bbox={BBOX}&limit=20"),
            ("search, 20 results (buyer)", buyer, f"/search?bbox={BBOX}&limit=20", f"/stac/search?bbox={BBOX}&limit=20"),
            ("product page vs STAC item (buyer)", buyer, f"/products/{key}", item),
            ("home vs collections (anonymous)", anonymous, "/", "/stac/collections"),
        ]
        own = ["/licenses", "/orders", "/wallet", "/usage", "/access-requests", "/cart"]
        for _ in range(3):  # warm caches and the first-request work
            for _, client, page, api in pairs:
                timed(client, page), timed(client, api)
        times = {name: ([], []) for name, *_ in pairs}
        own_times = {path: [] for path in own}
        for round_ in range(args.rounds):
            for name, client, page, api in pairs:
                first, second = (page, api) if round_ % 2 == 0 else (api, page)
                a, b = timed(client, first), timed(client, second)
                times[name][0].append(a if first == page else b)
                times[name][1].append(b if first == page else a)
            for path in own:
                own_times[path].append(timed(buyer, path))
        backend = "PostgreSQL" if args.postgres else "SQLite"
        print(f"\nweb pages against the API reads they show ({backend}, {args.rounds} rounds, medians, ms)")
        print(f"{'pair':<38}{'page':>9}{'API':>9}{'page/API':>10}")
        for name, (page_ms, api_ms) in times.items():
            p, a = statistics.median(page_ms), statistics.median(api_ms)
            print(f"{name:<38}{p:9.1f}{a:9.1f}{p / a:10.2f}")
        print("\nthe buyer's own pages (medians, ms)")
        for path, values in own_times.items():
            print(f"{path:<38}{statistics.median(values):9.1f}")
    finally:
        if args.postgres:
            drop_postgres_database(DEFAULT_ADMIN_URL, url)


if __name__ == "__main__":
    main()
