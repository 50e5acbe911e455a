"""`flask --app app sdx upload`: the provider's command-line upload, over HTTP only, against a live server."""
from __future__ import annotations

import json

import pytest
import rasterio
from rasterio.warp import transform_bounds

from tests.ingest.conftest import item_doc, write_geotiff


def _run(provider, *args):
    runner = provider.live.app.test_cli_runner()
    return runner.invoke(args=["sdx", "upload", "--api", provider.live.url, "--collection", provider.collection,
                               *args])


def test_upload_command_creates_the_product_sends_every_file_and_waits_for_ingest(provider, tmp_path):
    big = write_geotiff(tmp_path / "b04.tif", width=2000, height=2000, noise=True)  # multipart
    small = write_geotiff(tmp_path / "b08.tif")
    item = item_doc("cli-1", assets={"red": {"href": "./b04.tif", "roles": ["data"], "title": "Red"}})
    del item["geometry"], item["bbox"], item["properties"]["sdx:footprint_from_data"]  # located by its data
    (tmp_path / "item.json").write_text(json.dumps(item))
    result = _run(provider, "--token", provider.token, "--item", str(tmp_path / "item.json"), str(big), str(small))
    assert result.exit_code == 0, result.output
    assert f"published: {provider.live.url}/stac/collections/acme-scenes/items/cli-1" in result.output
    assets = provider.item("cli-1")["assets"]
    assert set(assets) == {"red", "b08", "thumbnail"}
    assert assets["red"]["title"] == "Red" and assets["red"]["file:size"] == big.stat().st_size
    with rasterio.open(big) as src:  # the first file ingested located the product
        expected = transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=64)
    assert provider.item("cli-1")["bbox"] == pytest.approx(list(expected), abs=1e-6)


def test_upload_command_resumes_an_interrupted_upload(provider, tmp_path):
    big = write_geotiff(tmp_path / "scene.tif", width=2000, height=2000, noise=True)
    (tmp_path / "item.json").write_text(json.dumps(item_doc("cli-2")))
    pid = provider.new_product("cli-2")
    first = provider.start(pid, "scene", big).json()
    provider.send(first, big, skip=set(range(2, first["part_count"] + 1)))  # an earlier run stopped here
    result = _run(provider, "--token", provider.token, "--item", str(tmp_path / "item.json"), str(big))
    assert result.exit_code == 0, result.output
    assert provider.api("GET", f"/api/v1/uploads/{first['id']}").json()["state"] == "completed"
    assert provider.status(pid)["status"] == "published"


def test_upload_command_reports_refusals_clearly(provider, tmp_path):
    fake = tmp_path / "fake.tif"
    fake.write_text("not a GeoTIFF at all")
    (tmp_path / "item.json").write_text(json.dumps(item_doc("cli-3")))
    result = _run(provider, "--token", provider.token, "--item", str(tmp_path / "item.json"), str(fake))
    assert result.exit_code == 1
    assert "refused: fake: the content is not image/tiff" in result.output
    assert "product" in result.output and "is draft" in result.output

    result = _run(provider, "--token", "not-a-token", "--item", str(tmp_path / "item.json"), str(fake))
    assert result.exit_code == 1 and "HTTP 401" in result.output

    (tmp_path / "broken.json").write_text("{")
    result = _run(provider, "--token", provider.token, "--item", str(tmp_path / "broken.json"), str(fake))
    assert result.exit_code == 2 and "not JSON" in result.output


def test_upload_client_replaces_expired_part_urls(make_app, tmp_path):
    import time

    from exchange.ingest.client import UploadClient
    from tests.conftest import serving
    from tests.ingest.conftest import UPLOAD_SETTINGS, empty_buckets, make_provider

    with serving(make_app, **dict(UPLOAD_SETTINGS, UPLOAD_URL_SECONDS=2)) as server:
        empty_buckets(server.app)
        provider = make_provider(server, "slow@acme.example", "Slow Imaging", "slow-scenes")
        path = write_geotiff(tmp_path / "slow.tif", width=2000, height=2000, noise=True)
        pid = provider.new_product("slow-1")
        upload = provider.start(pid, "data", path).json()
        time.sleep(3)  # every URL in the answer has expired
        UploadClient(server.url, provider.token)._send_parts(upload, path, None)
        assert provider.api("POST", f"/api/v1/uploads/{upload['id']}/complete").status_code == 202
        assert provider.status(pid)["status"] == "published"
        empty_buckets(server.app)
