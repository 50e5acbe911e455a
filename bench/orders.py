"""Orders on PostgreSQL, against a real gunicorn (the production configuration), over HTTP.

    PYTHONPATH=. python bench/orders.py [--postgres URL] [--orders 200] [--clients 8] [--workers 2]

1. Race: 20 orders at once against a wallet that can pay for exactly 10 → exactly 10 are paid, the
   other 10 are refused with 402, the wallet ends at 0 and the trial balance at 0 in every currency.
2. Throughput: ``--clients`` concurrent HTTP clients (keep-alive sessions), each with its own buyer
   organisation and wallet, place ``--orders`` orders each from quotes made beforehand; prints orders
   per second and the latency percentiles of ``POST /api/v1/orders``.

A fresh database is created on the server of ``--postgres`` (default ``SDX_TEST_POSTGRES_URL`` or
``postgresql+psycopg://root@127.0.0.1:5432/test``), migrated to head and dropped at the end.
``tests/trading/test_orders_crash.py`` uses the same server and market to kill a server mid-order.
"""
from __future__ import annotations

import argparse
import os
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

# ``python bench/orders.py`` puts bench/ first on sys.path, where bench/storage.py would shadow the
# ``storage`` package; put the project root there instead.
_HERE = Path(__file__).resolve().parent
PROJECT_ROOT = _HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(PROJECT_ROOT))

import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402
GUNICORN_CONFIG = "python:exchange.core.gunicorn_conf"
SCOPES = "catalog:read orders:read orders:write licenses:read"
SQUARE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}


# -- the server --------------------------------------------------------------------------------------
class OrderServer:
    """gunicorn with the production configuration in its own process group; ``kill`` is SIGKILL to all of it."""

    def __init__(self, database_url: str, var_dir: Path, port: int, workers: int = 2,
                 secret_key: str | None = None) -> None:
        """``secret_key``: the one the database's signing key was sealed with, if it has one already."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SDX_")}
        env.update(SDX_DATABASE_URL=database_url, SDX_VAR_DIR=str(var_dir),
                   SDX_SECRET_KEY=secret_key or secrets.token_urlsafe(32),
                   SDX_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}", SDX_S3_ENDPOINT="", SDX_LOG_LEVEL="WARNING",
                   WEB_CONCURRENCY=str(workers), PYTHONPATH=str(PROJECT_ROOT))
        self.command = [sys.executable, "-m", "gunicorn", "-c", GUNICORN_CONFIG, "--bind", f"127.0.0.1:{port}",
                        "--access-logfile", "/dev/null", "app:create_app()"]
        self.env, self.url = env, f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "OrderServer":
        self.process = subprocess.Popen(self.command, cwd=PROJECT_ROOT, env=self.env, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{self.url}/healthz", timeout=5).status_code == 200:
                    return self
            except requests.RequestException:  # not listening yet
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"gunicorn did not start: {' '.join(self.command)}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the master and every worker at once: no handler runs, nothing is cleaned up."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)

    def __enter__(self) -> "OrderServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# -- the market ------------------------------------------------------------------------------------
@dataclass
class Buyer:
    org_id: uuid.UUID
    client_id: str
    secret: str
    token: str = ""


@dataclass
class Market:
    products: list[int]
    offer_id: uuid.UUID
    license: str
    price: int
    buyers: list[Buyer] = field(default_factory=list)


def seed_market(app, *, buyers: int, products: int = 10, price: int = 1_000, funds: int = 0) -> Market:
    """A provider with ``products`` published products sold by one per-scene collection offer at
    ``price``, and ``buyers`` buyer organisations with a client each and ``funds`` in their CNY wallet."""
    from auth import clients, service
    from exchange.catalog import batches, transactions
    from exchange.catalog.models import Item, ItemStatus
    from exchange.core.db import db, unit_of_work
    from exchange.licensing.models import LicenseTemplate, Offer, PricingModel
    from exchange.policy import SYSTEM
    from exchange.trading import ledger
    from exchange.trading.models import AccountKind, TransferKind

    run = uuid.uuid4().hex[:6]
    with app.app_context():
        provider = service.create_org(SYSTEM, {"name": f"Bench Sat {run}", "kind": "provider"})
        collection = f"bench-orders-{run}"
        transactions.create_collection(SYSTEM, {"id": collection, "description": "bench"}, owner_org_id=provider.id)
        batches.bulk_write(SYSTEM, collection, [
            {"type": "Feature", "stac_version": "1.0.0", "id": f"scene-{n}", "collection": collection,
             "geometry": SQUARE, "bbox": [0, 0, 1, 1], "links": [], "assets": {},
             "properties": {"datetime": "2026-01-01T00:00:00Z"}} for n in range(products)],
            method="insert", status=ItemStatus.published)
        keys = list(db.session.scalars(sa.select(Item.key).where(Item.collection_id == collection)))
        with unit_of_work():
            template = LicenseTemplate(code=f"bench-{run}", version=1, title="Bench licence", terms="Bench terms.",
                                       uses=["commercial"], duration_days=365, downloads_per_asset=3,
                                       bytes_multiple=None)
            db.session.add(template)
            db.session.flush()
            offer = Offer(provider_org_id=provider.id, collection_id=collection, template_id=template.id,
                          pricing_model=PricingModel.per_scene, price=price, currency="CNY")
            db.session.add(offer)
            db.session.flush()
        market = Market(products=keys, offer_id=offer.id, license=template.ref, price=price)
        for n in range(buyers):
            org = service.create_org(SYSTEM, {"name": f"Bench Buyer {run}-{n}", "kind": "buyer"})
            user = service.create_user(SYSTEM, {"org": org.name, "email": f"buyer{n}-{run}@bench.example",
                                                "password": secrets.token_urlsafe(16), "roles": ["buyer"]})
            client, secret = clients.create_client(SYSTEM, {"name": f"bench {n}", "scope": SCOPES,
                                                            "grant_types": ["client_credentials"]}, owner=user)
            market.buyers.append(Buyer(org.id, client.client_id, secret))
            if funds:
                with unit_of_work():
                    ledger.transfer(TransferKind.topup, [
                        ledger.Leg(ledger.account(AccountKind.external, "CNY"), -funds),
                        ledger.Leg(ledger.account(AccountKind.wallet, "CNY", org.id), funds)], reference="bench")
    return market


def sign_in(url: str, market: Market) -> None:
    """Each buyer's access token, from the server's token endpoint (client credentials)."""
    for buyer in market.buyers:
        answer = requests.post(f"{url}/oauth/token", data={"grant_type": "client_credentials", "scope": SCOPES},
                               auth=(buyer.client_id, buyer.secret), timeout=30)
        answer.raise_for_status()
        buyer.token = answer.json()["access_token"]


def make_quotes(http: requests.Session, url: str, market: Market, buyer: Buyer, count: int) -> list[str]:
    quotes = []
    for n in range(count):
        answer = http.post(f"{url}/api/v1/quotes", headers={"Authorization": f"Bearer {buyer.token}"}, timeout=30,
                           json={"items": [{"product_id": market.products[n % len(market.products)],
                                            "offer_id": str(market.offer_id)}]})
        answer.raise_for_status()
        quotes.append(answer.json()["id"])
    return quotes


def place(http: requests.Session, url: str, buyer: Buyer, quote_id: str, license: str, key: str | None = None):
    return http.post(f"{url}/api/v1/orders", timeout=60, json={"quote_id": quote_id, "accept_licenses": [license]},
                     headers={"Authorization": f"Bearer {buyer.token}", "Idempotency-Key": key or str(uuid.uuid4())})


def trial_balance(connection) -> dict[str, int]:
    return {currency: int(total) for currency, total in connection.execute(sa.text(
        "SELECT currency, sum(balance) FROM ledger_accounts GROUP BY currency"))}


def wallet_balance(connection, org_id: uuid.UUID) -> int:
    return connection.execute(sa.text("SELECT balance FROM ledger_accounts WHERE name = :name"),
                              {"name": f"org:{org_id}:wallet:CNY"}).scalar_one()


# -- the two measurements -----------------------------------------------------------------------------
def race(url: str, market: Market, buyer: Buyer, engine, orders: int = 20) -> dict:
    """``orders`` orders released at once against ``buyer``'s wallet: how many were paid, and what is left."""
    quotes = make_quotes(requests.Session(), url, market, buyer, orders)
    start, answers = threading.Barrier(orders), [None] * orders

    def one(n: int) -> None:
        http = requests.Session()
        start.wait()
        answers[n] = place(http, url, buyer, quotes[n], market.license).status_code

    threads = [threading.Thread(target=one, args=(n,)) for n in range(orders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as connection:
        return {"paid": answers.count(201), "refused_402": answers.count(402),
                "other": [s for s in answers if s not in (201, 402)],
                "wallet": wallet_balance(connection, buyer.org_id), "trial_balance": trial_balance(connection)}


def throughput(url: str, market: Market, per_client: int) -> dict:
    """Each buyer in its own thread, placing ``per_client`` orders one after the other."""
    quotes = {b.client_id: make_quotes(requests.Session(), url, market, b, per_client) for b in market.buyers}
    latencies: list[float] = []
    failures: list[int] = []
    start = threading.Barrier(len(market.buyers) + 1)

    def client(buyer: Buyer) -> None:
        http = requests.Session()
        start.wait()
        for quote_id in quotes[buyer.client_id]:
            began = time.perf_counter()
            status = place(http, url, buyer, quote_id, market.license).status_code
            latencies.append(time.perf_counter() - began)
            if status != 201:
                failures.append(status)

    threads = [threading.Thread(target=client, args=(b,)) for b in market.buyers]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    cuts = statistics.quantiles(latencies, n=100)
    return {"orders": len(latencies), "seconds": elapsed, "per_second": len(latencies) / elapsed,
            "p50_ms": cuts[49] * 1000, "p95_ms": cuts[94] * 1000, "failures": failures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default=os.environ.get("SDX_TEST_POSTGRES_URL")
                        or "postgresql+psycopg://root@127.0.0.1:5432/test")
    parser.add_argument("--orders", type=int, default=200, help="orders per client (default 200)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()

    from flask_migrate import upgrade

    from app import create_app

    name = f"sdx_bench_orders_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
    var_dir = Path(f"/tmp/{name}")
    try:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SDX_VAR_DIR": str(var_dir),
                          "PUBLIC_BASE_URL": f"http://127.0.0.1:{args.port}", "S3_ENDPOINT": ""})
        with app.app_context():
            upgrade()
        racing = seed_market(app, buyers=1, price=1_000, funds=10_000)
        market = seed_market(app, buyers=args.clients, price=100, funds=100 * args.orders)
        engine = sa.create_engine(url)
        with OrderServer(url, var_dir, args.port, args.workers) as server:
            sign_in(server.url, racing)
            sign_in(server.url, market)
            result = race(server.url, racing, racing.buyers[0], engine)
            print(f"race: 20 orders at once, wallet pays for 10 -> paid {result['paid']}, refused (402) "
                  f"{result['refused_402']}, other {result['other']}, wallet {result['wallet']}, "
                  f"trial balance {result['trial_balance']}", flush=True)
            measured = throughput(server.url, market, args.orders)
            print(f"throughput: {measured['orders']} orders by {args.clients} concurrent clients in "
                  f"{measured['seconds']:.2f} s = {measured['per_second']:.0f} orders/s "
                  f"(POST /api/v1/orders p50 {measured['p50_ms']:.1f} ms, p95 {measured['p95_ms']:.1f} ms; "
                  f"gunicorn {args.workers} gthread workers; failures {len(measured['failures'])})", flush=True)
            with engine.connect() as connection:
                print(f"trial balance after: {trial_balance(connection)}")
        engine.dispose()
        with app.app_context():
            from exchange.core.db import db
            db.engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
