"""The download gateway against a direct presigned S3 GET, over HTTP, served as in production.

    PYTHONPATH=. python bench/download.py [--postgres URL] [--mib 256] [--rounds 3] [--streams 8]

One run: a fresh PostgreSQL database (migrated to head, dropped at the end), a SeaweedFS S3 server
started as the embedded mode starts it, a ``--mib`` MiB object in it, a buyer licensed to download
it, and gunicorn with the production configuration (``exchange/core/gunicorn_conf.py``). Prints:

1. Throughput of the whole object, 1 stream and ``--streams`` concurrent streams: the gateway
   (``GET …/assets/data/download``) and the presigned S3 URL, one after the other in each round; the
   medians of ``--rounds`` rounds, and the median of the rounds' ratios (target ≥ 0.8).
2. Latency of a 1 KiB range request, p50 and p95 of ``--requests`` sequential requests on a
   keep-alive connection: gateway, presigned GET, and the gateway's added latency (target p50 ≤ 10 ms).
3. Where the time goes: the CPU seconds per GiB moved of gunicorn, SeaweedFS and this client (from
   /proc), gateway against presigned; for a range request, the p50 of each of the gateway's steps
   run in this process against the same database and S3 (the grant, the first byte from S3, the
   settlement), next to the whole request.

``tests/metering/test_faults.py`` starts its servers with ``GatewayServer`` and seeds with ``seed``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import http.client
import io
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import sqlalchemy as sa  # noqa: E402

from bench.orders import OrderServer  # noqa: E402

MIB = 1024 * 1024
SCOPES = "catalog:read licenses:read data:download"
SQUARE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}


class GatewayServer(OrderServer):
    """gunicorn (production configuration) on the given S3 store, with extra ``SDX_*`` settings."""

    def __init__(self, database_url: str, var_dir: Path, port: int, s3: dict, *, workers: int = 2,
                 secret_key: str | None = None, **settings) -> None:
        super().__init__(database_url, var_dir, port, workers=workers, secret_key=secret_key)
        self.env.update(SDX_S3_ENDPOINT=s3["S3_ENDPOINT"], SDX_S3_ACCESS_KEY=s3["S3_ACCESS_KEY"],
                        SDX_S3_SECRET_KEY=s3["S3_SECRET_KEY"])
        for key in ("S3_PRODUCTS_BUCKET", "S3_PUBLIC_BUCKET"):
            if key in s3:
                self.env[f"SDX_{key}"] = s3[key]
        self.env.update({name: str(value) for name, value in settings.items()})


@dataclass
class Seeded:
    """A licensed buyer and the object it may download."""

    path: str  # the asset's download path on the platform
    object_key: str
    size: int
    sha256: str
    client_id: str
    secret: str
    entitlement_id: uuid.UUID
    user_id: uuid.UUID
    org_id: uuid.UUID


def seed(app, data: bytes, *, bytes_allowed: int | None = None, downloads_per_asset: int | None = None) -> Seeded:
    """A provider with one published product whose data asset is ``data`` (put into S3), and a buyer
    organisation holding an entitlement on it, with a confidential client allowed ``data:download``."""
    from auth import clients, service
    from exchange.catalog import batches, transactions
    from exchange.catalog.models import Item, ItemStatus
    from exchange.core.db import db, unit_of_work
    from exchange.ingest.models import AssetState, ProductAsset
    from exchange.licensing.models import Entitlement
    from exchange.policy import SYSTEM
    from storage.objectstore import get_store

    run = uuid.uuid4().hex[:6]
    with app.app_context():
        store = get_store()
        store.ensure_buckets()
        provider = service.create_org(SYSTEM, {"name": f"Bench Sat {run}", "kind": "provider"})
        collection = f"bench-download-{run}"
        transactions.create_collection(SYSTEM, {"id": collection, "description": "bench"}, owner_org_id=provider.id)
        batches.bulk_write(SYSTEM, collection, [
            {"type": "Feature", "stac_version": "1.0.0", "id": "scene", "collection": collection, "geometry": SQUARE,
             "bbox": [0, 0, 1, 1], "links": [], "assets": {}, "properties": {"datetime": "2026-01-01T00:00:00Z"}}],
            method="insert", status=ItemStatus.published)
        item = db.session.scalar(sa.select(Item).where(Item.collection_id == collection))
        key = f"{collection}/scene/data/scene.tif"
        store.client.put_object(store.products_bucket, key, io.BytesIO(data), len(data), content_type="image/tiff",
                                part_size=64 * MIB)
        digest = hashlib.sha256(data).hexdigest()
        buyer = service.create_org(SYSTEM, {"name": f"Bench Buyer {run}", "kind": "buyer"})
        user = service.create_user(SYSTEM, {"org": buyer.name, "email": f"buyer-{run}@bench.example",
                                            "password": secrets.token_urlsafe(16), "roles": ["buyer"]})
        client, secret = clients.create_client(SYSTEM, {"name": "bench", "scope": SCOPES,
                                                        "grant_types": ["client_credentials"]}, owner=user)
        with unit_of_work():
            db.session.add(ProductAsset(item_key=item.key, asset_key="data", state=AssetState.ready,
                                        filename="scene.tif", media_type="image/tiff", roles=["data"], size=len(data),
                                        sha256=digest, object_key=key))
            entitlement = Entitlement(org_id=buyer.id, provider_org_id=provider.id, item_key=item.key,
                                      collection_id=collection, item_id="scene",
                                      license={"code": "bench", "version": 1, "title": "Bench", "uses": ["commercial"]},
                                      bytes_allowed=bytes_allowed, downloads_per_asset=downloads_per_asset)
            db.session.add(entitlement)
        return Seeded(f"/stac/collections/{collection}/items/scene/assets/data/download", key, len(data), digest,
                      client.client_id, secret, entitlement.id, user.id, buyer.id)


def token(url: str, seeded: Seeded) -> str:
    """An access token from the server's token endpoint (client credentials)."""
    import requests

    answer = requests.post(f"{url}/oauth/token", data={"grant_type": "client_credentials", "scope": SCOPES},
                           auth=(seeded.client_id, seeded.secret), timeout=30)
    answer.raise_for_status()
    return answer.json()["access_token"]


def presigned(app, seeded: Seeded) -> str:
    from storage.objectstore import get_store

    with app.app_context():
        store = get_store()
        return store.client.presigned_get_object(store.products_bucket, seeded.object_key,
                                                 expires=dt.timedelta(minutes=30))


# -- the client -------------------------------------------------------------------------------------
def fetch(url: str, headers: dict | None = None, connection: http.client.HTTPConnection | None = None,
          buffer: bytearray | None = None) -> tuple[int, int]:
    """GET ``url`` and read the body into a reused buffer: (status, bytes). Reusing ``connection``
    keeps it alive (latency); a fresh one per call otherwise (throughput)."""
    parts = urlsplit(url)
    own = connection is None
    connection = connection or http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers or {})
        response = connection.getresponse()
        view = memoryview(buffer or bytearray(MIB))
        total = 0
        while True:
            got = response.readinto(view)
            if not got:
                break
            total += got
        return response.status, total
    finally:
        if own:
            connection.close()


def throughput(url: str, headers: dict, size: int, streams: int) -> float:
    """MiB/s of ``streams`` concurrent whole-object downloads (all bytes over the wall time)."""
    start, failures = threading.Barrier(streams + 1), []

    def one() -> None:
        buffer = bytearray(MIB)
        start.wait()
        status, got = fetch(url, headers, buffer=buffer)
        if status != 200 or got != size:
            failures.append((status, got))

    threads = [threading.Thread(target=one) for _ in range(streams)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"downloads failed: {failures}")
    return streams * size / MIB / elapsed


def latencies(url: str, headers: dict, count: int) -> list[float]:
    """Seconds for each of ``count`` sequential 1 KiB range requests on one keep-alive connection."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = dict(headers, Range="bytes=4096-5119")
    times = []
    try:
        for _ in range(count + 3):  # the first three warm the connection and the caches
            began = time.perf_counter()
            status, got = fetch(url, headers, connection=connection)
            times.append(time.perf_counter() - began)
            if status != 206 or got != 1024:
                raise RuntimeError(f"range request answered {status} with {got} bytes")
    finally:
        connection.close()
    return times[3:]


def group_cpu(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of a process group."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp, …, utime (11), stime (12)
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def cpu_of(run, groups: dict[str, int], totals: dict[str, float]) -> float:
    """``run()``, adding the CPU seconds each process group and this client used to ``totals``."""
    before = {name: group_cpu(pgid) for name, pgid in groups.items()}
    client = time.process_time()
    result = run()
    totals["client"] = totals.get("client", 0.0) + time.process_time() - client
    for name, pgid in groups.items():
        totals[name] = totals.get(name, 0.0) + group_cpu(pgid) - before[name]
    return result


def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100)[p - 1] if len(values) > 1 else values[0]


# -- where the time goes -------------------------------------------------------------------------------
def steps(app, seeded: Seeded, count: int) -> dict[str, float]:
    """p50 seconds of the gateway's own steps for a 1 KiB range, run here against the same database
    and S3: the grant (decision, lock, reservation; committed), the first byte from S3 (a ranged GET
    on a pooled connection), the settlement (charge, meter event; committed)."""
    from auth.models import OrgStatus, User
    from exchange.catalog.models import Item
    from exchange.core.db import db
    from exchange.ingest.models import ProductAsset
    from exchange.metering import quotas
    from exchange.policy import Identity
    from storage.objectstore import get_store

    times: dict[str, list[float]] = {"grant": [], "s3": [], "settle": []}
    with app.app_context():
        user = db.session.get(User, seeded.user_id)
        identity = Identity(user_id=user.id, org_id=seeded.org_id, roles=frozenset(user.roles),
                            org_status=OrgStatus.active, scopes=frozenset(SCOPES.split()))
        store = get_store()
        meta = quotas.RequestMeta(range_start=4096, range_end=5119)
        for _ in range(count):
            asset = db.session.scalar(sa.select(ProductAsset).where(ProductAsset.object_key == seeded.object_key))
            item = db.session.get(Item, asset.item_key)
            began = time.perf_counter()
            hold = quotas.grant_download(identity, item, asset, 1024, meta)
            granted = time.perf_counter()
            response = store.client.get_object(store.products_bucket, seeded.object_key, offset=4096, length=1024)
            response.read()
            response.release_conn()
            read = time.perf_counter()
            quotas.settle(hold, bytes_sent=1024, status=206)
            done = time.perf_counter()
            db.session.remove()
            times["grant"].append(granted - began)
            times["s3"].append(read - granted)
            times["settle"].append(done - read)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default=os.environ.get("SDX_TEST_POSTGRES_URL")
                        or "postgresql+psycopg://root@127.0.0.1:5432/test")
    parser.add_argument("--mib", type=int, default=256, help="size of the object in MiB (default 256)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each throughput measurement (default 3)")
    parser.add_argument("--streams", type=int, default=8, help="concurrent streams of the second measurement")
    parser.add_argument("--requests", type=int, default=200, help="1 KiB range requests of each kind (default 200)")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: as in production)")
    parser.add_argument("--port", type=int, default=8767)
    args = parser.parse_args()

    from flask_migrate import upgrade

    from app import create_app
    from exchange.core.config import usable_cores
    from storage.embedded import EmbeddedS3

    workers = args.workers or usable_cores()
    name = f"sdx_bench_download_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
    with tempfile.TemporaryDirectory(prefix=name) as tmp, EmbeddedS3(Path(tmp) / "s3") as s3:
        try:
            s3_config, secret = s3.app_config(), secrets.token_urlsafe(32)
            app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": secret, "SDX_VAR_DIR": str(Path(tmp) / "var"),
                              "PUBLIC_BASE_URL": f"http://127.0.0.1:{args.port}", **s3_config})
            with app.app_context():
                upgrade()
            size = args.mib * MIB
            seeded = seed(app, os.urandom(size))
            direct = presigned(app, seeded)
            with GatewayServer(url, Path(tmp) / "var", args.port, s3_config, workers=workers, secret_key=secret,
                               SDX_DOWNLOAD_MAX_STREAMS=2 * args.streams) as server:
                via = f"{server.url}{seeded.path}"
                auth = {"Authorization": f"Bearer {token(server.url, seeded)}"}
                print(f"{args.mib} MiB object; gunicorn {workers} gthread workers x 8 threads; "
                      f"medians of {args.rounds} rounds", flush=True)
                groups = {"gunicorn": server.process.pid, "SeaweedFS": s3._process.pid}
                for streams in (1, args.streams):
                    rounds, cpu = [], {"gateway": {}, "presigned": {}}
                    for _ in range(args.rounds):
                        rounds.append(tuple(cpu_of(lambda: throughput(url, headers, size, streams), groups, totals)
                                            for url, headers, totals in ((via, auth, cpu["gateway"]),
                                                                         (direct, {}, cpu["presigned"]))))
                    gateway = statistics.median(r[0] for r in rounds)
                    s3_direct = statistics.median(r[1] for r in rounds)
                    ratio = statistics.median(r[0] / r[1] for r in rounds)  # each round's pair: same machine load
                    print(f"throughput, {streams} stream(s): gateway {gateway:,.0f} MiB/s, presigned S3 "
                          f"{s3_direct:,.0f} MiB/s, ratio {ratio:.2f} (median of the rounds' ratios; "
                          f"target >= 0.8)", flush=True)
                    gib = args.rounds * streams * size / (1024 * MIB)
                    for mode, totals in cpu.items():
                        print(f"  CPU seconds per GiB, {mode}: " + ", ".join(
                            f"{name} {seconds / gib:.2f}" for name, seconds in totals.items()), flush=True)
                gateway_times = latencies(via, auth, args.requests)
                direct_times = latencies(direct, {}, args.requests)
            g50, d50 = percentile(gateway_times, 50) * 1000, percentile(direct_times, 50) * 1000
            print(f"1 KiB range, {args.requests} requests: gateway p50 {g50:.1f} ms (p95 "
                  f"{percentile(gateway_times, 95) * 1000:.1f} ms), presigned S3 p50 {d50:.1f} ms (p95 "
                  f"{percentile(direct_times, 95) * 1000:.1f} ms); added p50 {g50 - d50:.1f} ms (target <= 10 ms)")
            parts = {name: seconds * 1000 for name, seconds in steps(app, seeded, args.requests).items()}
            rest = g50 - sum(parts.values())
            print("where a range request's time goes (p50, in-process): "
                  + ", ".join(f"{name} {ms:.1f} ms" for name, ms in parts.items())
                  + f"; the rest (HTTP, token check, routing, lookups) {rest:.1f} ms")
            with app.app_context():
                from exchange.core.db import db
                db.engine.dispose()
        finally:
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
