"""The embedded S3 server serves data only through S3 with its credentials: its master, filer and
volume HTTP ports (on loopback, but open to any local process or an SSRF) neither read nor write."""
from __future__ import annotations

import io

import pytest
import requests
from minio import Minio

BUCKET = "sdx-lockdown-check"
SECRET = b"confidential product bytes"


def minio_client(server) -> Minio:
    c = server.app_config()
    return Minio(c["S3_ENDPOINT"], access_key=c["S3_ACCESS_KEY"], secret_key=c["S3_SECRET_KEY"], secure=False)


@pytest.fixture
def stored(s3_server):
    """An object written through S3, as the platform writes every product."""
    client = minio_client(s3_server)
    if not client.bucket_exists(BUCKET):
        client.make_bucket(BUCKET)
    client.put_object(BUCKET, "p/secret.bin", io.BytesIO(SECRET), len(SECRET))
    yield client
    for obj in list(client.list_objects(BUCKET, recursive=True)):
        client.remove_object(BUCKET, obj.object_name)


def attempt(method: str, url: str, **kwargs) -> requests.Response | None:
    """The answer to a request without credentials, or None when the port refuses the connection."""
    try:
        return requests.request(method, url, timeout=5, **kwargs)
    except requests.ConnectionError:
        return None


def test_the_filer_neither_serves_nor_accepts_files(s3_server, stored):
    filer = f"http://127.0.0.1:{s3_server.ports['filer']}"
    read = attempt("GET", f"{filer}/buckets/{BUCKET}/p/secret.bin")
    assert read is None or (read.status_code >= 400 and SECRET not in read.content)
    listing = attempt("GET", f"{filer}/buckets/{BUCKET}/p/")
    assert listing is None or (listing.status_code >= 400 and b"secret.bin" not in listing.content)
    write = attempt("PUT", f"{filer}/buckets/{BUCKET}/p/planted.html", data=b"<script>alert(1)</script>")
    assert write is None or write.status_code >= 400
    assert sorted(o.object_name for o in stored.list_objects(BUCKET, recursive=True)) == ["p/secret.bin"]


def test_the_volume_server_wants_a_signed_token(s3_server, stored):
    volume = f"http://127.0.0.1:{s3_server.ports['volume']}"
    status = requests.get(f"{volume}/status", timeout=5).json()  # volume ids only, no data
    volume_ids = sorted({v["Id"] for v in status["Volumes"]})
    assert volume_ids
    for vid in volume_ids:  # a guessed file id is refused for want of a token, before any lookup
        read = attempt("GET", f"{volume}/{vid},0100000000")
        assert read is not None and read.status_code == 401, read and read.text
        write = attempt("POST", f"{volume}/{vid},0200000000", files={"file": ("x.html", b"<b>planted</b>")})
        assert write is not None and write.status_code == 401, write and write.text


def test_the_master_http_api_is_off(s3_server, stored):
    master = f"http://127.0.0.1:{s3_server.ports['master']}"
    for path in ("/dir/assign", "/dir/lookup?volumeId=1", "/dir/status", f"/col/delete?collection={BUCKET}"):
        answer = attempt("GET", master + path)
        assert answer is None or answer.status_code == 404, (path, answer.status_code, answer.text[:200])
    assert stored.get_object(BUCKET, "p/secret.bin").read() == SECRET  # the collection is still there


def test_s3_with_credentials_still_reads_and_writes_through_the_volumes(s3_server, stored):
    payload = bytes(range(256)) * 40_000  # 10 MB: chunks written to and read back from the volume server
    stored.put_object(BUCKET, "p/large.bin", io.BytesIO(payload), len(payload), part_size=5 * 1024 * 1024)
    assert stored.get_object(BUCKET, "p/large.bin").read() == payload
    assert stored.get_object(BUCKET, "p/secret.bin").read() == SECRET
