"""Issue 10 item 1 with real uploads: writing back an item as it was served (PUT, PATCH, bulk upsert),
before and after its file is uploaded, leaves the download serving the object SDX stored."""
from __future__ import annotations

import copy

from sqlalchemy import select

from exchange.catalog.models import Item
from exchange.core.db import db
from tests.ingest.conftest import write_geotiff

ITEMS = "/stac/collections/acme-scenes/items"


def stored_href(live, item_id: str) -> str:
    with live.app.app_context():
        data = db.session.scalar(select(Item.data).where(Item.item_id == item_id))
        db.session.remove()
        return data["assets"]["data"]["href"]


def downloaded(provider, item_id: str) -> bytes:
    answer = provider.api("GET", f"{ITEMS}/{item_id}/assets/data/download", allow_redirects=False)
    assert answer.status_code == 200, answer.text
    return answer.content


def test_a_round_trip_before_and_after_the_upload_keeps_the_file(provider, upload_live, tmp_path):
    path = write_geotiff(tmp_path / "scene.tif")
    pid = provider.new_product("rt-1", assets={"data": {"href": "scene.tif", "roles": ["data"]}})
    answer = provider.api("PUT", f"{ITEMS}/rt-1", json=provider.item("rt-1"))
    assert answer.status_code == 200 and stored_href(upload_live, "rt-1") == "scene.tif"
    assert provider.upload(pid, "data", path).status_code == 202
    assert provider.status(pid)["status"] == "published"
    uploaded = stored_href(upload_live, "rt-1")
    assert uploaded.startswith("s3://")
    served = provider.item("rt-1")
    for method, path_, body in (("PUT", f"{ITEMS}/rt-1", served),
                                ("PATCH", f"{ITEMS}/rt-1", {"properties": {"gsd": 5.0}}),
                                ("PATCH", f"{ITEMS}/rt-1", {"assets": served["assets"]}),
                                ("POST", "/stac/collections/acme-scenes/bulk_items",
                                 {"items": {"rt-1": served}, "method": "upsert"})):
        answer = provider.api(method, path_, json=copy.deepcopy(body))
        assert answer.status_code == 200, (method, answer.text)
        assert stored_href(upload_live, "rt-1") == uploaded
        assert downloaded(provider, "rt-1") == path.read_bytes()
    assert provider.item("rt-1")["properties"]["sdx:status"] == "published"


def test_another_product_may_not_point_at_an_uploaded_file(provider, upload_live, tmp_path):
    path = write_geotiff(tmp_path / "scene.tif")
    pid = provider.new_product("rt-1")
    assert provider.upload(pid, "data", path).status_code == 202
    victim_url = provider.item("rt-1")["assets"]["data"]["href"]
    provider.new_product("rt-2", assets={"data": {"href": "other.tif", "roles": ["data"]}})
    copied = dict(provider.item("rt-2"), assets={"data": {"href": victim_url, "roles": ["data"]}})
    for method, path_, body in (("PUT", f"{ITEMS}/rt-2", copied),
                                ("PATCH", f"{ITEMS}/rt-2", {"assets": copied["assets"]}),
                                ("POST", ITEMS, dict(copied, id="rt-3"))):
        answer = provider.api(method, path_, json=body)
        assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "/assets/data/href"
    answer = provider.api("POST", "/stac/collections/acme-scenes/bulk_items", json={"items": [copied],
                                                                                    "method": "upsert"})
    assert answer.status_code == 207 and answer.json()["written"] == 0
    assert stored_href(upload_live, "rt-2") == "other.tif"
    assert downloaded(provider, "rt-1") == path.read_bytes()
