"""The S3 object store, through the MinIO SDK, for any S3 server (MinIO, SeaweedFS, AWS).

The client is built lazily from the app's configuration, so the embedded runner can start the
local S3 server and fill in its endpoint before the first call. Timeouts and retries are bounded:
an unreachable store answers within seconds instead of hanging a request. Errors leave as the
classes of ``storage.errors``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import urllib3
from flask import Flask, current_app
from minio import Minio
from minio.helpers import md5sum_hash

from storage.errors import StorageError, StorageNotConfigured, translated

log = logging.getLogger(__name__)

#: What a browser does with the products bucket: PUT upload parts (presigned), and GET/HEAD.
CORS_METHODS = ("PUT", "GET", "HEAD")
#: S3 codes of a server that keeps CORS in its own settings rather than per bucket (MinIO's community edition).
CORS_UNSUPPORTED = frozenset({"NotImplemented", "MethodNotAllowed"})


@dataclass(frozen=True)
class ObjectStore:
    client: Minio
    products_bucket: str
    public_bucket: str
    presigner: Minio  # signs URLs for the endpoint providers reach (may differ from the internal one)
    #: Web origins whose pages upload to the products bucket from the browser (the platform's own).
    cors_origins: tuple[str, ...] = field(default=())

    @property
    def buckets(self) -> tuple[str, str]:
        return (self.products_bucket, self.public_bucket)

    @translated()
    def ensure_buckets(self) -> list[str]:
        """Create the platform's buckets that do not exist yet; return the names created."""
        created = []
        for name in self.buckets:
            if not self.client.bucket_exists(name):
                self.client.make_bucket(name)
                created.append(name)
        self.ensure_cors()
        return created

    def cors_configuration(self) -> bytes:
        """The products bucket's CORS rule: the platform's pages may PUT parts to presigned URLs (with
        a Content-Type header) and read ETag; nothing else, from no other origin."""
        origins = "".join(f"<AllowedOrigin>{escape(origin)}</AllowedOrigin>" for origin in self.cors_origins)
        methods = "".join(f"<AllowedMethod>{method}</AllowedMethod>" for method in CORS_METHODS)
        return (f"<CORSConfiguration><CORSRule><ID>sdx-browser-upload</ID>{origins}{methods}"
                "<AllowedHeader>Content-Type</AllowedHeader><ExposeHeader>ETag</ExposeHeader>"
                "<MaxAgeSeconds>3600</MaxAgeSeconds></CORSRule></CORSConfiguration>").encode()

    def ensure_cors(self) -> bool:
        """Put the CORS rule on the products bucket (PutBucketCors, signed by the MinIO SDK, which has
        no call of its own for it); the configuration is the truth, so it replaces what is there.
        A server without bucket CORS (MinIO's community edition: its global
        MINIO_API_CORS_ALLOW_ORIGIN applies) is logged, not an error. Returns whether it was set."""
        if not self.cors_origins:
            return False
        body = self.cors_configuration()
        try:
            with translated():
                self.client._execute("PUT", self.products_bucket, body=body, headers={"Content-MD5": md5sum_hash(body)},
                                     query_params={"cors": ""})
        except StorageError as exc:
            if exc.code not in CORS_UNSUPPORTED:
                raise
            log.warning("the S3 server keeps no bucket CORS (%s): allow %s in its own settings (MinIO: "
                        "MINIO_API_CORS_ALLOW_ORIGIN) so browsers can upload", exc.code, ", ".join(self.cors_origins))
            return False
        return True

    @translated()
    def check(self) -> None:
        """Raise if the store cannot be reached or a platform bucket is missing."""
        for name in self.buckets:
            if not self.client.bucket_exists(name):
                raise RuntimeError(f"bucket {name} does not exist")


def _http_client(timeout: float) -> urllib3.PoolManager:
    retry = urllib3.Retry(total=2, connect=1, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504),
                          allowed_methods=None)
    return urllib3.PoolManager(timeout=urllib3.Timeout(connect=min(timeout, 3.0), read=timeout),
                               retries=retry, maxsize=16)


def build_store(config: dict) -> ObjectStore:
    if not config.get("S3_ENDPOINT"):
        raise StorageNotConfigured(
            "no S3 endpoint configured: start the platform with `make run` (embedded S3) or set SDX_S3_ENDPOINT")
    client = Minio(config["S3_ENDPOINT"], access_key=config["S3_ACCESS_KEY"], secret_key=config["S3_SECRET_KEY"],
                   secure=config["S3_SECURE"], region=config["S3_REGION"],
                   http_client=_http_client(config["S3_TIMEOUT"]))
    presigner = client
    if config.get("S3_PUBLIC_ENDPOINT"):
        public = urlsplit(config["S3_PUBLIC_ENDPOINT"])
        if public.scheme not in ("http", "https") or not public.netloc:
            raise StorageNotConfigured("SDX_S3_PUBLIC_ENDPOINT must look like https://s3.example.org[:port]")
        # Signing needs no request when the region is known: this client never talks to the server.
        presigner = Minio(public.netloc, access_key=config["S3_ACCESS_KEY"], secret_key=config["S3_SECRET_KEY"],
                          secure=public.scheme == "https", region=config["S3_REGION"])
    return ObjectStore(client, config["S3_PRODUCTS_BUCKET"], config["S3_PUBLIC_BUCKET"], presigner,
                       cors_origins=_web_origins(config))


#: Names of this machine a browser may use for a platform on loopback (``make run``).
LOOPBACK_NAMES = ("127.0.0.1", "localhost")


def _web_origins(config: dict) -> tuple[str, ...]:
    """The origin of the platform's pages (``PUBLIC_BASE_URL``), which upload to S3 from the browser; on
    loopback both names of the machine, since a person may open either."""
    parts = urlsplit(config.get("PUBLIC_BASE_URL") or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ()
    if parts.hostname in LOOPBACK_NAMES:
        port = f":{parts.port}" if parts.port else ""
        return tuple(f"{parts.scheme}://{host}{port}" for host in LOOPBACK_NAMES)
    return (f"{parts.scheme}://{parts.netloc}",)


def get_store(app: Flask | None = None) -> ObjectStore:
    """The app's object store, built on first use and rebuilt when its S3 settings change."""
    app = app or current_app
    config = app.config
    key = (config.get("S3_ENDPOINT"), config.get("S3_ACCESS_KEY"), config.get("S3_SECRET_KEY"),
           config.get("S3_SECURE"), config.get("S3_PUBLIC_ENDPOINT"), config.get("S3_PRODUCTS_BUCKET"), config.get("S3_PUBLIC_BUCKET"),
           config.get("PUBLIC_BASE_URL"))
    cached = app.extensions.get("sdx_store")
    if cached is None or cached[0] != key:
        cached = (key, build_store(config))
        app.extensions["sdx_store"] = cached
    return cached[1]
