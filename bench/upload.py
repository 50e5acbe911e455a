"""Benchmark of uploads and ingest against one real S3 server (SeaweedFS, as in the embedded default).

What it does, in one run:

1. Starts a SeaweedFS S3 server and the platform (SQLite in a temporary directory, tasks sent to a Redis
   queue of its own that no worker reads, so that completing an upload does not also time ingest),
   and creates a provider with an access token.
2. Writes a file of ``--size-mib`` random bytes (1 GiB by default), then alternates, ``--rounds`` times:
   * baseline: the MinIO SDK's ``put_object`` of the file, with its defaults;
   * SDX: the platform's own upload client (``exchange/ingest/client.py``, what ``sdx upload`` uses):
     open an upload session, PUT the parts in parallel to their presigned URLs, complete. The
     SHA-256 the client declares is computed beforehand and timed separately.
   It prints the median throughput of each and their ratio (target: SDX / put_object >= 0.8).
3. Writes a ``--geotiff-mib`` GeoTIFF (200 MB by default; random uint16 pixels, tiled, no overviews),
   uploads it, and times ingest itself (stream from S3 + SHA-256, rasterio header, footprint,
   thumbnail, item update) ``--rounds`` times, printing the median.

Run from the project root:  .venv/bin/python bench/upload.py [--size-mib 1024] [--rounds 3] [--workers 4]

A benchmark, not a test: it prints figures and fails only if an upload or ingest goes wrong.
"""
from __future__ import annotations

import argparse
import logging
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MIB = 1024 * 1024
EMAIL = "bench-provider@sdx.example"


def write_random(path: Path, size: int) -> None:
    with open(path, "wb") as fh:
        left = size
        while left:
            block = min(left, 64 * MIB)
            fh.write(os.urandom(block))
            left -= block


def write_geotiff(path: Path, mib: int) -> None:
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    side = int((mib * MIB / 2) ** 0.5)
    rng = np.random.default_rng(1)
    profile = dict(driver="GTiff", width=side, height=side, count=1, dtype="uint16", crs="EPSG:32633",
                   transform=from_origin(500000, 5000000, 10, 10), tiled=True, blockxsize=512, blockysize=512)
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, side, 1024):
            height = min(1024, side - row)
            window = rasterio.windows.Window(0, row, side, height)
            dst.write(rng.integers(0, 10000, size=(1, height, side), dtype="uint16"), window=window)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the upload file (default 1024 MiB)")
    parser.add_argument("--geotiff-mib", type=int, default=200, help="size of the ingest GeoTIFF (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of each (default 3)")
    parser.add_argument("--workers", type=int, default=4, help="parallel part uploads of the SDX client")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14", help="broker whose queue no one reads")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)

    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from app import create_app
    from auth import clients, service
    from exchange.policy import SYSTEM
    from exchange.catalog.transactions import create_collection
    from exchange.ingest import pipeline
    from exchange.ingest.client import LocalFile, UploadClient, sha256_of
    from exchange.ingest.models import AssetState, ProductAsset
    from exchange.core.db import db, unit_of_work
    from storage.embedded import EmbeddedS3, free_ports
    from storage.objectstore import get_store

    with tempfile.TemporaryDirectory(prefix="sdx-bench-upload-") as tmp:
        tmp = Path(tmp)
        s3 = EmbeddedS3(tmp / "s3")
        s3.start()
        try:
            (port,) = free_ports(1)
            queue = f"sdx-bench-{uuid.uuid4().hex[:8]}"
            app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db", "SDX_VAR_DIR": str(tmp),
                              "SECRET_KEY": secrets.token_urlsafe(32), "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
                              "RATELIMIT_ENABLED": False, "BROKER_URL": args.redis_url, "INGEST_TMP_DIR": str(tmp),
                              **s3.app_config()})
            app.extensions["celery"].conf.task_default_queue = queue
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
            with app.app_context():
                upgrade()
                store = get_store()
                store.ensure_buckets()
                org = service.create_org(SYSTEM, {"name": "Bench Imaging", "kind": "provider"})
                service.create_user(SYSTEM, {"org": "Bench Imaging", "email": EMAIL, "password": "bench password 1",
                                             "roles": ["provider"]})
                client, secret = clients.create_client(SYSTEM, {
                    "name": "bench", "grant_types": ["client_credentials"], "redirect_uris": [],
                    "scope": "catalog:read catalog:write uploads:write", "public": False},
                    owner=service.find_user(EMAIL))
                create_collection(SYSTEM, {"id": "bench", "description": "bench"}, owner_org_id=org.id)
                client_id = client.client_id
            server = make_server("127.0.0.1", port, app, threaded=True)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            import requests

            token = requests.post(f"http://127.0.0.1:{port}/oauth/token", auth=(client_id, secret),
                                  data={"grant_type": "client_credentials"}, timeout=10).json()["access_token"]
            uploader = UploadClient(f"http://127.0.0.1:{port}", token, workers=args.workers)

            def new_product(name: str) -> int:
                item = {"type": "Feature", "id": name, "geometry": {"type": "Point", "coordinates": [15, 45]},
                        "properties": {"datetime": "2026-01-01T00:00:00Z"}, "assets": {}, "links": []}
                return uploader.create_product("bench", item)["properties"]["sdx:product_id"]

            size = args.size_mib * MIB
            big = tmp / "upload.bin"
            print(f"writing {args.size_mib} MiB of random bytes…", flush=True)
            write_random(big, size)
            started = time.perf_counter()
            digest = sha256_of(big)
            hashing = time.perf_counter() - started

            sdk, ours = [], []
            for round_ in range(args.rounds):
                with open(big, "rb") as fh:
                    started = time.perf_counter()
                    store.client.put_object(store.products_bucket, f"baseline/{round_}.bin", fh, size)
                    sdk.append(size / (time.perf_counter() - started) / MIB)
                store.client.remove_object(store.products_bucket, f"baseline/{round_}.bin")
                pid = new_product(f"upload-{round_}")
                started = time.perf_counter()
                uploader.upload(pid, LocalFile(big, "data", "application/octet-stream", ["data"]), sha256=digest)
                ours.append(size / (time.perf_counter() - started) / MIB)
                print(f"  round {round_ + 1}: put_object {sdk[-1]:.0f} MiB/s, SDX client {ours[-1]:.0f} MiB/s",
                      flush=True)
            big.unlink()

            print(f"writing a {args.geotiff_mib} MB GeoTIFF…", flush=True)
            tif = tmp / "scene.tif"
            write_geotiff(tif, args.geotiff_mib)
            tif_bytes = tif.stat().st_size
            pid = new_product("ingest")
            uploader.upload(pid, LocalFile(tif, "data", "image/tiff; application=geotiff", ["data"]))
            ingest = []
            with app.app_context():
                asset = db.session.scalar(db.select(ProductAsset).where(ProductAsset.item_key == pid))
                for _ in range(args.rounds):
                    with unit_of_work():
                        asset.state = AssetState.verifying
                    started = time.perf_counter()
                    assert pipeline.ingest_asset(asset.id) == "ready", asset.reason
                    ingest.append(time.perf_counter() - started)
            server.shutdown()
            import redis

            redis.Redis.from_url(args.redis_url).delete(queue)
        finally:
            s3.stop()

    ratio = statistics.median(ours) / statistics.median(sdk)
    print()
    print(f"SDX upload benchmark — SeaweedFS on loopback, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"{args.size_mib} MiB upload, median of {args.rounds}:")
    print(f"  MinIO SDK put_object        {statistics.median(sdk):8.0f} MiB/s")
    print(f"  SDX client, presigned parts {statistics.median(ours):8.0f} MiB/s  ({args.workers} parallel parts of "
          f"{app.config['UPLOAD_PART_SIZE'] // MIB} MiB)")
    print(f"  ratio SDX / put_object      {ratio:8.2f}  (target >= 0.8: {'ok' if ratio >= 0.8 else 'BELOW TARGET'})")
    print(f"  SHA-256 of the file before upload (client side, once): {hashing:.1f} s")
    print(f"ingest of a {tif_bytes / 1e6:.0f} MB GeoTIFF (verify + describe + thumbnail), median of "
          f"{args.rounds}: {statistics.median(ingest):.2f} s  [{', '.join(f'{t:.2f}' for t in ingest)}]")


if __name__ == "__main__":
    main()
