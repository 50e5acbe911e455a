"""Test fixtures: real servers, one database per backend, a clean slate for every test.

- ``s3_server``: a real S3 server (SeaweedFS, the same launcher as the embedded default), once per run.
- ``app``: parametrised over the database backends — SQLite always, PostgreSQL+PostGIS when
  ``SDX_TEST_POSTGRES_URL`` is set — so the same tests run on both. Each backend is migrated to head
  once per run (through Alembic, like production); every test starts with empty tables.
- ``celery_worker``: a real Celery worker consuming from Redis (``SDX_TEST_REDIS_URL``).

A missing PostgreSQL or Redis skips the tests that need it, with the reason; with
``SDX_REQUIRE_SERVICES=1`` (CI) it fails them instead.
"""
from __future__ import annotations

import os
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import redis
import requests
import sqlalchemy as sa
from authlib.integrations.requests_client import OAuth2Session
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from app import create_app
from auth.keys import forget_cached_keys
from exchange.core.db import db
from auth import clients, service
from auth.models import OrgStatus
from exchange.policy import SYSTEM
from storage.embedded import EmbeddedS3, free_ports

POSTGRES_URL = os.environ.get("SDX_TEST_POSTGRES_URL", "")
REDIS_URL = os.environ.get("SDX_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRE_SERVICES = os.environ.get("SDX_REQUIRE_SERVICES") == "1"
RUN_ID = uuid.uuid4().hex[:8]
PASSWORD = "a long test password"
CALLBACK = "https://app.example/callback"


def service_missing(reason: str) -> None:
    """Skip (locally) or fail (CI, SDX_REQUIRE_SERVICES=1) a test whose server is not there."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing: {reason}", pytrace=False)
    pytest.skip(reason)


# -- S3 ------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    server = EmbeddedS3(tmp_path_factory.mktemp("s3"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_config(s3_server) -> dict:
    return dict(s3_server.app_config(), S3_PRODUCTS_BUCKET=f"sdx-test-{RUN_ID}-products",
                S3_PUBLIC_BUCKET=f"sdx-test-{RUN_ID}-public")


# -- databases -----------------------------------------------------------------------------------
def postgres_admin_url() -> str:
    if not POSTGRES_URL:
        service_missing("PostgreSQL tests need SDX_TEST_POSTGRES_URL (e.g. postgresql+psycopg://root@127.0.0.1:5432/test)")
    return POSTGRES_URL


def create_postgres_database(prefix: str) -> str:
    """Create an empty database on the test server and return its URL (caller drops it)."""
    admin_url = postgres_admin_url()
    name = f"{prefix}_{RUN_ID}_{uuid.uuid4().hex[:6]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        service_missing(f"PostgreSQL at {make_url(admin_url).render_as_string()} is not reachable: {exc.orig}")
    finally:
        engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    engine = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(scope="session")
def migrated_databases(tmp_path_factory):
    """Database URLs per backend, each migrated to head on first use."""
    urls: dict[str, str] = {}
    created_pg: list[str] = []

    def get(backend: str) -> str:
        if backend not in urls:
            if backend == "sqlite":
                url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'sdx.db'}"
            else:
                url = create_postgres_database("sdx_test")
                created_pg.append(url)
            app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SDX_VAR_DIR": str(tmp_path_factory.mktemp("var"))})
            with app.app_context():
                from flask_migrate import upgrade

                upgrade()
                db.engine.dispose()
            urls[backend] = url
        return urls[backend]

    yield get
    for url in created_pg:
        drop_postgres_database(url)


def _empty_all_tables() -> None:
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())
    forget_cached_keys()  # the signing keys just went with the tables


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def make_app(backend, migrated_databases, s3_config, tmp_path):
    """Build an app on the test database and S3 server, with overrides; clean up after the test."""
    apps = []

    def build(**overrides):
        config = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_databases(backend),
                  "SDX_VAR_DIR": str(tmp_path / "var"), "SECRET_KEY": "test-secret", **s3_config, **overrides}
        app = create_app(config)
        apps.append(app)
        return app

    yield build
    for app in apps:
        with app.app_context():
            if app.config["SQLALCHEMY_DATABASE_URI"] == migrated_databases(backend):
                _empty_all_tables()
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    app = make_app()
    with app.app_context():
        from storage.objectstore import get_store

        get_store().ensure_buckets()
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# -- Redis and Celery ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        service_missing(f"Redis at {REDIS_URL} is not reachable: {exc}")
    return REDIS_URL


@pytest.fixture
def celery_worker(make_app, redis_url):
    """An app whose tasks go through Redis to a real Celery worker (running in a thread of this process)."""
    from celery.contrib.testing.worker import start_worker

    app = make_app(BROKER_URL=redis_url)
    celery = app.extensions["celery"]
    celery.conf.task_default_queue = f"sdx-test-{RUN_ID}-{uuid.uuid4().hex[:6]}"
    with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=10.0):
        yield app


def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


# -- a live server on loopback, driven by a real OAuth client library ----------------------------
@dataclass
class Live:
    app: object
    url: str

    def user(self, email: str, roles=("buyer",), org: str | None = None, kind: str = "buyer",
             status: OrgStatus = OrgStatus.active):
        org = org or f"Org of {email}"
        with self.app.app_context():
            if service.find_org(org) is None:
                service.create_org(SYSTEM, {"name": org, "kind": kind}, status=status)
            user = service.create_user(SYSTEM, {"org": org, "email": email, "password": PASSWORD,
                                                "roles": list(roles)})
            return user.id

    def client(self, email: str, scope: str, *, public: bool = False, redirect_uris=(CALLBACK,),
               grant_types=None) -> tuple[str, str | None]:
        if grant_types is None:
            grant_types = ["authorization_code", "refresh_token"] + ([] if public else ["client_credentials"])
        with self.app.app_context():
            owner = service.find_user(email)
            client, secret = clients.create_client(SYSTEM, {
                "name": f"client of {email}", "grant_types": grant_types, "redirect_uris": list(redirect_uris),
                "scope": scope, "public": public}, owner=owner)
            return client.client_id, secret

    def client_credentials_token(self, client_id: str, secret: str, scope: str | None = None) -> dict:
        session = OAuth2Session(client_id, secret, scope=scope)
        return session.fetch_token(f"{self.url}/oauth/token", grant_type="client_credentials")

    def api(self, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=10, **kwargs)


@contextmanager
def serving(make_app, **overrides) -> Iterator[Live]:
    """An app built with ``overrides``, served on a free loopback port by a threaded server."""
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}"
    app = make_app(PUBLIC_BASE_URL=url, **overrides)
    with app.app_context():
        from storage.objectstore import get_store

        get_store().ensure_buckets()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Live(app, url)
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture
def live(make_app):
    with serving(make_app) as server:
        yield server
