"""Configuration from ``SDX_*`` environment variables.

Every variable the platform reads is listed once in ``SETTINGS``; ``load_config`` reads exactly
those, so the table is also the documentation (``flask --app app sdx settings``) and what the
compose-file test checks against. The defaults give the embedded mode: SQLite and a local S3
server under the var dir, Celery tasks run in-process.
"""
from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

log = logging.getLogger(__name__)


def usable_cores(cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """The cores this process may use: its CPU affinity on Linux, capped by a container's CPU quota
    (cgroup v2 ``cpu.max``, as ``docker --cpus`` sets it; affinity alone sees the host's cores). The
    default number of gunicorn workers and of import writers."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, -(-int(quota) // int(period))))  # rounded up: 1.5 CPUs -> 2
    except (OSError, ValueError):  # no cgroup v2 limit here
        pass
    return cores


def parse_bool(value: str) -> bool:
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected a boolean (true/false), got {value!r}")


def _seconds_up_to_15_minutes(value: str) -> int:
    seconds = int(value)
    if not 60 <= seconds <= 900:
        raise ValueError("must be between 60 and 900 seconds")
    return seconds


def parse_networks(value: str) -> tuple:
    """Comma-separated CIDRs (``10.0.0.0/8,::1/128``); a bare address is a /32 or /128."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip())


def _password_hash_method(value: str) -> str:
    if value.split(":", 1)[0] not in {"scrypt", "pbkdf2"}:
        raise ValueError("must be scrypt[:n:r:p] or pbkdf2:<hash>[:iterations]")
    return value


def _basis_points(value: str) -> int:
    bps = int(value)
    if not 0 <= bps <= 10000:
        raise ValueError("must be between 0 and 10000 basis points")
    return bps


@dataclass(frozen=True)
class Setting:
    env: str
    key: str
    default: str | None
    help: str
    parse: Callable[[str], object] = str


SETTINGS: tuple[Setting, ...] = (
    Setting("SDX_VAR_DIR", "SDX_VAR_DIR", "./var", "Directory for the embedded database, S3 data and generated secrets."),
    Setting("SDX_DATABASE_URL", "SQLALCHEMY_DATABASE_URI", None,
            "SQLAlchemy URL; default sqlite:///<var>/sdx.db. Production: postgresql+psycopg://…"),
    Setting("SDX_S3_ENDPOINT", "S3_ENDPOINT", "", "host:port of the S3 server; empty = embedded SeaweedFS started by `sdx run`."),
    Setting("SDX_S3_ACCESS_KEY", "S3_ACCESS_KEY", "", "S3 access key."),
    Setting("SDX_S3_SECRET_KEY", "S3_SECRET_KEY", "", "S3 secret key."),
    Setting("SDX_S3_SECURE", "S3_SECURE", "false", "Use HTTPS to reach the S3 server.", parse_bool),
    Setting("SDX_S3_REGION", "S3_REGION", "us-east-1", "S3 region used for signing."),
    Setting("SDX_S3_PRODUCTS_BUCKET", "S3_PRODUCTS_BUCKET", "sdx-products", "Bucket for product assets."),
    Setting("SDX_S3_PUBLIC_BUCKET", "S3_PUBLIC_BUCKET", "sdx-public", "Bucket for thumbnails and other public assets."),
    Setting("SDX_S3_TIMEOUT", "S3_TIMEOUT", "10", "Seconds to wait for the S3 server before giving up.", float),
    Setting("SDX_S3_PUBLIC_ENDPOINT", "S3_PUBLIC_ENDPOINT", "",
            "S3 URL providers' machines reach for presigned uploads (http(s)://host:port); empty = SDX_S3_ENDPOINT."),
    Setting("SDX_UPLOAD_URL_SECONDS", "UPLOAD_URL_SECONDS", "3600", "Lifetime of presigned upload URLs.", int),
    Setting("SDX_UPLOAD_MULTIPART_THRESHOLD", "UPLOAD_MULTIPART_THRESHOLD", str(64 * 1024 * 1024),
            "Files of at least this many bytes are uploaded in parts; smaller ones with one PUT.", int),
    Setting("SDX_UPLOAD_PART_SIZE", "UPLOAD_PART_SIZE", str(64 * 1024 * 1024),
            "Default multipart part size in bytes (5 MiB–5 GiB; grown so a file fits in 10,000 parts).", int),
    Setting("SDX_UPLOAD_STALE_HOURS", "UPLOAD_STALE_HOURS", "24",
            "Multipart uploads left incomplete this long are aborted by the beat task.", float),
    Setting("SDX_INGEST_MAX_PIXELS", "INGEST_MAX_PIXELS", str(20_000_000_000),
            "Largest raster accepted (width × height × bands); more is refused as a decompression bomb.", int),
    Setting("SDX_STAC_MAX_VERTICES", "STAC_MAX_VERTICES", "10000",
            "Positions a STAC item's geometry may have; more is refused (422).", int),
    Setting("SDX_INGEST_TMP_DIR", "INGEST_TMP_DIR", "", "Where ingest keeps a file while checking it; empty = system temp."),
    Setting("SDX_BROKER_URL", "BROKER_URL", "", "Celery broker (redis://…); empty = tasks run in-process (embedded)."),
    Setting("SDX_BROKER_VISIBILITY_TIMEOUT", "BROKER_VISIBILITY_TIMEOUT", str(6 * 3600),
            "Seconds before a task a dead worker had taken is delivered again; must exceed the longest ingest.", int),
    Setting("SDX_SECRET_KEY", "SECRET_KEY", None,
            "Flask secret key (at least 16 characters; required outside the embedded mode); embedded default: "
            "generated on the first request and kept under the var dir."),
    Setting("SDX_PUBLIC_BASE_URL", "PUBLIC_BASE_URL", None, "External base URL; default http://127.0.0.1:<SDX_PORT>."),
    Setting("SDX_MAP_TILE_URL", "MAP_TILE_URL", "",
            "Map tiles for the web pages ({z}/{x}/{y} URL template); empty = the built-in offline world map."),
    Setting("SDX_MAP_TILE_ATTRIBUTION", "MAP_TILE_ATTRIBUTION", "",
            "Attribution shown on the map when SDX_MAP_TILE_URL is set (e.g. © OpenStreetMap contributors)."),
    Setting("SDX_HOST", "SDX_HOST", "127.0.0.1", "Address `sdx run` binds to."),
    Setting("SDX_PORT", "SDX_PORT", "5000", "Port `sdx run` listens on.", int),
    Setting("SDX_LOG_FORMAT", "LOG_FORMAT", "text", "`text` for people, `json` for production log collectors."),
    Setting("SDX_LOG_LEVEL", "LOG_LEVEL", "INFO", "Python log level."),
    Setting("SDX_MAX_BODY_BYTES", "MAX_CONTENT_LENGTH", str(10 * 1024 * 1024),
            "Largest accepted request body; larger ones get 413.", int),
    Setting("SDX_OAUTH_ACCESS_TOKEN_SECONDS", "OAUTH_ACCESS_TOKEN_SECONDS", "600",
            "Access-token lifetime in seconds (at most 900).", _seconds_up_to_15_minutes),
    Setting("SDX_OAUTH_REFRESH_TOKEN_SECONDS", "OAUTH_REFRESH_TOKEN_SECONDS", str(30 * 24 * 3600),
            "Refresh-token lifetime in seconds.", int),
    Setting("SDX_OAUTH_AUDIENCE", "OAUTH_AUDIENCE", "", "`aud` of access tokens; default the public base URL."),
    Setting("SDX_RATELIMIT_STORAGE_URL", "RATELIMIT_STORAGE_URI", "memory://",
            "Where rate-limit counters live; use redis://… when several processes serve."),
    Setting("SDX_RATELIMIT_LOGIN", "RATELIMIT_LOGIN", "20 per minute", "Login attempts allowed per client address."),
    Setting("SDX_RATELIMIT_TOKEN", "RATELIMIT_TOKEN", "120 per minute",
            "Requests to each of the token, revocation and introspection endpoints allowed per client address."),
    Setting("SDX_RATELIMIT_LOGIN_FAILURES", "RATELIMIT_LOGIN_FAILURES", "10 per 15 minutes",
            "Failed sign-ins allowed per client address (the same for every account, known or not)."),
    Setting("SDX_RATELIMIT_SIGNUP", "RATELIMIT_SIGNUP", "5 per hour", "Sign-up requests allowed per client address."),
    Setting("SDX_METRICS_ALLOW", "METRICS_ALLOW", "127.0.0.1/32,::1/128",
            "Client networks (comma-separated CIDRs) allowed to read /metrics; empty = nobody.", parse_networks),
    Setting("SDX_SEARCH_TIMEOUT_MS", "SEARCH_TIMEOUT_MS", "10000",
            "PostgreSQL: a catalogue search running longer is cancelled and answered 503; 0 = no limit.", int),
    Setting("SDX_DEMO_STAC_DIR", "DEMO_STAC_DIR", "",
            "Sample STAC sets the demo catalogue is loaded from; empty = ../shared/data/stac beside the project."),
    Setting("SDX_DEMO_DATA", "DEMO_DATA", "true", "Whether `sdx run` seeds demo organisations and users.", parse_bool),
    Setting("SDX_PASSWORD_HASH", "PASSWORD_HASH", "scrypt",
            "How new passwords are hashed, in Werkzeug's notation (scrypt[:n:r:p] or pbkdf2:sha256[:iterations]); "
            "keep the default (scrypt, n=2^15): the test suite alone lowers it, to save time.", _password_hash_method),
    Setting("SDX_PLATFORM_FEE_BPS", "PLATFORM_FEE_BPS", "1000",
            "The platform's fee on every sale, in basis points of the line's price (1000 = 10 %).", _basis_points),
    Setting("SDX_REFUND_WINDOW_HOURS", "REFUND_WINDOW_HOURS", "24",
            "Hours after payment during which an order with nothing downloaded can be cancelled for a full refund.",
            int),
    Setting("SDX_WEBHOOKS_ALLOW_PRIVATE", "WEBHOOKS_ALLOW_PRIVATE", "false",
            "Let webhook URLs resolve to loopback, private or link-local addresses (tests, closed networks).",
            parse_bool),
    Setting("SDX_DOWNLOAD_RESERVATION_SECONDS", "DOWNLOAD_RESERVATION_SECONDS", "300",
            "How long a download's byte reservation outlives the stream's last sign of life before the reaper "
            "releases it (a crashed process), charging only the bytes observed sent.", int),
    Setting("SDX_DOWNLOAD_MAX_STREAMS", "DOWNLOAD_MAX_STREAMS", "4",
            "Concurrent download streams per organisation; the next one is answered 429 with Retry-After.", int),
    Setting("SDX_GC_FREEZE", "GC_FREEZE", "true",
            "Freeze start-up objects out of the cycle collector's reach once the app is loaded (gunicorn, `sdx run`); "
            "false only to measure.", parse_bool),
)

ENV_NAMES = frozenset(s.env for s in SETTINGS)


class ConfigError(ValueError):
    """A configuration variable has a value the platform cannot use."""


def load_config(environ: Mapping[str, str] | None = None) -> dict:
    """Read every known ``SDX_*`` variable, apply defaults and derive what follows from them."""
    environ = os.environ if environ is None else environ
    unknown = sorted(k for k in environ if k.startswith("SDX_") and k not in ENV_NAMES and not k.startswith("SDX_TEST_"))
    for name in unknown:
        log.warning("ignoring unknown configuration variable %s", name)

    config: dict = {}
    problems = []
    for setting in SETTINGS:
        raw = environ.get(setting.env, setting.default)
        if raw is None:
            config[setting.key] = None
            continue
        try:
            config[setting.key] = setting.parse(raw)
        except ValueError as exc:
            problems.append(f"{setting.env}: {exc}")
    if problems:
        raise ConfigError("; ".join(problems))

    var_dir = Path(config["SDX_VAR_DIR"]).resolve()
    config["SDX_VAR_DIR"] = str(var_dir)
    if not config["SQLALCHEMY_DATABASE_URI"]:
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{var_dir / 'sdx.db'}"
    if not config["PUBLIC_BASE_URL"]:
        config["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{config['SDX_PORT']}"
    config["PUBLIC_BASE_URL"] = config["PUBLIC_BASE_URL"].rstrip("/")
    return config


#: Secrets that ship in examples and documentation; a deployment using one has no secret at all.
KNOWN_WEAK_SECRETS = frozenset({"", "secret", "changeme", "change-me", "password", "minioadmin", "sdx",
                                "postgres", "dev", "test", "admin"})
MIN_SECRET_LENGTH = 16


def is_embedded(config: Mapping) -> bool:
    """The no-configuration mode: the runner starts its own S3 server and tasks run in-process.

    A configured S3 endpoint or broker means a deployment, whose secrets must be real.
    """
    return not config.get("S3_ENDPOINT") and not config.get("BROKER_URL")


def _weak(value: str | None) -> bool:
    return (not value or value.lower() in KNOWN_WEAK_SECRETS or value.lower().startswith("change-me")
            or len(value) < MIN_SECRET_LENGTH)


def weak_secrets(config: Mapping) -> list[str]:
    """The settings of a deployment whose secret is missing, too short or one of the well-known examples."""
    from sqlalchemy.engine import make_url

    weak = []
    if _weak(config.get("SECRET_KEY")):
        weak.append("SDX_SECRET_KEY")
    if config.get("S3_ENDPOINT") and _weak(config.get("S3_SECRET_KEY")):
        weak.append("SDX_S3_SECRET_KEY")
    uri = str(config.get("SQLALCHEMY_DATABASE_URI") or "")
    if not uri.startswith("sqlite:"):
        try:
            password = make_url(uri).password
        except Exception:  # an unparsable URL fails later with SQLAlchemy's own message
            password = None
        if password is not None and _weak(password):
            weak.append("the password in SDX_DATABASE_URL")
    return weak


def refuse_weak_secrets(config: Mapping) -> None:
    """Stop a deployment (not the embedded mode, not the tests) that would run with known or missing secrets."""
    if config.get("TESTING") or is_embedded(config):
        return
    weak = weak_secrets(config)
    if weak:
        raise ConfigError(
            f"{', '.join(weak)}: missing, shorter than {MIN_SECRET_LENGTH} characters or a well-known example "
            "value. Set a long random secret (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`).")


_secret_lock = threading.Lock()


def secret_key(config: dict) -> str:
    """The app's secret key; in the embedded mode made on first need (first request, first signing key).

    Not at start-up: client-side commands such as ``sdx upload`` build the app too, and must not write
    server state into whatever folder they run from.
    """
    if not config.get("SECRET_KEY"):
        with _secret_lock:
            if not config.get("SECRET_KEY"):
                config["SECRET_KEY"] = persistent_secret(config["SDX_VAR_DIR"], "flask-secret-key")
    return config["SECRET_KEY"]


def persistent_secret(var_dir: str, name: str) -> str:
    """A random secret generated on first use and kept (mode 0600) under the var dir.

    Lets the embedded mode run with no configuration while keeping sessions valid across restarts.
    """
    path = Path(var_dir) / "secrets" / name
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process or thread made it first: use theirs
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value
