"""Uploads that try to smuggle something past the platform, against the live server and the real S3:
file names that rewrite the download's Content-Disposition, content types that make a browser run
the file, and bodies larger (or smaller) than the size declared."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
import requests
from minio import Minio

from storage import transfers
from storage.objectstore import ObjectStore, get_store
from tests.ingest.conftest import GEOTIFF, MIB, bucket_listing, write_geotiff

HOSTILE_NAMES = {
    "quote-injection": 'report.pdf"; filename*=UTF-8\'\'evil.html',
    "path": "../../etc/passwd",
    "backslash": "..\\x.tif",
    "dot-dot": "..",
    "hidden": ".htaccess",
    "newline": "x.tif\r\nContent-Type: text/html",
    "nul": "x\x00.tif",
    "right-to-left-override": "scene\u202efit.exe",
    "padded": " x.tif ",
    "over-long": "é" * 128 + ".tif",  # 261 bytes in UTF-8
}


def products(live) -> list[str]:
    return bucket_listing(live.app)[live.app.config["S3_PRODUCTS_BUCKET"]]


def download(provider, item_id: str, key: str) -> requests.Response:
    """Follow the asset's download link as a browser would (the gateway streams the file)."""
    answer = provider.api("GET", f"/stac/collections/{provider.collection}/items/{item_id}/assets/{key}/download",
                          allow_redirects=False)
    assert answer.status_code == 200, answer.text
    return answer


# -- file names and the download's headers -----------------------------------------------------------------
@pytest.mark.parametrize("name", HOSTILE_NAMES.values(), ids=HOSTILE_NAMES.keys())
def test_hostile_file_names_are_refused_naming_the_field_and_nothing_is_written(provider, name):
    pid = provider.new_product("names-1")
    response = provider.api("POST", f"/api/v1/products/{pid}/assets/data/uploads", json={
        "filename": name, "size": 10, "sha256": "0" * 64, "media_type": GEOTIFF})
    assert response.headers["Content-Type"].startswith("application/problem+json")
    if "\x00" in name:  # refused with every request holding a NUL, before any route reads it
        assert response.status_code == 400 and "NUL" in response.json()["detail"], response.text
    else:
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["filename"]
    assert provider.status(pid)["assets"] == []
    assert products(provider.live) == [] and bucket_listing(provider.live.app)["open-multipart"] == []


def test_bad_media_type_and_file_name_are_both_named(provider):
    pid = provider.new_product("names-2")
    response = provider.api("POST", f"/api/v1/products/{pid}/assets/data/uploads", json={
        "filename": "a/b.tif", "size": 10, "sha256": "0" * 64, "media_type": "text/html\r\nX-Evil: 1"})
    assert response.status_code == 422
    assert sorted(e["field"] for e in response.json()["errors"]) == ["filename", "media_type"]
    for unknown in ("application/x-evil", "text/html", "image/svg+xml"):
        response = provider.api("POST", f"/api/v1/products/{pid}/assets/data/uploads", json={
            "filename": "b.tif", "size": 10, "sha256": "0" * 64, "media_type": unknown})
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["media_type"]
        assert "not a product file type SDX accepts" in response.json()["errors"][0]["message"]
    assert provider.status(pid)["assets"] == []


def test_download_names_the_file_per_rfc_6266_and_is_never_html(provider, tmp_path):
    """A legitimate but awkward name (non-ASCII, %, ;, ') comes back exactly in filename*, with a safe
    ASCII fallback; the uploader's own Content-Type (text/html on the PUT) is not what S3 serves."""
    name = "résumé; 100% l'«été».tif"
    path = write_geotiff(tmp_path / "scene.tif")
    (tmp_path / name).write_bytes(path.read_bytes())
    path = tmp_path / name
    pid = provider.new_product("named-1")
    started = provider.start(pid, "data", path)
    assert started.status_code == 201, started.text
    put = requests.put(started.json()["url"], data=path.read_bytes(), headers={"Content-Type": "text/html"},
                       timeout=30)
    assert put.status_code == 200
    assert provider.api("POST", f"/api/v1/uploads/{started.json()['id']}/complete").status_code == 202
    assert provider.status(pid)["status"] == "published"

    answer = download(provider, "named-1", "data")
    assert answer.status_code == 200 and answer.content == path.read_bytes()
    assert answer.headers["Content-Disposition"] == (
        "attachment; filename=\"r_sum__ 100_ l'__t__.tif\"; "
        "filename*=UTF-8''r%C3%A9sum%C3%A9%3B%20100%25%20l%27%C2%AB%C3%A9t%C3%A9%C2%BB.tif")
    assert answer.headers["Content-Type"] == GEOTIFF  # the recorded type, not the text/html of the PUT


def test_a_stored_hostile_name_and_html_type_still_download_as_one_harmless_attachment(provider):
    """Objects stored before names were checked: the header still names one file, and HTML is bytes."""
    store_app = provider.live.app
    hostile = 'report.pdf"; filename*=UTF-8\'\'evil.html'
    with store_app.app_context():
        store = get_store()
        key = f"old/{hostile}"
        page = b"<html><script>alert(document.cookie)</script></html>"
        store.client.put_object(store.products_bucket, key, io.BytesIO(page), len(page), content_type="text/html")
        url = transfers.presigned_get(store, store.products_bucket, key, timedelta(minutes=5))
        svg_url = transfers.presigned_get(store, store.products_bucket, key, timedelta(minutes=5),
                                          filename="x.svg", media_type="image/svg+xml")
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200 and answer.content == page
    assert answer.headers["Content-Type"] == "application/octet-stream"
    assert answer.headers["Content-Disposition"] == (
        "attachment; filename=\"report.pdf__ filename*=UTF-8''evil.html\"; "
        "filename*=UTF-8''report.pdf%22%3B%20filename%2A%3DUTF-8%27%27evil.html")
    assert requests.get(svg_url, timeout=10).headers["Content-Type"] == "application/octet-stream"


# -- the declared size binds the bytes ------------------------------------------------------------------------
def test_a_single_put_larger_than_declared_is_refused_by_s3_and_nothing_is_stored(provider, tmp_path):
    path = tmp_path / "small.tif"
    path.write_bytes(b"0123456789")
    pid = provider.new_product("size-1")
    started = provider.start(pid, "data", path)
    assert started.status_code == 201 and started.json()["multipart"] is False
    url = started.json()["url"]
    assert requests.put(url, data=b"x" * (4 * MIB), timeout=60).status_code == 403  # declared 10 bytes
    assert requests.put(url, data=b"012345678", timeout=30).status_code == 403  # one byte short
    chunked = requests.put(url, data=iter([b"01234", b"56789"]), timeout=30)  # no Content-Length at all
    assert chunked.status_code in (403, 411)
    assert products(provider.live) == []
    refused = provider.api("POST", f"/api/v1/uploads/{started.json()['id']}/complete")
    assert refused.status_code == 409 and "not received" in refused.json()["detail"]
    # A fresh URL for the same upload is bound to the same size.
    fresh = provider.api("POST", f"/api/v1/uploads/{started.json()['id']}/parts", json={"part_numbers": [1]})
    assert requests.put(fresh.json()["url"], data=b"x" * 100, timeout=30).status_code == 403
    assert products(provider.live) == []
    assert requests.put(fresh.json()["url"], data=path.read_bytes(), timeout=30).status_code == 200
    assert products(provider.live) == ["acme-scenes/size-1/data/small.tif"]


def test_a_part_of_another_size_than_agreed_is_refused_by_s3(provider, tmp_path):
    path = write_geotiff(tmp_path / "parts.tif", width=2000, height=2000, noise=True)
    pid = provider.new_product("size-2")
    upload = provider.start(pid, "data", path).json()
    assert upload["multipart"] is True and upload["part_count"] >= 2
    first, last = upload["parts"][0]["url"], upload["parts"][-1]["url"]
    assert requests.put(first, data=b"x" * 1000, timeout=30).status_code == 403
    assert requests.put(first, data=b"x" * (6 * MIB), timeout=60).status_code == 403
    assert requests.put(last, data=b"x" * (5 * MIB), timeout=60).status_code == 403  # the last part is smaller
    state = provider.api("GET", f"/api/v1/uploads/{upload['id']}").json()
    assert state["received_parts"] == [] and state["received_bytes"] == 0
    provider.send(upload, path)
    assert provider.api("POST", f"/api/v1/uploads/{upload['id']}/complete").status_code == 202
    assert provider.status(pid)["status"] == "published"


def test_completion_checks_the_stored_size_of_a_single_put(provider, tmp_path):
    """An object of another size that reached the store some other way is not handed to ingest; the
    upload stays open and a PUT of the declared bytes to a fresh URL replaces it."""
    path = write_geotiff(tmp_path / "stat.tif")
    pid = provider.new_product("size-3")
    upload = provider.start(pid, "data", path).json()
    with provider.live.app.app_context():
        store = get_store()
        store.client.put_object(store.products_bucket, "acme-scenes/size-3/data/stat.tif", io.BytesIO(b"x" * 99), 99)
    refused = provider.api("POST", f"/api/v1/uploads/{upload['id']}/complete")
    assert refused.status_code == 409, refused.text
    assert refused.json()["stored_size"] == 99 and refused.json()["declared_size"] == path.stat().st_size
    assert "99 bytes" in refused.json()["detail"]
    assert provider.status(pid)["assets"][0]["state"] == "uploading"
    assert provider.api("GET", f"/api/v1/uploads/{upload['id']}").json()["state"] == "open"
    fresh = provider.api("POST", f"/api/v1/uploads/{upload['id']}/parts", json={"part_numbers": [1]}).json()
    assert requests.put(fresh["url"], data=path.read_bytes(), timeout=30).status_code == 200
    assert provider.api("POST", f"/api/v1/uploads/{upload['id']}/complete").status_code == 202
    assert provider.status(pid)["status"] == "published"


def test_the_length_is_a_signed_header_of_the_url(s3_server):
    """The signing itself, with a presigner that never talks to S3 (as for SDX_S3_PUBLIC_ENDPOINT)."""
    c = s3_server.app_config()

    def client() -> Minio:
        return Minio(c["S3_ENDPOINT"], access_key=c["S3_ACCESS_KEY"], secret_key=c["S3_SECRET_KEY"], secure=False,
                     region="us-east-1")

    store = ObjectStore(client(), "sdx-length-check", "sdx-length-check-public", client())
    store.ensure_buckets()
    url = transfers.presigned_put(store, "k/ten.bin", 10, timedelta(minutes=5))
    assert "X-Amz-SignedHeaders=content-length%3Bhost" in url
    assert requests.put(url, data=b"x" * 11, timeout=10).status_code == 403
    assert requests.put(url, data=b"x" * 10, timeout=10).status_code == 200
    store.client.remove_object(store.products_bucket, "k/ten.bin")
