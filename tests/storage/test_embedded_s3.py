"""The embedded S3 server: real S3 through the MinIO SDK, data and keys kept across restarts."""
from __future__ import annotations

import io
import json
import stat
from datetime import timedelta

import requests
from minio import Minio

from storage.embedded import EmbeddedS3
from storage.objectstore import build_store


def minio_client(server: EmbeddedS3) -> Minio:
    c = server.app_config()
    return Minio(c["S3_ENDPOINT"], access_key=c["S3_ACCESS_KEY"], secret_key=c["S3_SECRET_KEY"], secure=False)


def test_put_get_presigned_and_ranged(s3_server):
    client = minio_client(s3_server)
    if not client.bucket_exists("sdx-embedded-check"):
        client.make_bucket("sdx-embedded-check")
    payload = bytes(range(256)) * 64
    client.put_object("sdx-embedded-check", "a/b.bin", io.BytesIO(payload), len(payload))
    url = client.presigned_get_object("sdx-embedded-check", "a/b.bin", expires=timedelta(minutes=5))
    assert requests.get(url, timeout=10).content == payload
    ranged = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=10)
    assert ranged.status_code == 206 and ranged.content == payload[10:20]


def test_wrong_secret_is_refused(s3_server):
    client = Minio(s3_server.endpoint, access_key=s3_server.credentials["access_key"], secret_key="wrong-secret",
                   secure=False)
    try:
        client.list_buckets()
    except Exception as exc:  # S3Error: SignatureDoesNotMatch
        assert "Signature" in str(exc) or "Access" in str(exc)
    else:
        raise AssertionError("the S3 server accepted a wrong secret key")


def test_restart_keeps_data_and_credentials(tmp_path):
    """A second `make run` finds the same objects with the same generated keys, on new ports."""
    with EmbeddedS3(tmp_path / "s3") as first:
        store = build_store(dict(first.app_config(), S3_REGION="us-east-1", S3_TIMEOUT=5,
                                 S3_PRODUCTS_BUCKET="sdx-products", S3_PUBLIC_BUCKET="sdx-public"))
        assert sorted(store.ensure_buckets()) == ["sdx-products", "sdx-public"]
        store.client.put_object("sdx-products", "kept.txt", io.BytesIO(b"still here"), 10)
        first_keys, first_port = first.credentials, first.ports["s3"]
    creds_file = tmp_path / "s3" / "credentials.json"
    assert stat.S_IMODE(creds_file.stat().st_mode) == 0o600
    with EmbeddedS3(tmp_path / "s3") as second:
        assert second.credentials == first_keys == json.loads(creds_file.read_text())
        store = build_store(dict(second.app_config(), S3_REGION="us-east-1", S3_TIMEOUT=5,
                                 S3_PRODUCTS_BUCKET="sdx-products", S3_PUBLIC_BUCKET="sdx-public"))
        assert store.ensure_buckets() == []
        assert store.client.get_object("sdx-products", "kept.txt").read() == b"still here"


def test_stop_ends_the_process_quickly(tmp_path):
    server = EmbeddedS3(tmp_path / "s3", stop_grace=1.0).start()
    process = server._process
    server.stop()
    assert process.poll() is not None


def test_supervisor_restarts_a_crashed_server(tmp_path):
    import os
    import signal
    import time

    with EmbeddedS3(tmp_path / "s3") as server:
        crashed = server._process
        os.killpg(crashed.pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (server._process is crashed or server._process.poll() is not None):
            time.sleep(0.5)
        assert server._process is not crashed, "the supervisor did not restart the S3 server"
        client = minio_client(server)
        deadline = time.monotonic() + 60
        while True:
            try:
                client.list_buckets()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
