"""Benchmark of the OAuth 2.0 server: token issuance rate and the cost of protecting a route.

What it measures, against a live server on loopback (HTTP/1.1 keep-alive through one
``requests.Session`` per figure):

1. Tokens issued per second with the client-credentials grant (``POST /oauth/token``, HTTP Basic
   client authentication, ``grant_type=client_credentials``): the median over ``--rounds`` rounds
   of ``--tokens-per-round`` sequential requests. Each token is signed (RS256) and recorded.
2. The latency added by bearer-token protection (RS256 JWT verification + the revocation check by
   ``jti``): p50 and p95 of a no-op route behind ``require_scopes("catalog:read")`` against the
   same no-op route unprotected, ``--requests`` of each, interleaved (A B B A …) after a warm-up so
   machine noise hits both alike. The target is protected/unprotected <= 1.3 at p50.

The server is built in this process from ``create_app`` on a fresh SQLite database in a temporary
directory (or on ``SDX_BENCH_DATABASE_URL`` if set — an existing, empty database such as a
PostgreSQL one, which this script migrates but does not create), with rate limiting off (this
measures the server, not the limiter), and served by werkzeug's threaded server in a daemon thread.
The load client runs in a separate process (as a real client would), so it does not compete with
the server for the GIL.

Run from the project root::

    .venv/bin/python bench/auth.py                                          # full run
    .venv/bin/python bench/auth.py --rounds 2 --tokens-per-round 50 --requests 300   # quick run
    .venv/bin/python bench/auth.py --profile 1000   # also profile the protected route in-process

This is a benchmark, not a test: it prints figures and only fails if the server answers wrongly.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import logging
import multiprocessing
import os
import pstats
import secrets
import socket
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

# ``python bench/auth.py`` puts bench/ first on sys.path, where this file would shadow the ``auth``
# package it benchmarks; put the project root there instead.
_HERE = Path(__file__).resolve().parent
PROJECT_ROOT = _HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(PROJECT_ROOT))

import requests  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

SCOPE = "catalog:read"
EMAIL = "bench@bench.example"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile of ``samples`` (``fraction`` in 0..1)."""
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, int(round(fraction * len(ordered))) - 1))
    return ordered[index]


# -- the server ----------------------------------------------------------------------------------
def build_app(tmpdir: str, port: int):
    from flask_migrate import upgrade

    from app import create_app

    database_url = os.environ.get("SDX_BENCH_DATABASE_URL") or f"sqlite:///{tmpdir}/bench.db"
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


def seed(app) -> tuple[str, str]:
    """One active buyer organisation, its user and a confidential client-credentials client."""
    from auth import clients, service
    from exchange.policy import SYSTEM

    with app.app_context():
        service.create_org(SYSTEM, {"name": "Bench Org", "kind": "buyer"})
        service.create_user(SYSTEM, {"org": "Bench Org", "email": EMAIL, "password": "bench password 123",
                                     "roles": ["buyer"]})
        owner = service.find_user(EMAIL)
        client, secret = clients.create_client(SYSTEM, {
            "name": "bench", "grant_types": ["client_credentials"], "redirect_uris": [], "scope": SCOPE,
            "public": False}, owner=owner)
        return client.client_id, secret


def add_noop_routes(app) -> None:
    """Two no-op routes, identical but for the protection; registered before the first request."""
    from auth.tokens import require_scopes

    @app.get("/bench/open")
    def bench_open():
        return {"ok": True}

    @app.get("/bench/protected")
    @require_scopes(SCOPE)
    def bench_protected():
        return {"ok": True}


class Server:
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


# -- the measurements ----------------------------------------------------------------------------
def fetch_token(session: requests.Session, url: str, auth: tuple[str, str]) -> str:
    response = session.post(f"{url}/oauth/token", data={"grant_type": "client_credentials"}, auth=auth, timeout=30)
    if response.status_code != 200 or "access_token" not in response.json():
        raise RuntimeError(f"token request failed: {response.status_code} {response.text[:300]}")
    return response.json()["access_token"]


def tokens_per_second(url: str, auth: tuple[str, str], rounds: int, per_round: int) -> list[float]:
    rates = []
    with requests.Session() as session:
        for _ in range(min(20, per_round)):  # warm-up: connection, key cache, first-use code paths
            fetch_token(session, url, auth)
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(per_round):
                fetch_token(session, url, auth)
            rates.append(per_round / (time.perf_counter() - started))
    return rates


def noop_latencies(url: str, token: str, requests_each: int, warmup: int) -> tuple[list[float], list[float]]:
    """Seconds per request of the unprotected and protected no-op routes, interleaved A B B A."""
    headers = {"Authorization": f"Bearer {token}"}
    open_url, protected_url = f"{url}/bench/open", f"{url}/bench/protected"
    times: dict[str, list[float]] = {"open": [], "protected": []}

    with requests.Session() as session:
        def call(kind: str, record: bool) -> None:
            started = time.perf_counter()
            if kind == "open":
                response = session.get(open_url, timeout=30)
            else:
                response = session.get(protected_url, headers=headers, timeout=30)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"{kind} no-op answered {response.status_code}: {response.text[:300]}")
            if record:
                times[kind].append(elapsed)

        for i in range(warmup):
            call("open", False)
            call("protected", False)
        for i in range(requests_each):
            order = ("open", "protected") if i % 2 == 0 else ("protected", "open")
            for kind in order:
                call(kind, True)
    return times["open"], times["protected"]


def profile_protected(app, token: str, calls: int, top: int = 25) -> str:
    """cProfile a batch of in-process ``test_client`` calls to the protected no-op route."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(50):
        client.get("/bench/protected", headers=headers)

    def timed(path: str, with_headers: bool) -> float:
        started = time.perf_counter()
        for _ in range(calls):
            client.get(path, headers=headers if with_headers else None)
        return (time.perf_counter() - started) / calls * 1000

    open_ms, protected_ms = timed("/bench/open", False), timed("/bench/protected", True)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        client.get("/bench/protected", headers=headers)
    profiler.disable()
    out = io.StringIO()
    out.write(f"in-process (test_client, no HTTP), mean of {calls}: unprotected {open_ms:.3f} ms, "
              f"protected {protected_ms:.3f} ms, added {protected_ms - open_ms:.3f} ms\n")
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


# -- main ----------------------------------------------------------------------------------------
def in_client_process(fn, *args):
    """Run a load loop in its own process, as a real client would be: sharing the server's GIL
    would charge the client's own Python time to whichever route is slower."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(fn, *args).result()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="token-issuance rounds (default 5)")
    parser.add_argument("--tokens-per-round", type=int, default=200, help="tokens per round (default 200)")
    parser.add_argument("--requests", type=int, default=2000,
                        help="measured requests per no-op route, after warm-up (default 2000)")
    parser.add_argument("--warmup", type=int, default=None,
                        help="warm-up requests per no-op route (default: a tenth of --requests, at least 50)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also cProfile N in-process calls to the protected route and print where time goes")
    args = parser.parse_args(argv)
    for name in ("rounds", "tokens_per_round", "requests"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    warmup = args.warmup if args.warmup is not None else max(50, args.requests // 10)

    with tempfile.TemporaryDirectory(prefix="sdx-bench-") as tmpdir:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        app = build_app(tmpdir, port)
        client_id, secret = seed(app)
        add_noop_routes(app)
        backend = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name()
        try:
            with Server(app, port):
                rates = in_client_process(tokens_per_second, url, (client_id, secret), args.rounds,
                                          args.tokens_per_round)
                with requests.Session() as session:
                    token = fetch_token(session, url, (client_id, secret))
                unprotected, protected = in_client_process(noop_latencies, url, token, args.requests, warmup)
            profile = profile_protected(app, token, args.profile) if args.profile else ""
        finally:
            from exchange.core.db import db

            with app.app_context():
                db.engine.dispose()

    ms = 1000.0
    u50, u95 = percentile(unprotected, 0.50) * ms, percentile(unprotected, 0.95) * ms
    p50, p95 = percentile(protected, 0.50) * ms, percentile(protected, 0.95) * ms
    ratio50, ratio95 = p50 / u50, p95 / u95
    print()
    print(f"SDX auth benchmark ({backend}, {cores()} cores, Python {sys.version.split()[0]})")
    print(f"client-credentials tokens/s (median of {args.rounds} rounds x {args.tokens_per_round}): "
          f"{statistics.median(rates):.1f}   [rounds: {', '.join(f'{r:.1f}' for r in rates)}]")
    print(f"no-op unprotected p50 {u50:.2f} ms  p95 {u95:.2f} ms   ({len(unprotected)} requests)")
    print(f"no-op protected   p50 {p50:.2f} ms  p95 {p95:.2f} ms   ({len(protected)} requests)")
    verdict = "ok" if ratio50 <= 1.3 else "ABOVE TARGET"
    print(f"ratio protected/unprotected p50 {ratio50:.2f} (target <= 1.3: {verdict})  p95 {ratio95:.2f}")
    print(f"added latency p50 {p50 - u50:.2f} ms  p95 {p95 - u95:.2f} ms")
    if profile:
        print()
        print(profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
