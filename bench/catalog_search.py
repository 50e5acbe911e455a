"""Benchmark of the STAC catalogue: bulk-load rate and search latency over HTTP.

What it does:

1. Builds the app from ``create_app`` on a fresh database — a SQLite file in a temporary directory
   (``--backend sqlite``, the default), or a PostgreSQL database it creates itself on
   ``--postgres-admin-url`` (``--backend postgresql``: ``CREATE DATABASE sdx_bench_<random>``, dropped
   at the end unless ``--keep``), or an existing, empty database given as ``--database-url`` — and
   migrates it to head.
2. Generates N synthetic, valid STAC 1.0 items with a fixed seed (``--seed``): rotated quadrilateral
   footprints 10–100 km across at random places in lon -170..170, lat -60..70, datetimes 2015–2025,
   ``eo:cloud_cover`` 0–100, ``gsd`` 0.3–30 m, spread over 7 collections of one provider organisation.
   They are written to an NDJSON file (not timed) and imported as ``flask sdx import-stac FILE
   --provider ORG`` does (``import_path``: every line's collection checked first, then on PostgreSQL
   ``--load-workers`` writer processes, one per core by default, each validating and COPYing batches
   of ``--batch`` through ``bulk_upsert``), status published. The load rate is items / seconds of the
   import (reading, validation and writing included, generation excluded). Progress and an ETA are
   printed every tenth, so a load that would take too long can be interrupted.
   Then the items table is analysed (``VACUUM ANALYZE`` on PostgreSQL, ``ANALYZE`` on SQLite) as
   autovacuum would do after a bulk load; that time is printed but not counted in the load rate.
   Then it prints the size on disk: the database, and the items table's heap, TOAST and each index
   (bench/storage.py). With ``--pgstac-baseline`` the same items are first loaded into pgstac
   (bench/pgstac_load.py), and SDX's load rate and sizes are printed as ratios of pgstac's.
3. Serves the app as production does (``--server gunicorn``, the default: ``exchange.core.gunicorn_conf``,
   gthread workers with keep-alive, ``--workers`` processes, start-up objects frozen out of the cycle
   collector) or with werkzeug's threaded server in a daemon thread (``--server werkzeug``, what
   ``make run`` uses), and from a client in a separate, spawned process (one ``requests.Session``:
   HTTP/1.1 keep-alive, ``Accept-Encoding: --encoding``, gzip by default) times ``--requests`` requests
   per class, after ``--warmup`` untimed ones, at limit 10 and at limit 100:

   * small bbox      ``GET /stac/search?bbox=`` a 0.5° box around a random item's centre
   * continental     ``GET /stac/search?bbox=`` a continent ``&datetime=`` one calendar month
   * CQL2            ``POST /stac/search`` ``{"filter": "eo:cloud_cover < 10 AND gsd < 1", ...}``
   * intersects      ``POST /stac/search`` with a 500-vertex polygon (a circle of radius 2–5°)
   * page 1          ``GET /stac/search?limit=L`` (everything, newest first)
   * page 100        the same search, after following ``next`` 99 times (untimed): the 100th page's
                     URL is timed repeatedly (tokens are reusable)
   * prop 1 coll     ``POST /stac/search`` ``{"collections": ["bench-worldview"], "filter":
                     "\"sat:relative_orbit\" = N"}``: a property no column holds (every item carries
                     ``sat:relative_orbit`` 1–143 and ``s2:mgrs_tile``), read from the document
   * prop all        the same filter over every collection
   * prop rare       ``"s2:mgrs_tile" = 'T'`` within that collection, a value one item or two carry:
                     the page cannot stop early, every item of the collection is read
   * prop 1 coll+ix, prop rare+ix   the same two, timed after the provider's property indexes on
                     ``sat:relative_orbit`` (number) and ``s2:mgrs_tile`` (string) of that collection
                     have been built through the service

   Every response must be 200 (and non-empty where a match is certain), or the run stops.
4. Prints p50/p95/p99 per class and limit next to the targets (which are set for 1,000,000 items on
   PostgreSQL) and the published stac-fastapi-pgstac figures, whether p99 <= 2 x p95 (no latency tail),
   the mean answer size on the wire, plus the load rate and the ratios.
5. With ``--compare-compression`` each request is also sent with ``Accept-Encoding: identity``, right
   after the compressed one (same database state, same caches), and with ``--compare-gc`` the whole
   series is timed again on a server started with ``SDX_GC_FREEZE=false``; each such round is printed
   with its ratios to the first one, measured in the same run.

Run from the project root::

    .venv/bin/python bench/catalog_search.py --backend postgresql                  # 1,000,000 items
    .venv/bin/python bench/catalog_search.py --backend postgresql --items 100000
    .venv/bin/python bench/catalog_search.py --backend postgresql --items 5000000 --requests 100   # scale
    .venv/bin/python bench/catalog_search.py --items 20000                         # SQLite
    .venv/bin/python bench/catalog_search.py --backend postgresql --items 100000 --keep   # keep the DB to EXPLAIN
    .venv/bin/python bench/catalog_search.py --backend postgresql --pgstac-baseline       # against pgstac
    .venv/bin/python bench/catalog_search.py --items 20000 --profile-load          # cProfile one batch
    .venv/bin/python bench/catalog_search.py --backend postgresql --items 100000 --compare-compression --compare-gc

This is a benchmark, not a test: it prints figures and only fails if the server answers wrongly.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import logging
import math
import multiprocessing
import os
import pstats
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

# ``python bench/catalog_search.py`` puts bench/ first on sys.path, where bench/auth.py would shadow
# the ``auth`` package; put the project root there instead.
_HERE = Path(__file__).resolve().parent
PROJECT_ROOT = _HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(PROJECT_ROOT))

import requests  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

DEFAULT_ITEMS = {"postgresql": 1_000_000, "sqlite": 50_000}
DEFAULT_ADMIN_URL = (os.environ.get("SDX_BENCH_POSTGRES_ADMIN_URL") or os.environ.get("SDX_TEST_POSTGRES_URL")
                     or "postgresql+psycopg://root@127.0.0.1:5432/test")
ORG = "Bench Provider"
LIMITS = (10, 100)
CQL2 = "eo:cloud_cover < 10 AND gsd < 1"
MONTH_YEARS = range(2016, 2025)
CONTINENTS = {  # west, south, east, north
    "europe": (-10, 35, 40, 70), "north-america": (-125, 25, -65, 50), "south-america": (-80, -55, -35, 12),
    "africa": (-18, -35, 52, 37), "asia": (60, 5, 145, 55), "australia": (112, -44, 154, -10),
}
DEFAULT_BATCH = 2000
DEFAULT_SEED = 20261125
SIZE_TARGET = 1.3  # SDX's database / pgstac's, at the same items


# -- the classes, their targets and the reference ---------------------------------------------------
@dataclass(frozen=True)
class QueryClass:
    name: str
    target_p95_ms: float  # at limit 10; limit 100 gets LIMIT100_FACTOR times this
    pgstac_p95_ms: float | None  # stac-fastapi-pgstac at 1M items, limit 10
    certain_match: bool  # an empty answer means something is wrong


CLASSES = [
    QueryClass("small bbox", 30, 38, True),
    QueryClass("continental", 30, 37, False),
    QueryClass("cql2", 50, 1995, True),
    QueryClass("intersects", 50, 142, True),
    QueryClass("page 1", 30, 35, True),
    QueryClass("page 100", 30, 45, True),
    QueryClass("prop 1 coll", 50, None, True),
    QueryClass("prop all", 50, None, True),
    QueryClass("prop rare", 50, None, True),
]
#: Timed after the property indexes are built (on PROPERTY_COLLECTION), in a second round.
INDEXED_CLASSES = [QueryClass("prop 1 coll+ix", 50, None, True), QueryClass("prop rare+ix", 50, None, True)]
PROPERTY_COLLECTION = "bench-worldview"  # the first batch's: present whatever --items
PROPERTY_INDEXES = [{"name": "sat:relative_orbit", "kind": "number"}, {"name": "s2:mgrs_tile", "kind": "string"}]
LIMIT100_FACTOR = 2.5
PAGE100_FACTOR = 1.5
LOAD_TARGET = 18_000
PGSTAC_LOAD = 16_000  # pypgstac load at 1M on this machine kind, alone (issue 11); --pgstac-baseline measures it
TAIL_FACTOR = 2  # p99 <= 2 x p95
GUNICORN_CONFIG = "python:exchange.core.gunicorn_conf"


# -- small helpers (as in bench/auth.py) ------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cores() -> int:
    from exchange.core.config import usable_cores

    return usable_cores()


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile of ``samples`` (``fraction`` in 0..1)."""
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, int(round(fraction * len(ordered))) - 1))
    return ordered[index]


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def machine_cpu() -> tuple[float, float]:
    """(busy, idle) CPU seconds of the whole machine so far (Linux /proc/stat; zeros elsewhere)."""
    try:
        with open("/proc/stat") as fh:
            ticks = [int(v) for v in fh.readline().split()[1:]]
    except OSError:
        return 0.0, 0.0
    hz = os.sysconf("SC_CLK_TCK")
    idle = ticks[3] + ticks[4]
    return (sum(ticks[:8]) - idle) / hz, idle / hz


def process_cpu() -> float:
    """CPU seconds of this process and of its ended children (the import's writer processes)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def where_the_cpu_went(before: tuple[tuple[float, float], float], items: int) -> str:
    """The import's CPU time: SDX's Python processes against the rest of the machine (the database
    backends, and whatever else runs), per item, and how much of the machine stayed idle."""
    (busy0, idle0), python0 = before
    (busy1, idle1), python1 = machine_cpu(), process_cpu()
    python, rest, idle = python1 - python0, (busy1 - busy0) - (python1 - python0), idle1 - idle0
    if busy1 == busy0:
        return ""
    return (f"CPU of the import: SDX's Python {python:.1f} s ({python / items * 1e6:.0f} µs/item), the database and "
            f"the rest {rest:.1f} s ({rest / items * 1e6:.0f} µs/item); {idle / (busy1 - busy0 + idle):.0%} idle")


# -- synthetic items --------------------------------------------------------------------------------
@dataclass(frozen=True)
class CollectionSpec:
    id: str
    gsds: tuple[float, ...]
    size_km: tuple[float, float]
    platforms: tuple[str, ...]
    constellation: str
    instruments: tuple[str, ...]


COLLECTIONS = [
    CollectionSpec("bench-worldview", (0.3,), (10, 20), ("worldview-2", "worldview-3"), "maxar", ("wv110",)),
    CollectionSpec("bench-pleiades", (0.5,), (15, 25), ("pleiades-1a", "pleiades-1b"), "pleiades", ("hires",)),
    CollectionSpec("bench-skysat", (0.6,), (10, 25), ("skysat-c12", "skysat-c15"), "skysat", ("pan", "ms")),
    CollectionSpec("bench-spot", (1.0,), (30, 60), ("spot-6", "spot-7"), "spot", ("naomi",)),
    CollectionSpec("bench-planetscope", (3.0,), (20, 30), ("ps2", "ps2.sd", "psb.sd"), "planetscope", ("psb",)),
    CollectionSpec("bench-sentinel-2", (10.0,), (90, 100), ("sentinel-2a", "sentinel-2b"), "sentinel-2", ("msi",)),
    CollectionSpec("bench-landsat", (30.0,), (80, 100), ("landsat-8", "landsat-9"), "landsat", ("oli", "tirs")),
]
EPOCH_START = datetime(2015, 1, 1, tzinfo=timezone.utc)
EPOCH_SECONDS = int((datetime(2025, 1, 1, tzinfo=timezone.utc) - EPOCH_START).total_seconds())
KM_PER_DEGREE = 111.32


LATITUDE_BANDS = "CDEFGHJKLMNPQRSTUVWX"


def extra_properties(number: int) -> dict:
    """Two properties no column holds (filtered from the document), derived from the item's number so
    that the random stream, and so every other figure, stays as it was. A tile recurs every 10,140 items."""
    return {"sat:relative_orbit": number * 7919 % 143 + 1,
            "s2:mgrs_tile": f"{number % 60 + 1:02d}{LATITUDE_BANDS[number * 31 % 20]}{number * 7 % 676:03d}"}


def make_item(rng: random.Random, spec: CollectionSpec, number: int) -> tuple[dict, tuple[float, float]]:
    """One valid STAC item of ``spec``'s collection, and its centre (lon, lat)."""
    cx, cy = rng.uniform(-170, 170), rng.uniform(-60, 70)
    width = rng.uniform(*spec.size_km)
    height = width * rng.uniform(0.8, 1.2)
    angle = math.radians(rng.uniform(-12, 12))
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    km_per_lon = KM_PER_DEGREE * math.cos(math.radians(cy))
    ring = []
    for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
        x, y = sx * width / 2 * rng.uniform(0.95, 1.05), sy * height / 2 * rng.uniform(0.95, 1.05)
        ring.append([round(cx + (x * cos_a - y * sin_a) / km_per_lon, 6),
                     round(cy + (x * sin_a + y * cos_a) / KM_PER_DEGREE, 6)])
    ring.append(list(ring[0]))
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    when = EPOCH_START + timedelta(seconds=rng.randrange(EPOCH_SECONDS))
    item_id = f"{spec.id}-{number:08d}"
    item = {
        "type": "Feature", "stac_version": "1.0.0",
        "stac_extensions": ["https://stac-extensions.github.io/eo/v1.1.0/schema.json"],
        "id": item_id, "collection": spec.id,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "bbox": [min(lons), min(lats), max(lons), max(lats)],
        "properties": {
            "datetime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eo:cloud_cover": round(rng.uniform(0, 100), 2),
            "gsd": rng.choice(spec.gsds),
            "platform": rng.choice(spec.platforms),
            "constellation": spec.constellation,
            "instruments": list(spec.instruments),
            **extra_properties(number),
        },
        "assets": {
            "data": {"href": f"{item_id}.tif",
                     "type": "image/tiff; application=geotiff; profile=cloud-optimized", "roles": ["data"]},
            "thumbnail": {"href": f"https://bench.example/{spec.constellation}/{item_id}.png",
                          "type": "image/png", "roles": ["thumbnail"]},
        },
        "links": [],
    }
    return item, (cx, cy)


def item_batches(total: int, batch: int, seed: int):
    """The ``total`` items in load order, as (collection spec, [(item, centre), ...]) per batch of ``batch``:
    the collections take turns batch by batch. bench/pgstac_load.py loads the very same items."""
    rng = random.Random(seed)
    done = 0
    for index in range(math.ceil(total / batch)):
        spec = COLLECTIONS[index % len(COLLECTIONS)]
        made = [make_item(rng, spec, number) for number in range(done, min(done + batch, total))]
        done += len(made)
        yield spec, made


# -- the database and the app -----------------------------------------------------------------------
def create_postgres_database(admin_url: str, prefix: str = "sdx_bench") -> str:
    from sqlalchemy import create_engine, text

    name = f"{prefix}_{secrets.token_hex(4)}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(admin_url: str, url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    finally:
        engine.dispose()


def build_app(database_url: str, tmpdir: str, port: int):
    from flask_migrate import upgrade

    from app import create_app

    app = create_app({
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SDX_VAR_DIR": tmpdir,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "RATELIMIT_ENABLED": False,
        "S3_ENDPOINT": "",
    })
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with app.app_context():
        upgrade()
    return app


def server_version(app) -> str:
    from sqlalchemy import text

    from exchange.core.db import db

    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            pg = db.session.execute(text("SHOW server_version")).scalar()
            postgis = db.session.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")).scalar()
            return f"PostgreSQL {pg.split()[0]}, PostGIS {postgis}"
        return f"SQLite {db.session.execute(text('SELECT sqlite_version()')).scalar()}"


@dataclass
class LoadResult:
    items: int
    upsert_seconds: float  # of the import
    wall_seconds: float  # generation included
    analyse_seconds: float
    centres: list[tuple[float, float]]
    profile: str
    cpu_split: str = ""


def load(app, total: int, batch: int, seed: int, profile_last: bool, workers: int, tmpdir: str) -> LoadResult:
    """Create the provider and collections, write the ``total`` items to an NDJSON file (not timed),
    then import it as ``flask sdx import-stac FILE --provider ORG --workers N`` does (``import_path``:
    the collection check of every line first, then ``workers`` writer processes on PostgreSQL)."""
    from sqlalchemy import text

    import orjson

    from auth import service
    from exchange.policy import SYSTEM
    from exchange.catalog.batches import bulk_upsert
    from exchange.catalog.importer import import_path
    from exchange.catalog.models import ItemStatus
    from exchange.catalog.transactions import create_collection
    from exchange.core.db import db

    centres: list[tuple[float, float]] = []
    keep_every = max(1, total // 5000)
    profile_text = ""
    with app.app_context():
        service.create_org(SYSTEM, {"name": ORG, "kind": "provider"})
        org_id = service.find_org(ORG).id
        for spec in COLLECTIONS:
            create_collection(SYSTEM, {"id": spec.id, "title": spec.id, "description": "synthetic bench items"},
                              owner_org_id=org_id)

        wall_started = time.perf_counter()
        path = Path(tmpdir) / "items.ndjson"
        done = 0
        with path.open("wb") as fh:
            for spec, made in item_batches(total, batch, seed):
                centres += [centre for number, (_, centre) in enumerate(made, done + 1) if number % keep_every == 0]
                fh.write(b"".join(orjson.dumps(item) + b"\n" for item, _ in made))
                done += len(made)
        print(f"  wrote {total:,} items to {path.name} ({path.stat().st_size / 2**20:,.0f} MiB) in "
              f"{time.perf_counter() - wall_started:.0f} s (not timed); importing with {workers} writer(s)", flush=True)

        loaded, next_tenth = 0, 1
        cpu_before = machine_cpu(), process_cpu()
        started = time.perf_counter()

        def progress(count: int) -> None:
            nonlocal loaded, next_tenth
            loaded += count
            if loaded * 10 >= next_tenth * total and loaded < total:
                rate = loaded / (time.perf_counter() - started)
                print(f"  loaded {loaded:,} / {total:,} ({rate:,.0f} items/s; ETA {minutes((total - loaded) / rate)})",
                      flush=True)
                while next_tenth * total <= loaded * 10:
                    next_tenth += 1

        report = import_path(SYSTEM, path, collection_id=None, provider_org_id=org_id, status=ItemStatus.published,
                             workers=workers, progress=progress)
        upsert_seconds = time.perf_counter() - started
        cpu_split = where_the_cpu_went(cpu_before, total)
        if report.failures or report.written != total:
            raise RuntimeError(f"the import wrote {report.written} of {total}: {report.failures[:3]}")
        timed_items = total
        path.unlink()
        if profile_last:  # one more batch, new ids, in this process: where the time of an item goes
            spec, made = next(item_batches(batch, batch, seed + 1))
            docs = [dict(item, id=f"{item['id']}-profiled") for item, _ in made]
            profiler = cProfile.Profile()
            profiler.enable()
            bulk_upsert(SYSTEM, spec.id, docs, status=ItemStatus.published)
            profiler.disable()
            out = io.StringIO()
            out.write(f"cProfile of one more bulk_upsert batch ({len(docs)} items, in this process; not counted in "
                      "the load rate)\n")
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats(30)
            stats.sort_stats("tottime").print_stats(20)
            profile_text = out.getvalue()
        wall_seconds = time.perf_counter() - wall_started
        db.session.remove()

        started = time.perf_counter()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE items"))
        else:
            with db.engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        analyse_seconds = time.perf_counter() - started
    return LoadResult(timed_items, upsert_seconds, wall_seconds, analyse_seconds, centres, profile_text, cpu_split)


def print_storage(app, total: int, rate: float, baseline=None) -> None:
    """SDX's size on disk after the load and its VACUUM ANALYZE, broken down as bench/pgstac_load.py breaks
    pgstac's down; with ``baseline`` (pgstac's load of the same items in this run), SDX against it."""
    from bench.storage import postgres_storage, sqlite_storage
    from exchange.core.db import db

    with app.app_context(), db.engine.connect() as conn:
        measure = postgres_storage if db.engine.dialect.name == "postgresql" else sqlite_storage
        storage = measure(conn, "items", total)
    print("\n".join(storage.lines("SDX")), flush=True)
    if baseline:
        theirs = baseline.storage
        print("\n".join(baseline.lines()))
        print(f"SDX / pgstac, same items, same run: load rate {rate / baseline.rate:.2f}x "
              f"({rate:,.0f} vs {baseline.rate:,.0f} items/s); database {storage.database / theirs.database:.2f}x "
              f"(target <= {SIZE_TARGET}); items with indexes {storage.total / theirs.total:.2f}x", flush=True)


class Server:
    """werkzeug's threaded server in a daemon thread of this process (``make run``'s)."""

    def __init__(self, app, port: int) -> None:
        self.server = make_server("127.0.0.1", port, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, name="bench-server", daemon=True)

    def __enter__(self) -> "Server":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


class Gunicorn:
    """gunicorn with the production configuration, in its own process group, on the benchmark's database."""

    def __init__(self, database_url: str, tmpdir: str, port: int, workers: int, gc_freeze: bool) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SDX_")}
        env.update(SDX_DATABASE_URL=database_url, SDX_VAR_DIR=tmpdir, SDX_SECRET_KEY=secrets.token_urlsafe(32),
                   SDX_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}", SDX_S3_ENDPOINT="", SDX_LOG_LEVEL="WARNING",
                   SDX_GC_FREEZE=str(gc_freeze).lower(), WEB_CONCURRENCY=str(workers),
                   PYTHONPATH=str(PROJECT_ROOT))
        self.command = [sys.executable, "-m", "gunicorn", "-c", GUNICORN_CONFIG, "--bind", f"127.0.0.1:{port}",
                        "--access-logfile", "/dev/null", "app:create_app()"]
        self.env, self.url = env, f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "Gunicorn":
        self.process = subprocess.Popen(self.command, cwd=PROJECT_ROOT, env=self.env, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{self.url}/healthz", timeout=5).status_code == 200:
                    return self
            except requests.RequestException:  # not listening yet, or a worker still booting
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"gunicorn did not start: {' '.join(self.command)}")
            time.sleep(0.2)

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


# -- the requests -----------------------------------------------------------------------------------
def circle(rng: random.Random, lon: float, lat: float, vertices: int = 500) -> dict:
    """A closed ring of ``vertices`` positions (first == last) approximating a circle of radius 2–5°."""
    radius = rng.uniform(2, 5)
    ring = []
    for i in range(vertices - 1):
        theta = 2 * math.pi * i / (vertices - 1)
        ring.append([round(max(-180.0, min(180.0, lon + radius * math.cos(theta))), 6),
                     round(max(-90.0, min(90.0, lat + radius * math.sin(theta))), 6)])
    ring.append(list(ring[0]))
    return {"type": "Polygon", "coordinates": [ring]}


def plan_requests(centres: list[tuple[float, float]], count: int, seed: int, first_batch: int) -> list[dict]:
    """For each class and limit: the requests to send (``count`` of them, warm-up included)."""
    rng = random.Random(seed + 1)
    plan = []
    for limit in LIMITS:
        small, continental, intersects = [], [], []
        for _ in range(count):
            lon, lat = rng.choice(centres)
            small.append(("GET", "/stac/search",
                          {"bbox": f"{lon - 0.25:.4f},{lat - 0.25:.4f},{lon + 0.25:.4f},{lat + 0.25:.4f}",
                           "limit": limit}, None))
            west, south, east, north = CONTINENTS[rng.choice(sorted(CONTINENTS))]
            year, month = rng.choice(MONTH_YEARS), rng.randint(1, 12)
            last_day = ((datetime(year + month // 12, month % 12 + 1, 1)) - timedelta(days=1)).day
            continental.append(("GET", "/stac/search", {
                "bbox": f"{west},{south},{east},{north}",
                "datetime": f"{year}-{month:02d}-01T00:00:00Z/{year}-{month:02d}-{last_day:02d}T23:59:59Z",
                "limit": limit}, None))
            lon, lat = rng.choice(centres)
            intersects.append(("POST", "/stac/search", None, {"intersects": circle(rng, lon, lat), "limit": limit}))
        cql2 = [("POST", "/stac/search", None, {"filter": CQL2, "filter-lang": "cql2-text", "limit": limit})] * count
        orbits = [rng.randint(1, 143) for _ in range(count)]
        in_one = [("POST", "/stac/search", None, {"collections": [PROPERTY_COLLECTION], "limit": limit,
                                                  "filter": f'"sat:relative_orbit" = {n}'}) for n in orbits]
        in_all = [("POST", "/stac/search", None, {"limit": limit, "filter": f'"sat:relative_orbit" = {n}'})
                  for n in orbits]
        tiles = [extra_properties(rng.randrange(first_batch))["s2:mgrs_tile"] for _ in range(count)]
        rare = [("POST", "/stac/search", None, {"collections": [PROPERTY_COLLECTION], "limit": limit,
                                                "filter": f"\"s2:mgrs_tile\" = '{tile}'"}) for tile in tiles]
        page1 = [("GET", "/stac/search", {"limit": limit}, None)] * count
        plan += [
            {"class": "small bbox", "limit": limit, "requests": small},
            {"class": "continental", "limit": limit, "requests": continental},
            {"class": "cql2", "limit": limit, "requests": cql2},
            {"class": "intersects", "limit": limit, "requests": intersects},
            {"class": "page 1", "limit": limit, "requests": page1},
            {"class": "page 100", "limit": limit, "requests": page1[:1], "follow_next": 99},
            {"class": "prop 1 coll", "limit": limit, "requests": in_one},
            {"class": "prop all", "limit": limit, "requests": in_all},
            {"class": "prop rare", "limit": limit, "requests": rare},
        ]
    return plan


def plan_indexed(plan: list[dict]) -> list[dict]:
    """The same property filters within one collection, for the round after their indexes are built."""
    indexed = {"prop 1 coll": "prop 1 coll+ix", "prop rare": "prop rare+ix"}
    return [dict(series, **{"class": indexed[series["class"]]}) for series in plan if series["class"] in indexed]


def build_property_indexes(app) -> float:
    """Ask for the indexes through the service, as a provider would (built at once: no broker); seconds."""
    from exchange.policy import SYSTEM
    from exchange.catalog.property_indexes import request_index

    with app.app_context():
        started = time.perf_counter()
        for wanted in PROPERTY_INDEXES:
            index = request_index(SYSTEM, PROPERTY_COLLECTION, wanted)
            if index.status.value != "ready":
                raise RuntimeError(f"the property index is {index.status.value}: {index.error}")
        return time.perf_counter() - started


# -- the client (runs in its own, spawned process) ------------------------------------------------
def run_client(url: str, plan: list[dict], timed: int, warmup: int, certain: dict[str, bool],
               encodings: tuple[str, ...]) -> dict:
    """Send each series' requests over one keep-alive session, each request once per ``encodings``
    (asked for in ``Accept-Encoding``) back to back, so that they are compared on the same database
    state; return, per encoding and series, seconds, counts and sizes on the wire (Content-Length)."""
    results: dict = {encoding: {} for encoding in encodings}
    with requests.Session() as session:
        def call(method: str, target: str, params, body, what: str,
                 encoding: str = encodings[0]) -> tuple[float, dict, int]:
            full = target if target.startswith("http") else f"{url}{target}"
            headers = {"Accept-Encoding": encoding}
            started = time.perf_counter()
            if method == "GET":
                response = session.get(full, params=params, headers=headers, timeout=120)
            else:
                response = session.post(full, json=body, headers=headers, timeout=120)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"{what}: {method} {full} answered {response.status_code}: {response.text[:500]}")
            if response.headers.get("Content-Encoding", "identity") != encoding.split(",")[0].strip():
                if len(response.content) >= 500:  # the server's threshold: smaller answers go plain
                    raise RuntimeError(f"{what}: asked for {encoding}, got {response.headers.get('Content-Encoding')}")
            payload = response.json()
            if not isinstance(payload.get("features"), list):
                raise RuntimeError(f"{what}: no features in the answer: {response.text[:300]}")
            return elapsed, payload, int(response.headers.get("Content-Length", len(response.content)))

        for series in plan:
            what = f"{series['class']} (limit {series['limit']})"
            reqs = series["requests"]
            if series.get("follow_next"):
                method, target, params, body = reqs[0]
                _, payload, _ = call(method, target, params, body, what)
                for page in range(series["follow_next"]):
                    nexts = [link for link in payload["links"] if link.get("rel") == "next"]
                    if not nexts:
                        raise RuntimeError(f"{what}: page {page + 1} has no next link — too few items "
                                           f"for 100 pages of {series['limit']}")
                    target = nexts[0]["href"]
                    _, payload, _ = call("GET", target, None, None, what)
                reqs = [("GET", target, None, None)] * (warmup + timed)
            entries = {encoding: {"times": [], "returned": [], "matched": [], "sizes": []} for encoding in encodings}
            for i, (method, target, params, body) in enumerate(reqs[:warmup + timed]):
                for encoding in encodings:
                    elapsed, payload, size = call(method, target, params, body, what, encoding)
                    n = payload.get("numberReturned", len(payload["features"]))
                    if n != len(payload["features"]) or n > series["limit"]:
                        raise RuntimeError(f"{what}: numberReturned {n} but {len(payload['features'])} features")
                    if n == 0 and certain[series["class"]]:
                        raise RuntimeError(f"{what}: empty answer where a match is certain: {method} {target} "
                                           f"{params or ''} {str(body)[:200] if body else ''}")
                    if i >= warmup:
                        entry = entries[encoding]
                        entry["times"].append(elapsed)
                        entry["returned"].append(n)
                        entry["matched"].append(next((payload[k] for k in ("numberMatched", "sdx:numberMatchedEstimate",
                                                                    "sdx:numberMatchedAtLeast") if k in payload), None))
                        entry["sizes"].append(size)
            for encoding, entry in entries.items():
                results[encoding][(series["class"], series["limit"])] = entry
    return results


def in_client_process(fn, *args):
    """Run the load loop in its own process, as a real client would be, so the client's Python does
    not compete with the server for the GIL."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(fn, *args).result()


# -- the report -------------------------------------------------------------------------------------
@dataclass
class Round:
    label: str  # how this round was served and asked for
    results: dict


def _figures(entry: dict) -> tuple[float, float, float]:
    return tuple(percentile(entry["times"], f) * 1000.0 for f in (0.50, 0.95, 0.99))


def report(backend: str, version: str, total: int, loaded: LoadResult, rounds: list[Round], args,
           index_seconds: float) -> None:
    results = rounds[0].results
    print()
    print(f"SDX catalog search benchmark — {backend} ({version}), N = {total:,} items in {len(COLLECTIONS)} "
          f"collections, {cores()} cores, Python {sys.version.split()[0]}")
    print(f"{args.requests} timed requests per row after {args.warmup} warm-up, one keep-alive client in its own "
          "process. Targets and pgstac figures are for 1,000,000 items on PostgreSQL.")
    rate = loaded.items / loaded.upsert_seconds
    verdict = "ok" if rate >= LOAD_TARGET else "BELOW TARGET"
    timed = f"{loaded.items:,} items"
    print(f"load: {timed} in {loaded.upsert_seconds:.1f} s of import = {rate:,.0f} items/s "
          f"(target >= {LOAD_TARGET:,}: {verdict}; pgstac {PGSTAC_LOAD:,})   wall incl. generation "
          f"{loaded.wall_seconds:.1f} s; {'VACUUM ANALYZE' if backend == 'postgresql' else 'ANALYZE'} "
          f"{loaded.analyse_seconds:.1f} s (not counted)")
    if loaded.cpu_split:
        print(loaded.cpu_split)
    names = " and ".join(index["name"] for index in PROPERTY_INDEXES)
    print(f"property indexes on {names} of {PROPERTY_COLLECTION} built in {index_seconds:.1f} s "
          "(between the two rounds; prop = a CQL2 filter on a property read from the item document)")
    print(f"served by {rounds[0].label}")
    print()
    header = (f"{'class':<14} {'limit':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'target p95':>10} "
              f"{'pgstac p95':>10} {'verdict':>8} {'p99<=2xp95':>10} {'wire KiB':>9}   {'mean returned':>13} "
              f"{'median matched':>14}")
    print(header)
    print("-" * len(header))
    p95, p50 = {}, {}
    for limit in LIMITS:
        for cls in CLASSES + INDEXED_CLASSES:
            entry = results[(cls.name, limit)]
            p50[cls.name, limit], p95[cls.name, limit], p99 = _figures(entry)
            target = cls.target_p95_ms * (1 if limit == 10 else LIMIT100_FACTOR)
            reference = f"{cls.pgstac_p95_ms:.0f}" if limit == 10 and cls.pgstac_p95_ms else "—"
            verdict = "ok" if p95[cls.name, limit] <= target else "MISS"
            tail = "ok" if p99 <= TAIL_FACTOR * p95[cls.name, limit] else "TAIL"
            matched = [m for m in entry["matched"] if m is not None]
            print(f"{cls.name:<14} {limit:>5} {p50[cls.name, limit]:>8.1f} {p95[cls.name, limit]:>8.1f} {p99:>8.1f} "
                  f"{target:>10.0f} {reference:>10} {verdict:>8} {tail:>10} "
                  f"{statistics.mean(entry['sizes']) / 1024:>9.1f}   {statistics.mean(entry['returned']):>13.1f} "
                  f"{(statistics.median(matched) if matched else float('nan')):>14,.0f}")
    print()
    for limit in LIMITS:
        ratio95 = p95["page 100", limit] / p95["page 1", limit]
        ratio50 = p50["page 100", limit] / p50["page 1", limit]
        verdict = "ok" if ratio95 <= PAGE100_FACTOR else "MISS"
        print(f"page 100 / page 1 at limit {limit:>3}: p95 {ratio95:.2f}  p50 {ratio50:.2f}  "
              f"(target <= {PAGE100_FACTOR}: {verdict})")
    ratios = "  ".join(f"{cls.name} {p95[cls.name, 100] / p95[cls.name, 10]:.2f}" for cls in CLASSES)
    print(f"limit 100 / limit 10, p95: {ratios}   (target: limit-100 p95 <= {LIMIT100_FACTOR} x the limit-10 target)")
    for other in rounds[1:]:
        compare(rounds[0], other)
    if loaded.profile:
        print()
        print(loaded.profile)


def compare(base: Round, other: Round) -> None:
    """Another round of the same requests: its figures, and each one's ratio to the first round's."""
    print()
    print(f"the same requests served by {other.label}; ratios = this round / the first round")
    header = (f"{'class':<14} {'limit':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'p99<=2xp95':>10} "
              f"{'wire KiB':>9}   {'p50 ratio':>9} {'p95 ratio':>9} {'p99 ratio':>9} {'wire ratio':>10}")
    print(header)
    print("-" * len(header))
    tails = 0
    for limit in LIMITS:
        for cls in CLASSES + INDEXED_CLASSES:
            mine, theirs = other.results[(cls.name, limit)], base.results[(cls.name, limit)]
            figures, reference = _figures(mine), _figures(theirs)
            tail = figures[2] <= TAIL_FACTOR * figures[1]
            tails += not tail
            wire, wire_base = statistics.mean(mine["sizes"]), statistics.mean(theirs["sizes"])
            ratios = " ".join(f"{a / b:>9.2f}" for a, b in zip(figures, reference))
            print(f"{cls.name:<14} {limit:>5} {figures[0]:>8.1f} {figures[1]:>8.1f} {figures[2]:>8.1f} "
                  f"{'ok' if tail else 'TAIL':>10} {wire / 1024:>9.1f}   {ratios} {wire / wire_base:>10.2f}")
    base_tails = sum(not (lambda f: f[2] <= TAIL_FACTOR * f[1])(_figures(entry)) for entry in base.results.values())
    print(f"rows with p99 > {TAIL_FACTOR} x p95: {tails} here, {base_tails} in the first round")


# -- main -------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default=None,
                        help="database backend (default sqlite, or that of --database-url)")
    parser.add_argument("--items", type=int, default=None,
                        help="items to load (default 1,000,000 on PostgreSQL, 50,000 on SQLite)")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per class and limit (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests before each series (default 20)")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH,
                        help=f"items per bulk_upsert call (default {DEFAULT_BATCH})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument("--load-workers", type=int, default=cores(),
                        help=f"writer processes of the import (default one per core: {cores()}; 1: in-process)")
    parser.add_argument("--server", choices=("gunicorn", "werkzeug"), default="gunicorn",
                        help="gunicorn with the production configuration (default), or werkzeug's development server")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    parser.add_argument("--encoding", default="gzip",
                        help="the client's Accept-Encoding (default gzip; br, identity, ...)")
    parser.add_argument("--compare-compression", action="store_true",
                        help="also send each request with Accept-Encoding: identity and print the ratios")
    parser.add_argument("--compare-gc", action="store_true",
                        help="time everything again on a gunicorn started with SDX_GC_FREEZE=false, print the ratios")
    parser.add_argument("--postgres-admin-url", default=DEFAULT_ADMIN_URL,
                        help="PostgreSQL database to connect to for CREATE/DROP DATABASE "
                             f"(default $SDX_BENCH_POSTGRES_ADMIN_URL, $SDX_TEST_POSTGRES_URL or {DEFAULT_ADMIN_URL})")
    parser.add_argument("--database-url", default=None,
                        help="use this existing, empty database instead of creating one (it is migrated, not dropped)")
    parser.add_argument("--keep", action="store_true", help="do not drop the PostgreSQL database this script created")
    parser.add_argument("--pgstac-baseline", action="store_true",
                        help="first load the same items into pgstac (bench/pgstac_load.py, on --postgres-admin-url's "
                             "server) and print SDX's load rate and size against pgstac's")
    parser.add_argument("--profile-load", action="store_true",
                        help="cProfile one more bulk_upsert batch in this process (not in the load rate) and print the top entries")
    args = parser.parse_args(argv)
    for name in ("requests", "batch", "workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.compare_gc and args.server != "gunicorn":
        parser.error("--compare-gc needs --server gunicorn (the freeze is done by its configuration)")
    if args.database_url:
        url_backend = make_url(args.database_url).get_backend_name()
        if args.backend and args.backend != url_backend:
            parser.error(f"--backend {args.backend} but --database-url is {url_backend}")
        backend = url_backend
    else:
        backend = args.backend or "sqlite"
    total = args.items if args.items is not None else DEFAULT_ITEMS[backend]
    if total < 100 * max(LIMITS):
        parser.error(f"--items must be at least {100 * max(LIMITS):,} (100 pages of {max(LIMITS)})")
    if args.pgstac_baseline and backend != "postgresql":
        parser.error("--pgstac-baseline compares with PostgreSQL only: add --backend postgresql")
    baseline = None
    if args.pgstac_baseline:
        from bench.pgstac_load import measure

        baseline = measure(args.postgres_admin_url, total, args.batch, args.seed, args.keep)

    # A SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C: gunicorn is stopped and the database dropped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    created_url = None
    with tempfile.TemporaryDirectory(prefix="sdx-bench-") as tmpdir:
        if args.database_url:
            database_url = args.database_url
        elif backend == "postgresql":
            database_url = created_url = create_postgres_database(args.postgres_admin_url)
        else:
            database_url = f"sqlite:///{tmpdir}/bench.db"
        app = None
        try:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            print(f"database: {make_url(database_url).render_as_string(hide_password=True)}", flush=True)
            app = build_app(database_url, tmpdir, port)
            version = server_version(app)
            print(f"loading {total:,} items in batches of {args.batch:,} ({version}, {cores()} cores)", flush=True)
            loaded = load(app, total, args.batch, args.seed, args.profile_load, args.load_workers, tmpdir)
            print_storage(app, total, loaded.items / loaded.upsert_seconds, baseline)
            print(f"loaded: {loaded.items / loaded.upsert_seconds:,.0f} items/s; timing "
                  f"{len(CLASSES) * len(LIMITS)} series of {args.requests} requests", flush=True)
            plan = plan_requests(loaded.centres, args.warmup + args.requests, args.seed, min(args.batch, total))
            certain = {cls.name: cls.certain_match for cls in CLASSES + INDEXED_CLASSES}

            def serve(gc_freeze: bool = True):
                if args.server == "werkzeug":
                    return Server(app, port)
                return Gunicorn(database_url, tmpdir, port, args.workers, gc_freeze)

            def label(encoding: str, gc_freeze: bool = True) -> str:
                if args.server == "werkzeug":
                    return f"werkzeug (threaded, in the benchmark's process), Accept-Encoding: {encoding}"
                return (f"gunicorn -c {GUNICORN_CONFIG} ({args.workers} gthread workers, keep-alive, gc.freeze "
                        f"{'on' if gc_freeze else 'off'}), Accept-Encoding: {encoding}")

            encodings = (args.encoding, "identity") if args.compare_compression else (args.encoding,)

            def timed(series: list[dict], encodings: tuple[str, ...]) -> dict:
                return in_client_process(run_client, url, series, args.requests, args.warmup, certain, encodings)

            with serve():
                results = timed(plan, encodings)
                index_seconds = build_property_indexes(app)
                for encoding, indexed in timed(plan_indexed(plan), encodings).items():
                    results[encoding].update(indexed)
                rounds = [Round(label(encoding), results[encoding]) for encoding in encodings]
            if args.compare_gc:
                print("timing again on a gunicorn without gc.freeze", flush=True)
                with serve(gc_freeze=False):
                    again = timed(plan + plan_indexed(plan), (args.encoding,))[args.encoding]
                    rounds.append(Round(label(args.encoding, False), again))
        finally:
            if app is not None:
                from exchange.core.db import db

                with app.app_context():
                    db.engine.dispose()
            if created_url and not args.keep:
                drop_postgres_database(args.postgres_admin_url, created_url)
            elif created_url:
                print(f"kept database {make_url(created_url).database}")
    report(backend, version, total, loaded, rounds, args, index_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
