"""Uploads through real presigned URLs to the real S3 server, and what ingest makes of real GeoTIFFs."""
from __future__ import annotations

import io
import time

import numpy as np
import pytest
import rasterio
import requests
from rasterio.warp import transform_bounds
from shapely.geometry import shape

from tests.conftest import serving
from tests.ingest.conftest import (GEOTIFF, MIB, UPLOAD_SETTINGS, bucket_listing, empty_buckets, make_provider,
                                   sha256, write_geotiff, write_huge_empty_geotiff)


def only_the_product_files(live, *keys: str) -> bool:
    """The products bucket holds exactly these objects and no multipart upload is left open."""
    listing = bucket_listing(live.app)
    return listing[live.app.config["S3_PRODUCTS_BUCKET"]] == sorted(keys) and listing["open-multipart"] == []


def test_small_geotiff_is_verified_described_previewed_and_published(provider, tmp_path):
    path = write_geotiff(tmp_path / "scene.tif", crs="EPSG:32633", origin=(500000, 5000000), res=(10, 10),
                         width=300, height=200, count=3, nodata=0)
    pid = provider.new_product("scene-1")
    started = provider.start(pid, "visual", path)
    assert started.status_code == 201, started.text
    assert started.json()["multipart"] is False and started.json()["url"].startswith("http")
    provider.send(started.json(), path)
    completed = provider.api("POST", f"/api/v1/uploads/{started.json()['id']}/complete")
    assert completed.status_code == 202, completed.text

    status = provider.status(pid)
    assert status["status"] == "published" and status["reasons"] == []
    assert [(a["key"], a["state"]) for a in status["assets"]] == [("visual", "ready")]

    item = provider.item("scene-1")
    asset = item["assets"]["visual"]
    with rasterio.open(path) as src:
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=64)
        assert asset["proj:code"] == "EPSG:32633"
        assert asset["proj:shape"] == [src.height, src.width]
        assert asset["proj:transform"] == pytest.approx(list(src.transform)[:6])
        assert [b["data_type"] for b in asset["raster:bands"]] == list(src.dtypes)
        assert all(b["nodata"] == 0 for b in asset["raster:bands"])
    assert item["bbox"] == pytest.approx([west, south, east, north], abs=1e-6)
    footprint = shape(item["geometry"])
    assert footprint.is_valid and len(footprint.exterior.coords) > 5  # densified, not just four corners
    assert item["properties"]["gsd"] == 10.0
    assert asset["file:size"] == path.stat().st_size and asset["file:checksum"] == "1220" + sha256(path)
    assert asset["sdx:cog"] is False
    assert asset["href"].endswith("/stac/collections/acme-scenes/items/scene-1/assets/visual/download")

    preview = requests.get(item["assets"]["thumbnail"]["href"], timeout=10)
    assert preview.status_code == 200 and preview.headers["Content-Type"] == "image/png"
    with rasterio.open(io.BytesIO(preview.content)) as png:
        assert max(png.width, png.height) <= 512 and png.count == 4  # RGB + transparency for nodata
        alpha = png.read(4)
        assert alpha[0, 0] == 0 and alpha[-1, -1] == 255

    # The owner downloads exactly the bytes uploaded through the data asset's link.
    download = provider.api("GET", "/stac/collections/acme-scenes/items/scene-1/assets/visual/download",
                            allow_redirects=False)
    assert download.status_code == 200 and download.content == path.read_bytes()

    assert bucket_listing(provider.live.app) == {
        provider.live.app.config["S3_PRODUCTS_BUCKET"]: ["acme-scenes/scene-1/visual/scene.tif"],
        provider.live.app.config["S3_PUBLIC_BUCKET"]: ["thumbnails/acme-scenes/scene-1.png"],
        "open-multipart": []}


def test_large_cog_goes_in_parts_and_is_recognised_as_cog(provider, tmp_path):
    path = write_geotiff(tmp_path / "big.tif", crs="EPSG:4326", origin=(10.0, 50.0), res=(0.0001, 0.0001),
                         width=2600, height=2000, driver="COG", noise=True)
    assert path.stat().st_size > 6 * MIB
    pid = provider.new_product("big-1")
    started = provider.start(pid, "data", path)
    upload = started.json()
    assert upload["multipart"] is True and upload["part_size"] == 5 * MIB
    assert [p["part_number"] for p in upload["parts"]] == list(range(1, upload["part_count"] + 1))
    provider.send(upload, path)
    assert provider.api("POST", f"/api/v1/uploads/{upload['id']}/complete").status_code == 202
    item = provider.item("big-1")
    assert item["properties"]["sdx:status"] == "published"
    assert item["assets"]["data"]["sdx:cog"] is True
    assert item["bbox"] == pytest.approx([10.0, 49.8, 10.26, 50.0], abs=1e-6)
    # Geographic pixels: the gsd is the geodesic size of 0.0001° at 49.9°N (about 7 m east-west).
    assert 7.0 < item["properties"]["gsd"] < 7.3


def test_footprint_crossing_the_antimeridian_is_cut_and_searchable(provider, tmp_path):
    path = write_geotiff(tmp_path / "pacific.tif", crs="EPSG:32660", origin=(600000, 6000000), res=(500, 500),
                         width=400, height=300)
    pid = provider.new_product("pacific-1")
    assert provider.upload(pid, "data", path).status_code == 202
    item = provider.item("pacific-1")
    west, south, east, north = item["bbox"]
    assert west > east and west > 178 and east < -178  # STAC's antimeridian bbox
    footprint = shape(item["geometry"])
    assert footprint.geom_type == "MultiPolygon" and footprint.is_valid
    for bbox in ("179.0,53,179.5,54", "-179.0,53,-178.8,54"):  # found from either side
        found = provider.api("GET", f"/stac/search?bbox={bbox}").json()
        assert "pacific-1" in [f["id"] for f in found["features"]]
    assert provider.api("GET", "/stac/search?bbox=170,53,171,54").json()["features"] == []


def test_nodata_and_several_crs_are_read_as_rasterio_reads_them(provider, tmp_path):
    for n, crs, origin, res in ((1, "EPSG:3857", (1113194.9, 6446275.8), (30, 30)),
                                (2, "EPSG:32617", (300000, 4500000), (0.5, 0.5))):
        path = write_geotiff(tmp_path / f"s{n}.tif", crs=crs, origin=origin, res=res, nodata=65535)
        pid = provider.new_product(f"crs-{n}")
        assert provider.upload(pid, "data", path).status_code == 202
        item = provider.item(f"crs-{n}")
        with rasterio.open(path) as src:
            expected = transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=64)
        assert item["bbox"] == pytest.approx(list(expected), abs=1e-6)
        assert item["assets"]["data"]["proj:code"] == crs
        assert item["assets"]["data"]["raster:bands"][0]["nodata"] == 65535
    assert provider.item("crs-2")["properties"]["gsd"] == 0.5


def test_interrupted_multipart_upload_resumes_from_what_the_store_holds(provider, tmp_path):
    path = write_geotiff(tmp_path / "resume.tif", width=2000, height=2000, noise=True)
    pid = provider.new_product("resume-1")
    upload = provider.start(pid, "data", path).json()
    assert upload["part_count"] >= 2
    provider.send(upload, path, skip=set(range(2, upload["part_count"] + 1)))  # interrupted after part 1

    state = provider.api("GET", f"/api/v1/uploads/{upload['id']}").json()
    assert [p["part_number"] for p in state["received_parts"]] == [1]
    assert state["received_bytes"] == 5 * MIB

    early = provider.api("POST", f"/api/v1/uploads/{upload['id']}/complete")
    assert early.status_code == 409
    assert early.json()["missing_parts"] == list(range(2, upload["part_count"] + 1))
    assert provider.status(pid)["assets"][0]["state"] == "uploading"

    missing = list(range(2, upload["part_count"] + 1))
    fresh = provider.api("POST", f"/api/v1/uploads/{upload['id']}/parts", json={"part_numbers": missing}).json()
    provider.send(fresh | {"multipart": True}, path)
    assert provider.api("POST", f"/api/v1/uploads/{upload['id']}/complete").status_code == 202
    assert provider.status(pid)["status"] == "published"
    assert only_the_product_files(provider.live, "acme-scenes/resume-1/data/resume.tif")


def test_completing_twice_is_refused_and_changes_nothing(provider, tmp_path):
    path = write_geotiff(tmp_path / "twice.tif")
    pid = provider.new_product("twice-1")
    started = provider.start(pid, "data", path).json()
    provider.send(started, path)
    assert provider.api("POST", f"/api/v1/uploads/{started['id']}/complete").status_code == 202
    again = provider.api("POST", f"/api/v1/uploads/{started['id']}/complete")
    assert again.status_code == 409 and "already completed" in again.json()["detail"]
    assert again.headers["Content-Type"] == "application/problem+json"
    assert provider.status(pid)["assets"][0]["state"] == "ready"
    assert only_the_product_files(provider.live, "acme-scenes/twice-1/data/twice.tif")


def test_completing_before_any_bytes_arrive_is_refused(provider, tmp_path):
    path = write_geotiff(tmp_path / "none.tif")
    pid = provider.new_product("none-1")
    started = provider.start(pid, "data", path).json()
    response = provider.api("POST", f"/api/v1/uploads/{started['id']}/complete")
    assert response.status_code == 409 and "not received" in response.json()["detail"]


@pytest.mark.parametrize("make_bad, reason", [
    (lambda p: p.write_bytes(b"just some text, not an image\n" * 100), "not image/tiff"),
    (lambda p: p.write_bytes(write_geotiff(p, width=600, height=600, noise=True).read_bytes()[:60_000]),
     "cannot be read"),
    (lambda p: write_huge_empty_geotiff(p, 20_000), "samples this platform accepts"),
], ids=["text-named-tif", "truncated-tiff", "absurd-dimensions"])
def test_files_that_are_not_what_they_claim_are_quarantined(provider, tmp_path, make_bad, reason):
    path = tmp_path / "bad.tif"
    make_bad(path)
    pid = provider.new_product("bad-1")
    assert provider.upload(pid, "data", path).status_code == 202
    status = provider.status(pid)
    assert status["status"] == "draft"
    assert status["assets"][0]["state"] == "quarantined" and reason in status["assets"][0]["reason"]
    assert status["reasons"] == [f"data: {status['assets'][0]['reason']}"]
    assert provider.api("GET", "/stac/collections/acme-scenes/items/bad-1").json()["assets"] == {}
    assert bucket_listing(provider.live.app) == {
        provider.live.app.config["S3_PRODUCTS_BUCKET"]: ["quarantine/acme-scenes/bad-1/data/bad.tif"],
        provider.live.app.config["S3_PUBLIC_BUCKET"]: [], "open-multipart": []}


# A wrong declared size no longer reaches ingest: S3 refuses the PUT (tests/ingest/test_upload_security.py).
@pytest.mark.parametrize("declared", ["sha256"])
def test_declared_size_or_hash_wrong_is_quarantined_with_the_reason(provider, tmp_path, declared):
    path = write_geotiff(tmp_path / "liar.tif")
    wrong = {"size": path.stat().st_size + 1} if declared == "size" else {"sha256": "0" * 64}
    pid = provider.new_product("liar-1")
    assert provider.upload(pid, "data", path, **wrong).status_code == 202
    asset = provider.status(pid)["assets"][0]
    assert asset["state"] == "quarantined"
    assert ("bytes but" in asset["reason"]) if declared == "size" else ("SHA-256" in asset["reason"])
    listing = bucket_listing(provider.live.app)
    assert listing[provider.live.app.config["S3_PRODUCTS_BUCKET"]] == ["quarantine/acme-scenes/liar-1/data/liar.tif"]
    # A corrected upload of the same asset is accepted, publishes the product and drops the refused copy.
    assert provider.upload(pid, "data", path).status_code == 202
    assert provider.status(pid)["status"] == "published"
    assert bucket_listing(provider.live.app)[provider.live.app.config["S3_PRODUCTS_BUCKET"]] == \
        ["acme-scenes/liar-1/data/liar.tif"]


def test_bad_upload_requests_name_every_bad_field_and_write_nothing(provider, tmp_path):
    pid = provider.new_product("fields-1")
    response = provider.api("POST", f"/api/v1/products/{pid}/assets/data/uploads",
                            json={"filename": "../x.tif", "size": 0, "sha256": "XYZ", "roles": []})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"filename", "size", "sha256", "media_type", "roles"}
    zero = tmp_path / "empty.tif"
    zero.write_bytes(b"")
    response = provider.start(pid, "data", zero)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "size"
    assert provider.start(pid, "thumbnail", write_geotiff(tmp_path / "t.tif")).status_code == 422
    valid = {"filename": "x.tif", "size": 10, "sha256": "0" * 64, "media_type": GEOTIFF}
    assert provider.api("POST", "/api/v1/products/999999/assets/data/uploads", json=valid).status_code == 404
    assert provider.status(pid)["assets"] == []
    assert bucket_listing(provider.live.app)["open-multipart"] == []


def test_abort_removes_every_part_and_the_asset(provider, tmp_path):
    path = write_geotiff(tmp_path / "abort.tif", width=2000, height=2000, noise=True)
    pid = provider.new_product("abort-1")
    upload = provider.start(pid, "data", path).json()
    provider.send(upload, path, skip={upload["part_count"]})
    assert bucket_listing(provider.live.app)["open-multipart"] == ["acme-scenes/abort-1/data/abort.tif"]
    assert provider.api("DELETE", f"/api/v1/uploads/{upload['id']}").status_code == 204
    assert provider.api("GET", f"/api/v1/uploads/{upload['id']}").status_code == 404
    assert provider.status(pid)["assets"] == []
    assert all(objects == [] for objects in bucket_listing(provider.live.app).values())


def test_open_upload_is_found_again_instead_of_started_twice(provider, tmp_path):
    path = write_geotiff(tmp_path / "again.tif")
    pid = provider.new_product("again-1")
    first = provider.start(pid, "data", path).json()
    second = provider.start(pid, "data", path)
    assert second.status_code == 409 and second.json()["upload_id"] == first["id"]
    listed = provider.api("GET", f"/api/v1/products/{pid}/uploads?limit=1").json()
    assert [u["id"] for u in listed["items"]] == [first["id"]] and listed["next"] is None


def test_expired_part_url_is_refused_and_a_fresh_one_works(make_app, tmp_path):
    with serving(make_app, **dict(UPLOAD_SETTINGS, UPLOAD_URL_SECONDS=1)) as server:
        empty_buckets(server.app)
        provider = make_provider(server, "late@acme.example", "Late Imaging", "late-scenes")
        path = write_geotiff(tmp_path / "late.tif", width=2000, height=2000, noise=True)
        pid = provider.new_product("late-1")
        upload = provider.start(pid, "data", path).json()
        time.sleep(2.5)
        stale = requests.put(upload["parts"][0]["url"], data=b"x" * 10, timeout=10)
        assert stale.status_code == 403
        server.app.config["UPLOAD_URL_SECONDS"] = 600  # the fresh URLs outlive sending every part, however slow
        fresh = provider.api("POST", f"/api/v1/uploads/{upload['id']}/parts",
                             json={"part_numbers": list(range(1, upload["part_count"] + 1))}).json()
        provider.send(fresh | {"multipart": True}, path)
        assert provider.api("POST", f"/api/v1/uploads/{upload['id']}/complete").status_code == 202
        assert provider.status(pid)["status"] == "published"
        bad = provider.api("POST", f"/api/v1/uploads/{upload['id']}/parts", json={"part_numbers": [1]})
        assert bad.status_code == 409  # completed: no more URLs
        assert only_the_product_files(server, "late-scenes/late-1/data/late.tif")
        empty_buckets(server.app)


def test_store_down_during_completion_is_a_503_and_a_retry_succeeds(provider, make_app, tmp_path):
    from storage.embedded import free_ports

    path = write_geotiff(tmp_path / "outage.tif", width=2000, height=2000, noise=True)
    pid = provider.new_product("outage-1")
    upload = provider.start(pid, "data", path).json()
    provider.send(upload, path)
    (dead_port,) = free_ports(1)
    down = make_app(PUBLIC_BASE_URL=provider.live.url, S3_ENDPOINT=f"127.0.0.1:{dead_port}", S3_TIMEOUT=1,
                    **UPLOAD_SETTINGS)
    started = time.monotonic()
    response = down.test_client().post(f"/api/v1/uploads/{upload['id']}/complete",
                                       headers={"Authorization": f"Bearer {provider.token}"})
    assert response.status_code == 503 and time.monotonic() - started < 10
    assert response.headers["Retry-After"] and "object store" in response.json["detail"]
    assert provider.api("GET", f"/api/v1/uploads/{upload['id']}").json()["state"] == "open"
    assert provider.api("POST", f"/api/v1/uploads/{upload['id']}/complete").status_code == 202
    assert provider.status(pid)["status"] == "published"
    assert only_the_product_files(provider.live, "acme-scenes/outage-1/data/outage.tif")


def test_deleting_a_product_removes_its_files(provider, tmp_path):
    path = write_geotiff(tmp_path / "gone.tif")
    pid = provider.new_product("gone-1")
    assert provider.upload(pid, "data", path).status_code == 202
    assert provider.api("DELETE", "/stac/collections/acme-scenes/items/gone-1").status_code == 204
    assert all(objects == [] for objects in bucket_listing(provider.live.app).values())
    assert provider.api("GET", f"/api/v1/products/{pid}").status_code == 404


def test_preview_shows_the_image_contrast_stretched(provider, tmp_path):
    path = write_geotiff(tmp_path / "ramp.tif", width=1000, height=800, count=1, dtype="uint16")
    pid = provider.new_product("ramp-1")
    assert provider.upload(pid, "data", path).status_code == 202
    png = requests.get(provider.item("ramp-1")["assets"]["thumbnail"]["href"], timeout=10).content
    with rasterio.open(io.BytesIO(png)) as preview:
        assert (preview.width, preview.height) == (512, 410)
        gray = preview.read(1)
    assert gray.min() == 0 and gray.max() == 255 and 60 < np.median(gray) < 200


def test_product_waits_for_every_data_asset_and_hides_its_preview_meanwhile(provider, tmp_path):
    pid = provider.new_product("pair-1", assets={"red": {"href": "red.tif", "roles": ["data"]},
                                                 "nir": {"href": "nir.tif", "roles": ["data"]}})
    assert provider.upload(pid, "red", write_geotiff(tmp_path / "red.tif")).status_code == 202
    assert provider.status(pid)["status"] == "processing"  # nir is declared but not uploaded
    nir = provider.start(pid, "nir", write_geotiff(tmp_path / "nir.tif")).json()
    status = provider.status(pid)
    assert status["status"] == "processing"
    assert {a["key"]: a["state"] for a in status["assets"]} == {"red": "ready", "nir": "uploading"}
    preview = f"{provider.live.url}/stac/collections/acme-scenes/items/pair-1/thumbnail"
    assert requests.get(preview, timeout=10).status_code == 404  # anonymous: the product is not published
    assert provider.api("GET", "/stac/collections/acme-scenes/items/pair-1/thumbnail").status_code == 200
    provider.send(nir, tmp_path / "nir.tif")
    assert provider.api("POST", f"/api/v1/uploads/{nir['id']}/complete").status_code == 202
    assert provider.status(pid)["status"] == "published"
    assert requests.get(preview, timeout=10).status_code == 200


def test_store_down_when_an_upload_starts_is_a_503_and_writes_nothing(provider, make_app, tmp_path):
    from storage.embedded import free_ports

    pid = provider.new_product("nostore-1")
    (dead_port,) = free_ports(1)
    down = make_app(PUBLIC_BASE_URL=provider.live.url, S3_ENDPOINT=f"127.0.0.1:{dead_port}", S3_TIMEOUT=1,
                    **UPLOAD_SETTINGS)
    path = write_geotiff(tmp_path / "big.tif", width=2000, height=2000, noise=True)  # multipart: S3 is asked
    body = {"filename": path.name, "size": path.stat().st_size, "sha256": sha256(path), "media_type": GEOTIFF}
    response = down.test_client().post(f"/api/v1/products/{pid}/assets/data/uploads", json=body,
                                       headers={"Authorization": f"Bearer {provider.token}"})
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert response.content_type == "application/problem+json"
    assert provider.status(pid)["assets"] == []
    assert all(objects == [] for objects in bucket_listing(provider.live.app).values())


def test_ingest_waits_for_a_store_that_is_down_and_finishes_once_it_is_back(provider, make_app, tmp_path):
    import uuid

    from exchange.core.db import db
    from exchange.ingest import pipeline
    from exchange.ingest.models import AssetState, ProductAsset
    from storage.embedded import free_ports
    from storage.errors import StorageUnavailable

    path = write_geotiff(tmp_path / "later.tif")
    pid = provider.new_product("later-1", assets={"data": {"href": "later.tif", "roles": ["data"]}})
    asset_id = None
    with provider.live.app.app_context():
        provider.upload(pid, "data", path)  # ingested at once (no broker): ready
        asset = db.session.scalar(db.select(ProductAsset).where(ProductAsset.item_key == pid))
        asset_id = uuid.UUID(str(asset.id))
        asset.state = AssetState.verifying  # as if the task had been enqueued but not yet run
        db.session.commit()
    (dead_port,) = free_ports(1)
    down = make_app(S3_ENDPOINT=f"127.0.0.1:{dead_port}", S3_TIMEOUT=1, **UPLOAD_SETTINGS)
    with down.app_context():
        with pytest.raises(StorageUnavailable):  # the task retries with back-off on this
            pipeline.ingest_asset(asset_id)
    assert provider.status(pid)["assets"][0]["state"] == "verifying"
    with provider.live.app.app_context():
        assert pipeline.ingest_asset(asset_id) == "ready"
    assert provider.status(pid)["assets"][0]["state"] == "ready"


def test_bad_part_numbers_and_cursors_are_named(provider, tmp_path):
    path = write_geotiff(tmp_path / "parts.tif", width=2000, height=2000, noise=True)
    pid = provider.new_product("parts-1")
    upload = provider.start(pid, "data", path).json()
    beyond = provider.api("POST", f"/api/v1/uploads/{upload['id']}/parts",
                          json={"part_numbers": [1, upload["part_count"] + 1]})
    assert beyond.status_code == 422
    assert beyond.json()["errors"] == [{"field": "part_numbers", "message": f"no part {upload['part_count'] + 1}"}]
    zero = provider.api("POST", f"/api/v1/uploads/{upload['id']}/parts", json={"part_numbers": [0]})
    assert zero.status_code == 422 and zero.json()["errors"][0]["field"].startswith("part_numbers")
    cursor = provider.api("GET", f"/api/v1/products/{pid}/uploads?after=not-a-cursor")
    assert cursor.status_code == 422 and cursor.json()["errors"][0]["field"] == "after"
