"""The S3 object store, through the MinIO SDK, for any S3 server (MinIO, SeaweedFS, AWS).

The client is built lazily from the app's configuration, so the embedded runner can start the
local S3 server and fill in its endpoint before the first call. Timeouts and retries are bounded:
an unreachable store answers within seconds instead of hanging a request. Errors leave as the
classes of ``storage.errors``.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from flask import Flask, current_app
from minio import Minio

from storage.errors import StorageNotConfigured, translated


@dataclass(frozen=True)
class ObjectStore:
    client: Minio
    products_bucket: str
    public_bucket: str
    presigner: Minio  # signs URLs for the endpoint providers reach (may differ from the internal one)

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
        return created

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
    return ObjectStore(client, config["S3_PRODUCTS_BUCKET"], config["S3_PUBLIC_BUCKET"], presigner)


def get_store(app: Flask | None = None) -> ObjectStore:
    """The app's object store, built on first use and rebuilt when its S3 settings change."""
    app = app or current_app
    config = app.config
    key = (config.get("S3_ENDPOINT"), config.get("S3_ACCESS_KEY"), config.get("S3_SECRET_KEY"),
           config.get("S3_SECURE"), config.get("S3_PUBLIC_ENDPOINT"), config.get("S3_PRODUCTS_BUCKET"), config.get("S3_PUBLIC_BUCKET"))
    cached = app.extensions.get("sdx_store")
    if cached is None or cached[0] != key:
        cached = (key, build_store(config))
        app.extensions["sdx_store"] = cached
    return cached[1]
