"""Issue 8 items 2 and 3 with real uploads: only the files SDX stored for a product are ever presigned,
and a product is published only when every data file was uploaded and verified."""
from __future__ import annotations

from sqlalchemy import select

from exchange.catalog.models import Item
from exchange.core.db import db
from tests.ingest.conftest import make_provider, write_geotiff


def _victim_file(provider, tmp_path) -> tuple[int, str]:
    """A product of the victim with a verified data file; (product id, its object key)."""
    path = write_geotiff(tmp_path / "secret.tif")
    pid = provider.new_product("secret-1")
    assert provider.upload(pid, "data", path).status_code == 202
    assert provider.status(pid)["status"] == "published"
    return pid, f"acme-scenes/secret-1/data/{path.name}"


def test_an_href_naming_another_organisations_object_is_never_presigned(provider, upload_live, tmp_path):
    _, key = _victim_file(provider, tmp_path)
    products, public = upload_live.app.config["S3_PRODUCTS_BUCKET"], upload_live.app.config["S3_PUBLIC_BUCKET"]
    rival = make_provider(upload_live, "thief@rival.example", "Rival", "rival-scenes")
    for href in (f"s3://{products}/{key}", f"s3://{products}/quarantine/{key}", f"s3://{public}/thumbnails/x.png",
                 f"/vsis3/{products}/{key}"):
        doc = {"type": "Feature", "id": "loot", "geometry": {"type": "Point", "coordinates": [0, 0]},
               "properties": {"datetime": "2026-01-01T00:00:00Z"},
               "assets": {"loot": {"href": href, "roles": ["thumbnail"]}}}
        answer = rival.api("POST", "/stac/collections/rival-scenes/items", json=doc)
        assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "/assets/loot/href"

    # An item stored before the fix with such an href: the download route still serves nothing.
    rival.new_product("legacy")
    with upload_live.app.app_context():
        item = db.session.scalar(select(Item).where(Item.item_id == "legacy"))
        item.data = dict(item.data, assets={"loot": {"href": f"s3://{products}/{key}", "roles": ["thumbnail"]}})
        db.session.commit()
    for token in ("default", None):
        answer = rival.api("GET", "/stac/collections/rival-scenes/items/legacy/assets/loot/download", token=token,
                           allow_redirects=False)
        assert answer.status_code == 404 and "Location" not in answer.headers


def test_the_owner_downloads_the_file_sdx_stored_and_nothing_else(provider, tmp_path):
    _, _ = _victim_file(provider, tmp_path)
    path = "/stac/collections/acme-scenes/items/secret-1"
    # Re-pointing the asset's href changes nothing: the platform keeps the record of where the bytes are.
    replaced = provider.api("PATCH", path, json={"assets": {"data": {"href": "https://evil.example/x.tif"}}})
    assert replaced.status_code == 200
    assert replaced.json()["assets"]["data"]["href"].endswith(f"{path}/assets/data/download")
    download = provider.api("GET", f"{path}/assets/data/download", allow_redirects=False)
    assert download.status_code == 200  # streamed by the gateway, metered
    assert download.content == (tmp_path / "secret.tif").read_bytes()
    # A buyer or anonymous caller sees the product but may not fetch its data yet.
    refused = provider.api("GET", f"{path}/assets/data/download", token=None, allow_redirects=False)
    assert refused.status_code == 401
    assert refused.json()["rule"] == "authentication"  # the refusal says which rule decided


def test_a_product_whose_file_was_quarantined_cannot_be_published(provider, tmp_path):
    fake = tmp_path / "fake.tif"
    fake.write_bytes(b"not a GeoTIFF at all")
    pid = provider.new_product("bad-1")
    assert provider.upload(pid, "data", fake).status_code == 202
    assert provider.status(pid)["status"] == "draft"
    path = "/stac/collections/acme-scenes/items/bad-1"
    # The attack: set the status by hand. It is not a writable field.
    patched = provider.api("PATCH", path, json={"properties": {"sdx:status": "published"}})
    assert patched.status_code == 200 and patched.json()["properties"]["sdx:status"] == "draft"
    refused = provider.api("POST", f"/api/v1/products/{pid}/publish")
    assert refused.status_code == 409 and refused.json()["missing"][0].startswith("data: quarantined")
    assert provider.api("GET", path, token=None).status_code == 404
    # Nor is a quarantined file downloadable by its owner.
    answer = provider.api("GET", f"{path}/assets/data/download", allow_redirects=False)
    assert answer.status_code == 409 and "Location" not in answer.headers


def test_a_bulk_upload_of_items_whose_files_never_came_publishes_nothing(provider):
    features = [{"type": "Feature", "id": f"bulk-{i}", "geometry": {"type": "Point", "coordinates": [0, 0]},
                 "properties": {"datetime": "2026-01-01T00:00:00Z", "sdx:status": "published"},
                 "assets": {"data": {"href": f"scene-{i}.tif", "roles": ["data"]}}} for i in range(3)]
    answer = provider.api("POST", "/stac/collections/acme-scenes/items",
                          json={"type": "FeatureCollection", "features": features})
    assert answer.status_code == 201 and answer.json() == {"created": 3}
    for i in range(3):
        assert provider.api("GET", f"/stac/collections/acme-scenes/items/bulk-{i}", token=None).status_code == 404
        assert provider.item(f"bulk-{i}")["properties"]["sdx:status"] == "draft"


def test_an_upload_cannot_be_started_on_a_dot_dot_id(provider):
    """The id `..` used to be accepted, then its upload answered 500 and could neither finish nor abort."""
    answer = provider.api("POST", "/stac/collections/acme-scenes/items", json={
        "type": "Feature", "id": "..", "geometry": {"type": "Point", "coordinates": [0, 0]},
        "properties": {"datetime": "2026-01-01T00:00:00Z"}})
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "/id"


def test_an_uploaded_asset_not_yet_in_the_item_gets_its_href_checked(provider, tmp_path):
    path = write_geotiff(tmp_path / "late.tif")
    pid = provider.new_product("late-1")
    assert provider.start(pid, "extra", path).status_code == 201  # an asset row, not yet in the item
    answer = provider.api("PATCH", "/stac/collections/acme-scenes/items/late-1",
                          json={"assets": {"extra": {"href": "javascript:alert(1)", "roles": ["data"]}}})
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "/assets/extra/href"
