"""Issue 10 item 1: an item served with SDX's download URLs can be written back unchanged (PUT, PATCH,
bulk upsert) without losing its files; a download URL of anything else is refused, however spelt.
Uploaded files (SeaweedFS): tests/ingest/test_round_trip_uploads.py."""
from __future__ import annotations

import copy

import pytest
from sqlalchemy import select

from exchange.catalog.models import Item
from exchange.core.db import db

PATH = "/stac/collections/alice/items"
ITEM = {"type": "Feature", "stac_version": "1.0.0", "id": "scene-1",
        "geometry": {"type": "Point", "coordinates": [10.0, 50.0]},
        "properties": {"datetime": "2024-05-01T10:00:00Z"},
        "assets": {"data": {"href": "scene.tif", "roles": ["data"], "title": "Scene"},
                   "meta": {"href": "https://meta.example/scene.xml", "roles": ["metadata"]}}}


def stored_assets(live, item_id: str) -> dict:
    with live.app.app_context():
        assets = db.session.scalar(select(Item.data).where(Item.item_id == item_id))["assets"]
        db.session.remove()
        return assets


def created(live, token, item_id: str = "scene-1") -> dict:
    """The item as a client GETs it after creating it."""
    assert live.api("POST", PATH, token, json=dict(copy.deepcopy(ITEM), id=item_id)).status_code == 201
    served = live.api("GET", f"{PATH}/{item_id}", token).json()
    assert served["assets"]["data"]["href"] == f"{live.url}{PATH}/{item_id}/assets/data/download"
    return served


def test_a_get_then_put_keeps_the_file_still_to_upload(live, alice):
    served = created(live, alice)
    served["properties"]["gsd"] = 3.0
    served["assets"]["data"]["title"] = "Renamed"
    answer = live.api("PUT", f"{PATH}/scene-1", alice, json=served)
    assert answer.status_code == 200, answer.text
    assert answer.json()["assets"]["data"]["href"] == served["assets"]["data"]["href"]
    assets = stored_assets(live, "scene-1")
    assert assets["data"] == {"href": "scene.tif", "roles": ["data"], "title": "Renamed"}
    assert assets["meta"]["href"] == "https://meta.example/scene.xml"
    # The file is still awaited: the product cannot be published without it.
    pid = answer.json()["properties"]["sdx:product_id"]
    refused = live.api("POST", f"/api/v1/products/{pid}/publish", alice)
    assert refused.status_code == 409 and refused.json()["missing"] == ["data: not uploaded"]


def test_a_patch_keeps_the_file_whether_it_sends_the_assets_back_or_not(live, alice):
    served = created(live, alice)
    answer = live.api("PATCH", f"{PATH}/scene-1", alice, json={"properties": {"gsd": 2.0}})
    assert answer.status_code == 200 and answer.json()["properties"]["gsd"] == 2.0
    answer = live.api("PATCH", f"{PATH}/scene-1", alice, json={"assets": served["assets"]})
    assert answer.status_code == 200, answer.text
    assert stored_assets(live, "scene-1")["data"]["href"] == "scene.tif"


def test_a_bulk_upsert_of_served_items_keeps_their_files(live, alice):
    served = [created(live, alice, f"s{i}") for i in range(2)]
    answer = live.api("POST", "/stac/collections/alice/bulk_items", alice,
                      json={"items": {doc["id"]: doc for doc in served}, "method": "upsert"})
    assert answer.status_code == 200 and answer.json() == {"written": 2, "failed": []}
    assert [stored_assets(live, f"s{i}")["data"]["href"] for i in range(2)] == ["scene.tif", "scene.tif"]
    # Inserting is creating: there is nothing stored for the download URL to stand for.
    served[0]["id"] = "copy"
    answer = live.api("POST", "/stac/collections/alice/bulk_items", alice, json={"items": [served[0]]})
    assert answer.status_code == 207
    assert [e["field"] for e in answer.json()["failed"][0]["errors"]] == ["/assets/data/href"]


def foreign_spellings(url: str) -> list[str]:
    """Ways to write the download URL of asset ``data`` of item ``victim`` that reach the same route."""
    host = url.removeprefix("http://")
    route = "/stac/collections/alice/items/victim/assets/data/download"
    return [f"{url}{route}", f"HTTP://{host.upper()}{route}", f"http://user:pw@{host}{route}",
            f"http://127.0.0.1.{route}", f"https://127.0.0.1:1{route}", f"{url}{route}?x=1#y",
            f"{url}/stac/collections/alice/items/scene-1/../victim/assets/data/download",
            f"{url}/stac/collections/alice/items/scene-1/%2E%2e/victim/assets/data/download",
            f"{url}/stac/./collections/alice/items/victim/assets/data/download",
            f"{url}/stac//collections/alice/items/victim/assets/data/download",
            f"{url}/stac/collections/alice/items/%76ictim/assets/data/download",
            f"{url}/stac/collections/alice/items/victim/assets/data%2Fdownload",
            f"{url}/stac/collections/alice/items/victim/assets/data/d%6Fwnload",
            f"http://127.1{route}", f"http://2130706433{route}", f"http://0x7f.0.0.%31{route}",
            f"http://１２７.０.０.１{route}"]


def test_a_download_url_of_another_product_is_refused_however_it_is_spelt(live, alice):
    created(live, alice, "victim")
    served = created(live, alice)
    before = stored_assets(live, "scene-1")
    for href in foreign_spellings(live.url):
        sent = copy.deepcopy(served)
        sent["assets"]["data"]["href"] = href
        for method, path, body in (("PUT", f"{PATH}/scene-1", sent), ("PATCH", f"{PATH}/scene-1",
                                                                        {"assets": {"data": {"href": href}}}),
                                   ("POST", PATH, dict(sent, id="new"))):
            answer = live.api(method, path, alice, json=body)
            assert answer.status_code == 422, (method, href, answer.text)
            assert [e["field"] for e in answer.json()["errors"]] == ["/assets/data/href"]
        bulk = live.api("POST", "/stac/collections/alice/bulk_items", alice, json={"items": [sent], "method": "upsert"})
        assert bulk.status_code == 207 and bulk.json()["written"] == 0, href
    assert stored_assets(live, "scene-1") == before
    assert live.api("GET", f"{PATH}/new", alice).status_code == 404


def test_a_download_url_of_another_key_or_of_nothing_stored_is_refused(live, alice):
    served = created(live, alice)
    own = served["assets"]["data"]["href"]
    moved = copy.deepcopy(served)
    moved["assets"]["extra"] = dict(moved["assets"]["data"])  # this item's data file, under another key
    answer = live.api("PUT", f"{PATH}/scene-1", alice, json=moved)
    assert answer.status_code == 422 and [e["field"] for e in answer.json()["errors"]] == ["/assets/extra/href"]
    answer = live.api("PATCH", f"{PATH}/scene-1", alice,
                      json={"assets": {"extra": {"href": own.replace("/data/", "/extra/")}}})
    assert answer.status_code == 422 and [e["field"] for e in answer.json()["errors"]] == ["/assets/extra/href"]
    answer = live.api("POST", PATH, alice, json=dict(served, id="fresh", assets={"data": {
        "href": own.replace("/scene-1/", "/fresh/"), "roles": ["data"]}}))
    assert answer.status_code == 422 and [e["field"] for e in answer.json()["errors"]] == ["/assets/data/href"]
    assert "extra" not in stored_assets(live, "scene-1")


@pytest.mark.parametrize("host", ["sdx.internal", "SDX.internal."])
def test_the_host_the_request_came_to_is_the_platform_too(live, alice, host):
    """Behind a proxy the public address may not be the one a client used: both are the platform's."""
    created(live, alice, "victim")
    served = created(live, alice)
    port = live.url.rsplit(":", 1)[1]
    served["assets"]["data"]["href"] = f"http://{host}/stac/collections/alice/items/victim/assets/data/download"
    headers = {"Authorization": f"Bearer {alice}", "Host": f"sdx.internal:{port}"}
    answer = live.api("PUT", f"{PATH}/scene-1", json=served, headers=headers)
    assert answer.status_code == 422 and [e["field"] for e in answer.json()["errors"]] == ["/assets/data/href"]
    # Sent to the public address, that host is an outside link like any other.
    answer = live.api("PUT", f"{PATH}/scene-1", alice, json=served)
    assert answer.status_code == 200 and stored_assets(live, "scene-1")["data"]["href"].startswith("http://")
