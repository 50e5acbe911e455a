"""The store's errors leave storage/ in the platform's words, against a real S3 server and a dead port;
the API answers an outage with 503 and Retry-After wherever it surfaces."""
from __future__ import annotations

import io
import time
from datetime import timedelta

import pytest

from exchange.core.config import load_config
from storage import transfers
from storage.embedded import free_ports
from storage.errors import ObjectMissing, StorageNotConfigured, StorageUnavailable
from storage.objectstore import build_store


@pytest.fixture(scope="module")
def config(s3_config) -> dict:
    return {**load_config({}), **s3_config}


@pytest.fixture(scope="module")
def store(config):
    store = build_store({**config, "S3_TIMEOUT": 5})
    store.ensure_buckets()
    return store


@pytest.fixture(scope="module")
def dead_store(config):
    (port,) = free_ports(1)
    return build_store({**config, "S3_ENDPOINT": f"127.0.0.1:{port}", "S3_TIMEOUT": 1})


def test_a_missing_object_is_an_answer_not_an_error(store):
    assert transfers.object_size(store, store.products_bucket, "no/such/object.tif") is None
    assert transfers.read_public(store, "thumbnails/none.png") is None


def test_a_missing_object_read_is_object_missing(store):
    with pytest.raises(ObjectMissing):
        transfers.copy_to_file(store, "no/such/object.tif", io.BytesIO())


def test_an_unknown_multipart_upload_is_object_missing_and_aborting_it_is_harmless(store):
    with pytest.raises(ObjectMissing) as raised:
        transfers.list_parts(store, "no/such/upload.tif", "not-an-upload-id")
    assert raised.value.code == "NoSuchUpload"
    transfers.abort_multipart(store, "no/such/upload.tif", "not-an-upload-id")


@pytest.mark.parametrize("call", [
    lambda s: transfers.object_size(s, s.products_bucket, "a.tif"),
    lambda s: transfers.start_multipart(s, "a.tif", "image/tiff"),
    lambda s: transfers.copy_to_file(s, "a.tif", io.BytesIO()),
    lambda s: list(transfers.pending_multipart_uploads(s)),
    lambda s: s.ensure_buckets(),
], ids=["stat", "start-multipart", "read", "list-uploads", "ensure-buckets"])
def test_an_unreachable_store_is_unavailable_within_seconds(dead_store, call):
    started = time.monotonic()
    with pytest.raises(StorageUnavailable):
        call(dead_store)
    assert time.monotonic() - started < 10


def test_no_endpoint_is_not_configured(config):
    with pytest.raises(StorageNotConfigured):
        build_store({**config, "S3_ENDPOINT": ""})


def test_presigning_needs_no_server(dead_store):
    """Signing is local arithmetic: a store that is down still yields a URL (S3 judges it later)."""
    assert "X-Amz-Signature=" in transfers.presigned_put(dead_store, "a.tif", 10, timedelta(minutes=5))


def test_an_outage_is_a_503_with_retry_after_on_any_route(make_app):
    (port,) = free_ports(1)
    app = make_app(S3_ENDPOINT=f"127.0.0.1:{port}", S3_TIMEOUT=1)

    @app.get("/probe-store")
    def probe():
        from storage.objectstore import get_store

        get_store().check()
        return "never"

    response = app.test_client().get("/probe-store")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.content_type == "application/problem+json"
    assert response.json["title"] == "Service unavailable" and "object store" in response.json["detail"]


def test_a_store_not_configured_is_a_503_saying_what_to_set(make_app):
    app = make_app(S3_ENDPOINT="")

    @app.get("/probe-store")
    def probe():
        from storage.objectstore import get_store

        get_store()
        return "never"

    response = app.test_client().get("/probe-store")
    assert response.status_code == 503 and "Retry-After" not in response.headers
    assert "SDX_S3_ENDPOINT" in response.json["detail"]
