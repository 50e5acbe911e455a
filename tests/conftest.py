"""Test fixtures: real servers, one database per backend, a clean slate for every test.

- ``s3_server``: a real S3 server (SeaweedFS, the same launcher as the embedded default), once per run.
- ``app``: parametrised over the database backends — SQLite always, PostgreSQL+PostGIS when
  ``SDX_TEST_POSTGRES_URL`` is set — so the same tests run on both. Each backend is migrated to head
  once per run (through Alembic, like production). By default a test runs on one app per backend
  (built once) inside a transaction that is rolled back at its end: what it writes is seen by its own
  requests and services (their commits go to a savepoint), by no other connection, and never by
  the next test.
- Tests that need real commits — a live server, a Celery worker, a CLI command or a migration with
  connections of its own, concurrent writers — use ``make_app`` (or the fixtures built on it:
  ``live``, ``celery_worker``) or are marked ``@pytest.mark.committed``: they get apps of their own
  and every table is emptied after them.
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
from types import SimpleNamespace
from typing import Iterator

import pytest
import redis
import requests
import sqlalchemy as sa
from authlib.integrations.requests_client import OAuth2Session
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from app import create_app
from auth import clients, keys, oauth_server, service
from auth.keys import forget_cached_keys
from auth.models import OrgStatus, User
from auth.oauth_models import SigningKey
from auth.views import limiter
from exchange.core.db import db, unit_of_work
from exchange.policy import SYSTEM, Identity
from storage.embedded import EmbeddedS3, free_ports
from storage.objectstore import get_store

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


TEST_SECRET = "test-secret"


#: scrypt with n=2^10 instead of 2^15: hashing a password takes ~3 ms instead of ~100 ms, and live tests
#: make several users each. The default is tested in tests/auth/test_service.py.
FAST_PASSWORD_HASH = "scrypt:1024:8:1"


def app_config(url: str, var_dir: Path, s3_config: dict, **overrides) -> dict:
    return {"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SDX_VAR_DIR": str(var_dir), "SECRET_KEY": TEST_SECRET,
            "PASSWORD_HASH": FAST_PASSWORD_HASH, **s3_config, **overrides}


def _url_of(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


#: Tables whose rows the migrations write (the seeded licence templates): put back after emptying.
SEEDED_TABLES = ("license_templates", "audit_head")


class Databases:
    """Each backend's test database, migrated to head on first use, with the run's signing key.

    The key is made once per database and put back whenever the tables are emptied: making an RSA
    key costs about 0.1 s, and every test that issues a token would otherwise make its own.
    """

    def __init__(self, tmp_path_factory) -> None:
        self.tmp = tmp_path_factory
        self.urls: dict[str, str] = {}
        self.signing_keys: dict[str, dict] = {}
        self.seeded: dict[str, dict[str, list[dict]]] = {}

    def url(self, backend: str) -> str:
        if backend not in self.urls:
            if backend == "sqlite":
                url = f"sqlite:///{self.tmp.mktemp('sqlite') / 'sdx.db'}"
            else:
                url = create_postgres_database("sdx_test")
            self.urls[backend] = url
            app = create_app(app_config(url, self.tmp.mktemp("var"), {}))
            with app.app_context():
                from flask_migrate import upgrade

                upgrade()
                keys.signing_key()  # made and committed
                key = db.session.execute(sa.select(SigningKey.__table__)).mappings().one()
                self.signing_keys[_url_of(db.engine)] = dict(key)
                self.seeded[_url_of(db.engine)] = {
                    name: [dict(row) for row in db.session.execute(sa.select(db.metadata.tables[name])).mappings()]
                    for name in SEEDED_TABLES}
                db.engine.dispose()
        return self.urls[backend]

    def empty(self) -> None:
        """Delete every row of the current app's database, then put the signing key and the rows the
        migrations seeded back."""
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
            conn.execute(SigningKey.__table__.insert(), [self.signing_keys[_url_of(db.engine)]])
            for name, rows in self.seeded[_url_of(db.engine)].items():
                if rows:
                    conn.execute(db.metadata.tables[name].insert(), rows)
        forget_cached_keys()

    def drop(self) -> None:
        for url in self.urls.values():
            if not url.startswith("sqlite"):
                drop_postgres_database(url)


@pytest.fixture(scope="session")
def databases(tmp_path_factory):
    databases = Databases(tmp_path_factory)
    yield databases
    databases.drop()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


def ensure_buckets(app) -> None:
    with app.app_context():
        get_store().ensure_buckets()


# -- apps: committed (their own apps, tables emptied after) or rolled back (one shared app) --------
@pytest.fixture
def make_app(backend, databases, s3_config, tmp_path):
    """Build an app on the test database and S3 server, with overrides; its writes are committed,
    and every table is emptied after the test."""
    apps = []

    def build(**overrides):
        app = create_app(app_config(databases.url(backend), tmp_path / "var", s3_config, **overrides))
        apps.append(app)
        return app

    yield build
    for app in apps:
        with app.app_context():
            if app.config["SQLALCHEMY_DATABASE_URI"] == databases.url(backend):
                databases.empty()
            db.engine.dispose()


def _sqlite_real_savepoints(engine) -> None:
    """pysqlite begins transactions lazily and would let the first SAVEPOINT start one, whose RELEASE
    then commits; the driver's own handling off and an explicit BEGIN make SAVEPOINTs nest (the
    recipe of SQLAlchemy's SQLite dialect documentation)."""
    @sa.event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_connection, _record):
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN")


@pytest.fixture(scope="session")
def shared_apps(databases, s3_config, tmp_path_factory):
    """One app per backend for the rolled-back tests (building one costs about 0.1 s)."""
    apps: dict[str, object] = {}

    def get(backend: str):
        if backend not in apps:
            app = create_app(app_config(databases.url(backend), tmp_path_factory.mktemp("var"), s3_config))
            with app.app_context():
                if db.engine.dialect.name == "sqlite":
                    _sqlite_real_savepoints(db.engine)
            ensure_buckets(app)
            apps[backend] = app
        return apps[backend]

    yield get
    for app in apps.values():
        with app.app_context():
            db.engine.dispose()


# A session joining the test's connection works in a savepoint: its commit releases it, its rollback
# returns to it, and the test's own transaction stays open (only matters when the bind is a Connection).
db.session.session_factory.configure(join_transaction_mode="create_savepoint")


@contextmanager
def rolled_back(app) -> Iterator[None]:
    """Run a test on one connection inside one transaction, rolled back at its end.

    The app's engine is swapped for that connection while the test runs, so every session — requests
    of the test client, services, CLI commands run in-process — joins it. Code that opens a connection
    of its own (``engine.connect()``) fails loudly: such a test needs ``@pytest.mark.committed``.
    """
    with app.app_context():
        engines = db.engines
        engine = engines[None]
        connection = engine.connect()
        transaction = connection.begin()
        engines[None] = connection
        limiter.reset()  # rate-limit counters live in the app, which the next test shares
        celery = app.extensions["celery"]  # a shared task's .delay() goes through the Celery app made last
        celery.set_current()
        celery.set_default()
    try:
        yield
    finally:
        engines[None] = engine
        transaction.rollback()
        connection.close()
        forget_cached_keys()  # a key made or rotated by the test is gone with its transaction


def needs_commits(request) -> bool:
    """A test that builds its own apps (live servers, workers) or is marked ``committed``."""
    return "make_app" in request.fixturenames or request.node.get_closest_marker("committed") is not None


@pytest.fixture
def app(request, backend, shared_apps):
    if needs_commits(request):
        app = request.getfixturevalue("make_app")()
        ensure_buckets(app)
        yield app
        return
    app = shared_apps(backend)
    with rolled_back(app):
        yield app


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


# -- people and the identities they act as ------------------------------------------------------
def add_user(email: str, roles=("buyer",), org: str | None = None, kind: str = "buyer",
             status: OrgStatus = OrgStatus.active) -> User:
    """A user (and its organisation, if new) made by the console, in the current app context."""
    org = org or f"Org of {email}"
    if service.find_org(org) is None:
        service.create_org(SYSTEM, {"name": org, "kind": kind}, status=status)
    return service.create_user(SYSTEM, {"org": org, "email": email, "password": PASSWORD, "roles": list(roles)})


def identity_for(user: User, scopes: str) -> Identity:
    """Who a token of ``user`` carrying ``scopes`` acts as, for calling services directly."""
    return Identity(user_id=user.id, org_id=user.org_id, roles=frozenset(user.roles),
                    org_status=user.organisation.status, scopes=frozenset(scopes.split()))


# -- a live server on loopback, driven by a real OAuth client library ----------------------------
@dataclass
class Live:
    app: object
    url: str

    def user(self, email: str, roles=("buyer",), org: str | None = None, kind: str = "buyer",
             status: OrgStatus = OrgStatus.active):
        with self.app.app_context():
            return add_user(email, roles, org, kind, status).id

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
        """A token from the token endpoint, over HTTP with a real OAuth client (for the OAuth tests)."""
        session = OAuth2Session(client_id, secret, scope=scope)
        return session.fetch_token(f"{self.url}/oauth/token", grant_type="client_credentials")

    def minted_token(self, client_id: str, scope: str | None = None) -> str:
        """The access token the client-credentials grant would issue to this client, made in this process
        by the platform's own token code (for tests that are not about OAuth)."""
        return mint_token(self.app, client_id, scope)

    def api(self, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=10, **kwargs)


#: How often a live server looks for its shutdown flag: the default 0.5 s made every live test's
#: teardown wait about half a second.
SHUTDOWN_POLL_SECONDS = 0.02


def mint_token(app, client_id: str, scope: str | None = None) -> str:
    """Sign and record an access token as the client-credentials grant does — the app's own generator
    and ``save_token``, scope as the client may hold it — without the round trip to /oauth/token."""
    with app.app_context():
        client = oauth_server.query_client(client_id)
        allowed = client.get_allowed_scope(scope)
        assert allowed is not None, f"the client may not hold {scope!r}"
        token = app.extensions["sdx_oauth_server"].generate_token(
            grant_type="client_credentials", client=client, user=None, scope=allowed, include_refresh_token=False)
        with unit_of_work():
            oauth_server.save_token(token, SimpleNamespace(client=client, user=None))
        return token["access_token"]


@contextmanager
def serving(make_app, **overrides) -> Iterator[Live]:
    """An app built with ``overrides``, served on a free loopback port by a threaded server."""
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}"
    app = make_app(PUBLIC_BASE_URL=url, **overrides)
    ensure_buckets(app)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
                              daemon=True)
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
