"""SDX application factory: ``create_app(config)``; also the target of ``flask --app app …``."""
from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask_migrate import Migrate

from exchange.core import celery as celery_ext
from exchange.core import cli, compression, domains, health, limits, nul_guard, observability, problems, responses
from exchange.core import security as security_headers
from exchange.core.config import load_config, refuse_weak_secrets, secret_key
from exchange.core.db import db
from exchange.core.strict_json import StrictJSONProvider

MIGRATIONS_DIR = str(Path(__file__).resolve().parent / "migrations")

#: The installed domain packages, each plugged in by its ``init_app(app)``. Their order is the order
#: of the blueprints and of the paths in /api/openapi.json (ingest's API before the STAC paths).
DOMAINS = ("auth", "exchange.ingest", "exchange.catalog", "exchange.licensing", "exchange.trading", "exchange.metering",
           "exchange.sharing", "exchange.web")

migrate = Migrate(compare_type=True, render_as_batch=True)


def _api_settings(app: Flask) -> None:
    app.config.setdefault("API_TITLE", "SDX — Satellite Data Exchange")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
    # Swagger UI from the pinned swagger-ui-bundle package, served by exchange.web.views: no CDN, so no
    # third-party script on the origin of the sign-in and consent pages, and the docs work offline.
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", "/api/swagger-ui/")


def _session_settings(app: Flask) -> None:
    """Flask already defines the cookie keys (SameSite None, Secure False), so ``setdefault`` would
    never apply: set them unless the caller chose a value. Lax, not Strict: a client sends the user
    to /oauth/authorize by a top-level link, which must carry the session."""
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    if not app.config.get("SESSION_COOKIE_SAMESITE"):
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    if app.config["PUBLIC_BASE_URL"].startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 3600)


def _database_settings(app: Flask) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    # No pre-ping: it costs a round trip per request. A connection found dead is discarded with its
    # pool on first use; PostgreSQL connections are also recycled before server-side timeouts.
    # (The SQLite file's folder is made by the migration that creates the database, not here: building
    # the app, as every command does, must leave no trace.)
    options: dict = {}
    if uri.startswith("sqlite:"):
        options["connect_args"] = {"timeout": 15}
    elif uri.startswith("postgresql"):
        options["connect_args"] = {"connect_timeout": 5}
        options["pool_recycle"] = 1800
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", options)


def _secret_on_first_request(app: Flask) -> None:
    """The embedded mode's secret key is made (and kept under the var dir) when the app first serves."""
    inner = app.wsgi_app

    def wsgi_app(environ, start_response):
        secret_key(app.config)
        return inner(environ, start_response)

    app.wsgi_app = wsgi_app


def create_app(config: dict | None = None) -> Flask:
    """Build the platform: configuration from ``SDX_*`` variables, then ``config`` overrides."""
    app = Flask(__name__)
    app.json = StrictJSONProvider(app)
    app.config.update(load_config())
    app.config.update(config or {})
    refuse_weak_secrets(app.config)
    _api_settings(app)
    _database_settings(app)
    _session_settings(app)

    observability.configure_logging(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    observability.init_app(app)
    security_headers.init_app(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR)
    celery_ext.init_app(app)

    api = responses.PlatformApi(app)
    problems.init_app(app)  # after Api: our problem+json handlers replace flask-smorest's
    limits.init_app(app)  # JSON bodies' nesting, before anything parses them
    nul_guard.init_app(app)
    responses.init_app(app)

    app.register_blueprint(health.bp)
    domains.init_app(app, api, cli.COMMANDS)
    domains.install(app, DOMAINS)
    compression.init_app(app)  # last: its after-request hook runs first, on the final body
    if not app.config.get("SECRET_KEY"):
        _secret_on_first_request(app)
    return app

