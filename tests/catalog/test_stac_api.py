"""The STAC API as standard tools see it, its bad inputs, and who may see and change what."""
from __future__ import annotations

import copy
import json

import pytest
from pystac_client import Client

from tests.catalog.conftest import NAIP, S2, load_samples, sample_items

PROBLEM = "application/problem+json"


# -- standard tools ----------------------------------------------------------------------------------
def test_pystac_client_searches_pages_and_filters(live):
    load_samples(live.app)
    catalog = Client.open(f"{live.url}/stac/")
    assert {c.id for c in catalog.get_collections()} == {NAIP, S2}
    search = catalog.search(collections=[NAIP], bbox=[-88.5, 30.0, -85.0, 32.0], limit=25, max_items=120)
    items = list(search.items())
    assert len(items) == 120 and len({i.id for i in items}) == 120
    assert search.matched() > 120
    filtered = list(catalog.search(collections=[S2], filter="eo:cloud_cover < 5", filter_lang="cql2-text",
                                   max_items=500).items())
    assert filtered and all(i.properties["eo:cloud_cover"] < 5 for i in filtered)
    one = catalog.get_collection(S2).get_item(filtered[0].id)
    assert one.id == filtered[0].id and one.properties["sdx:status"] == "published"
    by_date = list(catalog.search(datetime="2019-01-01/2019-01-31", collections=[S2], max_items=100).items())
    assert by_date and all(i.datetime.year == 2019 and i.datetime.month == 1 for i in by_date)


def test_landing_conformance_and_queryables(client):
    landing = client.get("/stac/").json
    rels = {link["rel"] for link in landing["links"]}
    assert {"self", "root", "conformance", "data", "search", "service-desc", "service-doc"} <= rels
    assert {link.get("method") for link in landing["links"] if link["rel"] == "search"} == {"GET", "POST"}
    assert "https://api.stacspec.org/v1.0.0/item-search#filter" in landing["conformsTo"]
    assert client.get("/stac/conformance").json["conformsTo"] == landing["conformsTo"]
    queryables = client.get("/stac/queryables").json
    assert {"eo:cloud_cover", "gsd", "datetime", "geometry"} <= set(queryables["properties"])


# -- bad inputs -------------------------------------------------------------------------------------
@pytest.mark.parametrize("query, words", [
    ("limit=0", "at least 1"), ("limit=ten", "integer"), ("bbox=1,2,3", "4 numbers"),
    ("bbox=0,10,1,5", "latitudes"), ("bbox=0,0,1,1&intersects=%7B%7D", "not both"),
    ("intersects=%7B%22type%22%3A%22Point%22%7D", "intersects"), ("datetime=yesterday", "datetime"),
    ("datetime=2020-01-02T00:00:00Z/2020-01-01T00:00:00Z", "after it ends"), ("sortby=-colour", "colour"),
    ("filter=colour%20%3D%201", "colour"), ("filter=gsd%20%3D", "filter"), ("filter-lang=sql&filter=gsd%3D1", "sql"),
    ("filter=A_CONTAINS(instruments%2C%20%28%27msi%27%29)", "a_contains"), ("token=garbage", "token"),
    ("query=%7B%22gsd%22%3A%7B%22near%22%3A1%7D%7D", "near"),
])
def test_bad_search_input_is_a_clear_400(client, query, words):
    response = client.get(f"/stac/search?{query}")
    assert response.status_code == 400, response.json
    assert response.mimetype == PROBLEM
    assert words.lower() in response.json["detail"].lower()


def test_limit_above_maximum_is_the_maximum_and_huge_polygons_are_refused(client):
    assert client.get("/stac/search?limit=50000").status_code == 200
    ring = [[i / 10000, (i % 2) / 100] for i in range(10_001)] + [[0, 0]]
    response = client.post("/stac/search", json={"intersects": {"type": "Polygon", "coordinates": [ring]}})
    assert response.status_code == 400 and "10000" in response.json["detail"]


def test_malformed_post_body_is_400(client):
    response = client.post("/stac/search", data="{nope", content_type="application/json")
    assert response.status_code == 400 and response.mimetype == PROBLEM


# -- visibility and ownership -------------------------------------------------------------------------
ITEM = {"type": "Feature", "stac_version": "1.0.0", "id": "draft-1",
        "geometry": {"type": "Point", "coordinates": [10.0, 50.0]}, "bbox": [10.0, 50.0, 10.0, 50.0],
        "properties": {"datetime": "2024-05-01T10:00:00Z", "gsd": 0.5, "sdx:status": "draft"},
        "assets": {"data": {"href": "https://example.com/scene.tif", "roles": ["data"]},
                   "thumbnail": {"href": "https://example.com/thumb.png", "roles": ["thumbnail"]}}}


def provider_token(live, email: str, org: str) -> str:
    live.user(email, roles=("provider",), kind="provider", org=org)
    client_id, _ = live.client(email, "catalog:read catalog:write")
    return live.minted_token(client_id)


def test_provider_drafts_are_invisible_to_others_and_others_cannot_edit(live):
    alice = provider_token(live, "alice@prov.example", "Alice Sat")
    bob = provider_token(live, "bob@prov.example", "Bob Sat")
    created = live.api("POST", "/stac/collections", alice, json={"id": "alice-scenes", "description": "A"})
    assert created.status_code == 201, created.text
    item = live.api("POST", "/stac/collections/alice-scenes/items", alice, json=ITEM)
    assert item.status_code == 201, item.text
    body = item.json()
    assert body["properties"]["sdx:status"] == "draft"
    assert body["assets"]["data"]["href"] == "https://example.com/scene.tif"  # an external link, as it is
    assert body["assets"]["thumbnail"]["href"] == "https://example.com/thumb.png"

    path = "/stac/collections/alice-scenes/items/draft-1"
    live.user("buyer@prov.example")
    buyer_client, _ = live.client("buyer@prov.example", "catalog:read")
    buyer = live.minted_token(buyer_client)
    for token in (None, buyer, bob):
        assert live.api("GET", path, token).status_code == 404
        found = live.api("POST", "/stac/search", token, json={"ids": ["draft-1"]}).json()
        assert found["features"] == [] and found["numberMatched"] == 0
        # A collection holding only drafts is hidden too.
        assert live.api("GET", "/stac/collections/alice-scenes/items", token).status_code == 404
    assert live.api("GET", path, alice).status_code == 200
    assert [f["id"] for f in live.api("POST", "/stac/search", alice, json={"ids": ["draft-1"]}).json()["features"]] \
        == ["draft-1"]

    # Bob may not change Alice's catalogue in any way; what he cannot see is absent to him.
    assert live.api("PUT", path, bob, json=ITEM).status_code == 404
    assert live.api("PATCH", path, bob, json={"properties": {"gsd": 9}}).status_code == 404
    assert live.api("DELETE", path, bob).status_code == 404
    assert live.api("POST", "/stac/collections/alice-scenes/items", bob, json=dict(ITEM, id="x")).status_code == 404
    assert live.api("PUT", "/stac/collections/alice-scenes", bob, json={"id": "alice-scenes"}).status_code == 404
    assert live.api("DELETE", "/stac/collections/alice-scenes", bob).status_code == 404
    # Buyers cannot write at all, anonymous callers must authenticate.
    assert live.api("POST", "/stac/collections", buyer, json={"id": "b"}).status_code == 403
    assert live.api("POST", "/stac/collections", None, json={"id": "b"}).status_code == 401

    # An external link is never followed by SDX: no download route for it, not even for the owner.
    download = f"{path}/assets/data/download"
    assert live.api("GET", download, alice, allow_redirects=False).status_code == 404
    published = live.api("POST", f"/api/v1/products/{body['properties']['sdx:product_id']}/publish", alice)
    assert published.status_code == 200 and published.json()["status"] == "published"
    assert live.api("GET", path, buyer).status_code == 200
    # Once published, Bob sees the item and the collection, so a write is refused as such.
    assert live.api("PUT", path, bob, json=ITEM).status_code == 403
    assert live.api("DELETE", "/stac/collections/alice-scenes", bob).status_code == 403
    for token in (buyer, None):
        assert live.api("GET", download, token, allow_redirects=False).status_code == 404


def test_transactions_validate_and_replace(live):
    alice = provider_token(live, "tx@prov.example", "Tx Sat")
    live.api("POST", "/stac/collections", alice, json={"id": "tx", "description": "T"})
    bad = copy.deepcopy(ITEM)
    bad.update(id="", geometry={"type": "Polygon", "coordinates": "no"})
    bad["properties"] = {"datetime": "not a date"}
    answer = live.api("POST", "/stac/collections/tx/items", alice, json=bad)
    assert answer.status_code == 422
    fields = {e["field"] for e in answer.json()["errors"]}
    assert fields == {"/id", "/geometry/coordinates", "/properties/datetime"}
    elsewhere = live.api("POST", "/stac/collections/tx/items", alice, json=dict(ITEM, collection="other"))
    assert elsewhere.status_code == 400 and [e["field"] for e in elsewhere.json()["errors"]] == ["/collection"]
    created = live.api("POST", "/stac/collections/tx/items", alice, json=ITEM)
    assert created.status_code == 201
    assert created.headers["Location"] == f"{live.url}/stac/collections/tx/items/draft-1"
    assert live.api("GET", created.headers["Location"].removeprefix(live.url), alice).json()["id"] == "draft-1"
    assert live.api("POST", "/stac/collections/tx/items", alice, json=ITEM).status_code == 409
    moved = copy.deepcopy(ITEM)
    moved["geometry"] = {"type": "Point", "coordinates": [20.0, 40.0]}
    moved["bbox"] = [20.0, 40.0, 20.0, 40.0]
    assert live.api("PUT", "/stac/collections/tx/items/draft-1", alice, json=moved).status_code == 200
    found = live.api("POST", "/stac/search", alice, json={"bbox": [19, 39, 21, 41]}).json()
    assert [f["id"] for f in found["features"]] == ["draft-1"]
    assert live.api("POST", "/stac/search", alice, json={"bbox": [9, 49, 11, 51]}).json()["features"] == []
    assert live.api("DELETE", "/stac/collections/tx", alice).status_code == 409  # not empty
    assert live.api("DELETE", "/stac/collections/tx/items/draft-1", alice).status_code == 204
    assert live.api("DELETE", "/stac/collections/tx", alice).status_code == 204
    bulk = live.api("POST", "/stac/collections", alice, json={"id": "bulk", "description": "B"})
    assert bulk.status_code == 201 and bulk.headers["Location"] == f"{live.url}/stac/collections/bulk"
    features = [dict(ITEM, id=f"b{i}") for i in range(3)] + [dict(ITEM, id="broken", geometry=None)]
    answer = live.api("POST", "/stac/collections/bulk/bulk_items", alice, json={"items": features, "method": "upsert"})
    assert answer.status_code == 207
    assert answer.json()["written"] == 3 and answer.json()["failed"][0]["item"] == "broken"


# -- import ------------------------------------------------------------------------------------------
@pytest.mark.committed  # NDJSON on PostgreSQL is imported by forked writers
def test_import_reports_bad_items_and_carries_on(app, runner, tmp_path):
    runner.invoke(args=["sdx", "create-org", "--name", "Importer", "--kind", "provider"])
    collection = tmp_path / "collection.json"
    collection.write_text(json.dumps({"type": "Collection", "id": "mixed", "description": "m", "license": "CC0-1.0",
                                      "extent": {}, "links": []}))
    no_provider = runner.invoke(args=["sdx", "import-stac", str(collection)])
    assert no_provider.exit_code == 2 and "--provider" in no_provider.stderr
    assert runner.invoke(args=["sdx", "import-stac", str(collection), "--provider", "Importer"]).exit_code == 0
    items = sample_items()[:5]
    broken = copy.deepcopy(items[1])
    broken["properties"].pop("datetime")
    lines = [json.dumps(items[0]), json.dumps(broken), "{not json", json.dumps(items[2])]
    ndjson = tmp_path / "items.ndjson"
    ndjson.write_text("\n".join(lines) + "\n")
    result = runner.invoke(args=["sdx", "import-stac", str(ndjson), "--collection", "mixed"])
    assert result.exit_code == 0, result.output
    assert "2 items written to 'mixed', 2 failed" in result.stdout
    assert f"failed {broken['id']}: " in result.stderr and "datetime" in result.stderr
    assert "failed #3: line 3" in result.stderr
    assert "imported into 'mixed'" in result.stdout
    unknown = runner.invoke(args=["sdx", "import-stac", str(ndjson)])
    assert unknown.exit_code == 2 and "--collection" in unknown.stderr


def test_stac_endpoints_are_in_the_openapi_document(client):
    spec = client.get("/api/openapi.json").json
    assert {"get", "post"} <= set(spec["paths"]["/stac/search"])
    assert "post" in spec["paths"]["/stac/collections/{cid}/items"]
    assert set(spec["paths"]["/stac/collections/{cid}/bulk_items"]) - {"parameters"} == {"post"}
    for path, method in (("/stac/search", "post"), ("/stac/collections/{cid}/items", "get")):
        assert "sdx:numberMatchedEstimate" in spec["paths"][path][method]["responses"]["200"]["description"]
    service_desc = next(link for link in client.get("/stac/").json["links"] if link["rel"] == "service-desc")
    assert service_desc["href"].endswith("/api/openapi.json")


def test_stac_operations_document_their_bodies_answers_and_scopes(client):
    """A client generator finds what to send and what comes back, under the media types actually served."""
    spec = client.get("/api/openapi.json").json
    search = spec["paths"]["/stac/search"]
    assert search["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/SearchBody")
    assert "requestBody" not in search["get"]
    assert {"bbox", "datetime", "filter", "filter-lang", "token"} <= {p["name"] for p in search["get"]["parameters"]}
    page = search["get"]["responses"]["200"]["content"]["application/geo+json"]["schema"]
    assert page["$ref"].endswith("/ItemCollection")
    assert "application/problem+json" in search["post"]["responses"]["400"]["content"]
    item = spec["paths"]["/stac/collections/{cid}/items/{iid}"]
    assert item["get"]["responses"]["200"]["content"]["application/geo+json"]["schema"]["$ref"].endswith("/Item")
    assert item["get"]["security"] == [{"oauth2": ["catalog:read"]}, {}]
    assert item["put"]["security"] == [{"oauth2": ["catalog:write"]}]
    assert "application/schema+json" in spec["paths"]["/stac/queryables"]["get"]["responses"]["200"]["content"]
    created = spec["paths"]["/stac/collections"]["post"]["responses"]["201"]
    assert "Location" in created["headers"] and created["content"]["application/json"]["schema"]["$ref"]
