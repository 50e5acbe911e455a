"""Baseline for the catalogue benchmark: pgstac's bulk load of the same synthetic items, on this machine.

What it does:

1. Makes (on first use, and again when bench/pgstac-requirements.txt changes) a venv of its own,
   ``.venv-pgstac/`` (or ``$SDX_PGSTAC_VENV``), with the pinned pypgstac: pypgstac is no dependency
   of SDX, and its pins must not meet SDX's.
2. Creates a database on ``--postgres-admin-url`` (``CREATE DATABASE pgstac_bench_<random>``, dropped
   at the end unless ``--keep``) and runs ``pypgstac migrate`` there.
3. Writes the 7 collections of bench/catalog_search.py and the same N items (its generator, with the
   same ``--seed`` and ``--batch``) as NDJSON files in a temporary folder: not timed.
4. Loads the collections, then times ``pypgstac load items FILE --method insert`` (the whole command:
   reading and dehydrating the NDJSON, and COPY into pgstac's partitions, one per collection).
   Then ``VACUUM ANALYZE`` (printed, not counted), as bench/catalog_search.py does after SDX's load.
5. Prints the load rate, and the database's size with the items' breakdown: heap, TOAST and each
   index, summed over pgstac's items partitions, in MiB and bytes per item (see bench/storage.py).

Run from the project root::

    .venv/bin/python bench/pgstac_load.py                     # 1,000,000 items
    .venv/bin/python bench/pgstac_load.py --items 100000 --keep

``bench/catalog_search.py --pgstac-baseline`` runs the same measurement first, in its own run, and
prints SDX's figures against it.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

_HERE = Path(__file__).resolve().parent
ROOT = _HERE.parent
# As in catalog_search.py: bench/ first on sys.path would let bench/auth.py shadow the auth package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.catalog_search import (  # noqa: E402
    COLLECTIONS, DEFAULT_ADMIN_URL, DEFAULT_BATCH, DEFAULT_SEED, create_postgres_database, drop_postgres_database,
    item_batches,
)
from bench.storage import Storage, postgres_storage  # noqa: E402

REQUIREMENTS = _HERE / "pgstac-requirements.txt"
VENV = Path(os.environ.get("SDX_PGSTAC_VENV") or ROOT / ".venv-pgstac")
#: The issue's figures for pypgstac at 1,000,000 items, for the record.
ISSUE_RATE, ISSUE_DATABASE_MB = 16_000, 1_136


@dataclass(frozen=True)
class PgstacResult:
    version: str
    items: int
    load_seconds: float
    analyse_seconds: float
    storage: Storage

    @property
    def rate(self) -> float:
        return self.items / self.load_seconds

    def lines(self) -> list[str]:
        return [f"pgstac {self.version}: pypgstac load items --method insert, {self.items:,} items in "
                f"{self.load_seconds:.1f} s = {self.rate:,.0f} items/s   (VACUUM ANALYZE {self.analyse_seconds:.1f} s, "
                f"not counted; the issue's figures at 1,000,000: {ISSUE_RATE:,} items/s, {ISSUE_DATABASE_MB:,} MB)",
                *self.storage.lines("pgstac")]


def pgstac_venv() -> Path:
    """pypgstac's command in its venv with the pinned requirements; the venv is (re)made when they change."""
    python, command, stamp = VENV / "bin" / "python", VENV / "bin" / "pypgstac", VENV / ".sdx-requirements"
    wanted = REQUIREMENTS.read_text()
    if not (stamp.exists() and stamp.read_text() == wanted and command.exists()):
        print(f"Installing pypgstac into {VENV}…", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "--quiet", "--disable-pip-version-check", "install",
                        "-r", str(REQUIREMENTS)], check=True)
        stamp.write_text(wanted)
    return command


def collection(spec) -> dict:
    return {"type": "Collection", "stac_version": "1.0.0", "id": spec.id, "title": spec.id,
            "description": "synthetic bench items", "license": "proprietary", "links": [],
            "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}}}


def write_ndjson(folder: Path, total: int, batch: int, seed: int) -> tuple[Path, Path]:
    """The collections' and the items' NDJSON files, the items as bench/catalog_search.py loads them."""
    collections, items = folder / "collections.ndjson", folder / "items.ndjson"
    collections.write_text("".join(json.dumps(collection(spec)) + "\n" for spec in COLLECTIONS))
    with items.open("w") as out:
        for _, made in item_batches(total, batch, seed):
            out.writelines(json.dumps(item, separators=(",", ":")) + "\n" for item, _ in made)
    return collections, items


def measure(admin_url: str, total: int, batch: int = DEFAULT_BATCH, seed: int = DEFAULT_SEED,
            keep: bool = False) -> PgstacResult:
    """Load ``total`` items into a fresh pgstac database on ``admin_url``'s server; the rate and the sizes."""
    pypgstac = pgstac_venv()
    admin_url = make_url(admin_url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    database_url = create_postgres_database(admin_url, prefix="pgstac_bench")
    sqlalchemy_url = make_url(database_url).set(drivername="postgresql+psycopg")
    dsn = ["--dsn", sqlalchemy_url.set(drivername="postgresql").render_as_string(hide_password=False)]
    print(f"pgstac database: {sqlalchemy_url.render_as_string(hide_password=True)}", flush=True)
    try:
        version = subprocess.run([str(pypgstac), "migrate", *dsn], check=True, capture_output=True,
                                 text=True).stdout.strip().splitlines()[-1]
        with tempfile.TemporaryDirectory(prefix="sdx-pgstac-") as folder:
            print(f"writing {total:,} items as NDJSON (not timed)", flush=True)
            collections, items = write_ndjson(Path(folder), total, batch, seed)
            subprocess.run([str(pypgstac), "load", "collections", str(collections), *dsn], check=True)
            print(f"pypgstac load items ({items.stat().st_size / 2**20:,.0f} MiB of NDJSON)", flush=True)
            started = time.perf_counter()
            subprocess.run([str(pypgstac), "load", "items", str(items), "--method", "insert", *dsn], check=True)
            load_seconds = time.perf_counter() - started
        engine = create_engine(sqlalchemy_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                loaded = conn.execute(text("SELECT count(*) FROM pgstac.items")).scalar_one()
                if loaded != total:
                    raise RuntimeError(f"pgstac holds {loaded:,} items, not {total:,}")
                started = time.perf_counter()
                conn.execute(text("VACUUM ANALYZE pgstac.items"))
                analyse_seconds = time.perf_counter() - started
                storage = postgres_storage(conn, "pgstac.items", total)
        finally:
            engine.dispose()
    finally:
        if keep:
            print(f"kept database {sqlalchemy_url.database}")
        else:
            drop_postgres_database(admin_url, database_url)
    return PgstacResult(version, total, load_seconds, analyse_seconds, storage)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000, help="items to load (default 1,000,000)")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH,
                        help=f"items per collection turn, as catalog_search.py's --batch (default {DEFAULT_BATCH})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument("--postgres-admin-url", default=DEFAULT_ADMIN_URL,
                        help=f"PostgreSQL database to connect to for CREATE/DROP DATABASE (default {DEFAULT_ADMIN_URL})")
    parser.add_argument("--keep", action="store_true", help="do not drop the database this script created")
    args = parser.parse_args(argv)
    for name in ("items", "batch"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    result = measure(args.postgres_admin_url, args.items, args.batch, args.seed, args.keep)
    print()
    print("\n".join(result.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
