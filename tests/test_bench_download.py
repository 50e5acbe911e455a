"""bench/download.py on tiny sizes: its seed makes a downloadable licensed product, its client reads
whole files and ranges through the gateway and from S3 alike, its step timings run, and every byte
it moved through the gateway was metered."""
import os

import pytest

from bench.download import GatewayServer, latencies, presigned, seed, steps, throughput
from exchange.core.db import db
from exchange.licensing.models import Entitlement
from storage.embedded import free_ports
from tests.conftest import ensure_buckets, mint_token

SIZE = 256 * 1024


@pytest.mark.committed  # a gunicorn of its own reads and writes the database
def test_the_download_bench_measures_gateway_and_s3_and_the_gateway_meters_it(make_app, databases, backend,
                                                                                tmp_path):
    (port,) = free_ports(1)
    app = make_app(PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")  # the issuer of the token minted below
    ensure_buckets(app)
    seeded = seed(app, os.urandom(SIZE))
    s3 = {key: app.config[key] for key in ("S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY", "S3_PRODUCTS_BUCKET",
                                           "S3_PUBLIC_BUCKET")}
    with GatewayServer(databases.url(backend), tmp_path / "gunicorn-var", port, s3, workers=1) as server:
        auth = {"Authorization": f"Bearer {mint_token(app, seeded.client_id)}"}
        via = f"{server.url}{seeded.path}"
        assert throughput(via, auth, SIZE, 2) > 0  # raises unless each stream got 200 and every byte
        assert throughput(presigned(app, seeded), {}, SIZE, 2) > 0
        assert len(latencies(via, auth, 4)) == 4  # raises unless each got 206 and 1 KiB
        assert len(latencies(presigned(app, seeded), {}, 4)) == 4
    timed = steps(app, seeded, 2)
    assert set(timed) == {"grant", "s3", "settle"} and all(seconds > 0 for seconds in timed.values())
    with app.app_context():
        used = db.session.get(Entitlement, seeded.entitlement_id).bytes_used
    assert used == 2 * SIZE + (3 + 4) * 1024 + 2 * 1024  # two whole files, 3 + 4 ranges, 2 timed grants
