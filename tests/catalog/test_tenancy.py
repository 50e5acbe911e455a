"""Catalogue tenancy (issue 8 items 2, 3, 9, 11, 12): hrefs a provider writes are links, never resolved;
status is the platform's; what a caller may not see is 404 on every verb; ids follow a safe pattern."""
from __future__ import annotations

import copy
import json

import pytest

from tests.catalog.conftest import sample_items, token_for

ITEM = {"type": "Feature", "stac_version": "1.0.0", "id": "scene-1",
        "geometry": {"type": "Point", "coordinates": [10.0, 50.0]}, "bbox": [10.0, 50.0, 10.0, 50.0],
        "properties": {"datetime": "2024-05-01T10:00:00Z"},
        "assets": {"data": {"href": "scene.tif", "roles": ["data"]}}}


def item(item_id: str, **assets) -> dict:
    doc = copy.deepcopy(ITEM)
    doc["id"] = item_id
    if assets:
        doc["assets"] = assets
    return doc


def _fields(response) -> set[str]:
    return {e["field"] for e in response.json()["errors"]}


# -- item 2: hrefs ------------------------------------------------------------------------------------
BAD_HREFS = ["s3://sdx-products/other-org/secret/data/x.tif", "/vsis3/sdx-products/other/x.tif",
             "quarantine/other/x.tif", "javascript:alert(document.domain)", "data:text/html,<script>1</script>",
             "file:///etc/passwd", "https://evil.example/a\r\nSet-Cookie: x=1", "../x.tif", "..", "a\nb.tif"]


@pytest.mark.parametrize("href", BAD_HREFS)
def test_an_asset_href_that_is_not_a_web_link_or_a_file_name_is_refused_on_every_write(live, alice, href):
    path = "/stac/collections/alice/items"
    answer = live.api("POST", path, alice, json=item("x1", data={"href": href, "roles": ["thumbnail"]}))
    assert answer.status_code == 422 and "/assets/data/href" in _fields(answer)
    assert live.api("POST", path, alice, json=item("ok")).status_code == 201
    answer = live.api("PUT", f"{path}/ok", alice, json=item("ok", data={"href": href, "roles": ["data"]}))
    assert answer.status_code == 422 and "/assets/data/href" in _fields(answer)
    answer = live.api("PATCH", f"{path}/ok", alice, json={"assets": {"data": {"href": href}}})
    assert answer.status_code == 422 and "/assets/data/href" in _fields(answer)
    bulk = live.api("POST", "/stac/collections/alice/bulk_items", alice, json={"items": {
        "b1": item("b1", data={"href": href, "roles": ["data"]}), "b2": item("b2")}})
    assert bulk.status_code == 207 and bulk.json()["written"] == 1
    assert [f["item"] for f in bulk.json()["failed"]] == ["b1"]
    # Nothing refused was written: the item keeps its file name.
    assert live.api("GET", f"{path}/ok", alice).json()["assets"]["data"]["href"].endswith("/assets/data/download")
    assert live.api("GET", f"{path}/x1", alice).status_code == 404
    assert live.api("GET", f"{path}/b1", alice).status_code == 404


def test_links_and_collection_assets_refuse_script_schemes_and_control_characters(live, alice):
    bad_link = dict(item("l1"), links=[{"rel": "about", "href": "javascript:alert(1)"}])
    answer = live.api("POST", "/stac/collections/alice/items", alice, json=bad_link)
    assert answer.status_code == 422 and "/links/0/href" in _fields(answer)
    answer = live.api("POST", "/stac/collections", alice, json={
        "id": "c2", "assets": {"t": {"href": "https://x.example/t.png\r\nX: y"}},
        "links": [{"rel": "about", "href": "data:text/html,hi"}]})
    assert answer.status_code == 422 and _fields(answer) == {"/assets/t/href", "/links/0/href"}
    assert live.api("GET", "/stac/collections/c2", alice).status_code == 404


def test_an_external_href_is_shown_as_a_link_and_download_never_redirects_to_it(live, alice):
    """The open redirect: a public-role asset with an outside URL made /download send anyone there."""
    doc = item("ext", thumbnail={"href": "https://evil.example/phish", "roles": ["thumbnail"]},
               data={"href": "https://data.example/scene.tif", "roles": ["data"]})
    created = live.api("POST", "/stac/collections/alice/items", alice, json=doc)
    assert created.status_code == 201, created.text
    published = live.api("POST", f"/api/v1/products/{created.json()['properties']['sdx:product_id']}/publish", alice)
    assert published.status_code == 200
    shown = live.api("GET", "/stac/collections/alice/items/ext").json()["assets"]
    assert shown["thumbnail"]["href"] == "https://evil.example/phish"
    assert shown["data"]["href"] == "https://data.example/scene.tif"
    for key in ("thumbnail", "data"):
        for token in (None, alice):
            answer = live.api("GET", f"/stac/collections/alice/items/ext/assets/{key}/download", token,
                              allow_redirects=False)
            assert answer.status_code == 404 and "Location" not in answer.headers


# -- item 3: status ---------------------------------------------------------------------------------------
def test_platform_fields_are_not_writable_and_new_items_are_drafts(live, alice):
    buyer = token_for(live, "buyer@b.example", "Buyer Co", roles=("buyer",), scopes="catalog:read")
    doc = item("p1")
    doc["properties"].update({"sdx:status": "published", "sdx:provider": "someone-else", "sdx:product_id": 1})
    created = live.api("POST", "/stac/collections/alice/items", alice, json=doc)
    assert created.status_code == 201
    props = created.json()["properties"]
    assert props["sdx:status"] == "draft" and props["sdx:provider"] != "someone-else"
    path = "/stac/collections/alice/items/p1"
    assert live.api("PATCH", path, alice, json={"properties": {"sdx:status": "published"}}).json()[
        "properties"]["sdx:status"] == "draft"
    assert live.api("PUT", path, alice, json=doc).json()["properties"]["sdx:status"] == "draft"
    features = [dict(item(f"bulk-{i}"), properties={"datetime": "2024-05-01T10:00:00Z", "sdx:status": "published"})
                for i in range(2)]
    bulk = live.api("POST", "/stac/collections/alice/items", alice,
                    json={"type": "FeatureCollection", "features": features})
    assert bulk.status_code == 201 and bulk.json() == {"created": 2}
    for token in (None, buyer):
        assert live.api("GET", path, token).status_code == 404
        assert live.api("GET", "/stac/collections/alice/items/bulk-0", token).status_code == 404
        assert live.api("POST", "/stac/search", token, json={"collections": ["alice"]}).json()["features"] == []


def test_publish_waits_for_every_file_and_withdraw_hides_again(live, alice):
    bob = token_for(live, "bob@b.example", "Bob Sat")
    pid = live.api("POST", "/stac/collections/alice/items", alice, json=item("w1")).json()["properties"][
        "sdx:product_id"]
    refused = live.api("POST", f"/api/v1/products/{pid}/publish", alice)
    assert refused.status_code == 409 and refused.json()["missing"] == ["data: not uploaded"]
    assert live.api("GET", "/stac/collections/alice/items/w1").status_code == 404
    # Bob cannot tell the hidden product from one that does not exist.
    for action in ("publish", "withdraw"):
        assert live.api("POST", f"/api/v1/products/{pid}/{action}", bob).status_code == 404
        assert live.api("POST", f"/api/v1/products/{pid + 1000}/{action}", bob).status_code == 404
    # Once its data asset is an external link only, nothing is left to upload.
    live.api("PATCH", "/stac/collections/alice/items/w1", alice,
             json={"assets": {"data": {"href": "https://data.example/w1.tif"}}})
    assert live.api("POST", f"/api/v1/products/{pid}/publish", alice).json()["status"] == "published"
    assert live.api("GET", "/stac/collections/alice/items/w1").status_code == 200
    assert live.api("POST", f"/api/v1/products/{pid}/withdraw", bob).status_code == 403  # visible, not his
    withdrawn = live.api("POST", f"/api/v1/products/{pid}/withdraw", alice)
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    assert live.api("GET", "/stac/collections/alice/items/w1").status_code == 404
    assert live.api("GET", "/stac/collections/alice/items/w1", alice).json()["properties"]["sdx:status"] == "withdrawn"


def test_a_bulk_replace_keeps_the_stored_status(live, alice):
    """Replaced rows keep their status (on PostgreSQL through the ON CONFLICT path); new rows are drafts."""
    created = live.api("POST", "/stac/collections/alice/items", alice,
                       json=item("kept", data={"href": "https://x.example/k.tif", "roles": ["data"]}))
    live.api("POST", f"/api/v1/products/{created.json()['properties']['sdx:product_id']}/publish", alice)
    features = [dict(item("kept", data={"href": "https://x.example/k2.tif", "roles": ["data"]}),
                     properties={"datetime": "2024-06-01T10:00:00Z", "sdx:status": "draft"}), item("fresh")]
    answer = live.api("POST", "/stac/collections/alice/bulk_items", alice, json={"items": features, "method": "upsert"})
    assert answer.status_code == 200 and answer.json()["written"] == 2
    kept = live.api("GET", "/stac/collections/alice/items/kept")
    assert kept.status_code == 200 and kept.json()["assets"]["data"]["href"] == "https://x.example/k2.tif"
    assert kept.json()["properties"]["sdx:status"] == "published"
    assert live.api("GET", "/stac/collections/alice/items/fresh").status_code == 404
    assert live.api("GET", "/stac/collections/alice/items/fresh", alice).json()["properties"]["sdx:status"] == "draft"


# -- item 9: 404 for what the caller may not see --------------------------------------------------------
def test_another_provider_gets_the_same_404_for_a_hidden_draft_and_for_nothing(live, alice):
    bob = token_for(live, "bob@b.example", "Bob Sat")
    assert live.api("POST", "/stac/collections/alice/items", alice, json=item("hidden")).status_code == 201
    for item_id in ("hidden", "never-was"):
        path = f"/stac/collections/alice/items/{item_id}"
        for method, body in (("GET", None), ("PUT", item(item_id)), ("PATCH", {"properties": {"gsd": 1}}),
                             ("DELETE", None)):
            assert live.api(method, path, bob, json=body).status_code == 404, (method, item_id)
        assert live.api("GET", f"{path}/thumbnail", bob).status_code == 404
        assert live.api("GET", f"{path}/assets/data/download", bob).status_code == 404
    for collection in ("alice", "no-such"):
        path = f"/stac/collections/{collection}"
        assert live.api("GET", path, bob).status_code == 404
        assert live.api("GET", f"{path}/items", bob).status_code == 404
        assert live.api("GET", f"{path}/queryables", bob).status_code == 404
        assert live.api("PUT", path, bob, json={"id": collection}).status_code == 404
        assert live.api("DELETE", path, bob).status_code == 404
        assert live.api("POST", f"{path}/items", bob, json=item("x")).status_code == 404
    assert live.api("GET", "/stac/collections/alice/items/hidden", alice).status_code == 200


# -- item 12: collections holding only drafts ---------------------------------------------------------------
def test_a_collection_of_drafts_is_listed_only_to_its_owner(live, alice):
    buyer = token_for(live, "buyer@b.example", "Buyer Co", roles=("buyer",), scopes="catalog:read")
    pid = live.api("POST", "/stac/collections/alice/items",
                   alice, json=item("d1", data={"href": "https://x.example/d1.tif", "roles": ["data"]})).json()[
        "properties"]["sdx:product_id"]

    def listed(token) -> list[str]:
        return [c["id"] for c in live.api("GET", "/stac/collections", token).json()["collections"]]

    assert listed(alice) == ["alice"]
    for token in (None, buyer):
        assert listed(token) == []
        assert live.api("GET", "/stac/collections/alice", token).status_code == 404
    assert live.api("POST", f"/api/v1/products/{pid}/publish", alice).status_code == 200
    for token in (None, buyer):
        assert listed(token) == ["alice"]
        assert live.api("GET", "/stac/collections/alice", token).status_code == 200


# -- item 11: ids and bad input ------------------------------------------------------------------------------
BAD_IDS = ["..", ".", ".hidden", "a/b", "a b", "x\n", "é", "a" * 129, "", "-x"]


@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_ids_outside_the_safe_pattern_are_refused(live, alice, bad_id):
    answer = live.api("POST", "/stac/collections", alice, json={"id": bad_id})
    assert answer.status_code == 422 and _fields(answer) == {"/id"}
    answer = live.api("POST", "/stac/collections/alice/items", alice, json=item(bad_id))
    assert answer.status_code == 422 and _fields(answer) == {"/id"}
    bulk = live.api("POST", "/stac/collections/alice/items", alice,
                    json={"type": "FeatureCollection", "features": [item(bad_id)]})
    assert bulk.status_code == 422 and _fields(bulk) == {"/features/0/id"}
    bulk = live.api("POST", "/stac/collections/alice/bulk_items", alice, json={"items": [item(bad_id)]})
    assert bulk.status_code == 207 and bulk.json()["written"] == 0


def test_collection_ids_that_are_the_stores_own_prefixes_are_reserved(live, alice):
    for reserved in ("quarantine", "thumbnails"):
        answer = live.api("POST", "/stac/collections", alice, json={"id": reserved})
        assert answer.status_code == 422 and _fields(answer) == {"/id"}


def test_the_longest_allowed_id_is_accepted(live, alice):
    long_id = "A" + "b._-" * 31 + "xyz"
    assert len(long_id) == 128
    assert live.api("POST", "/stac/collections/alice/items", alice, json=item(long_id)).status_code == 201


@pytest.mark.committed  # NDJSON on PostgreSQL is imported by forked writers
def test_import_reports_bad_ids_per_item_and_the_samples_still_import(app, runner, tmp_path):
    runner.invoke(args=["sdx", "create-org", "--name", "Importer", "--kind", "provider"])
    collection = tmp_path / "collection.json"
    collection.write_text(json.dumps({"type": "Collection", "id": "imp", "description": "m", "extent": {}}))
    assert runner.invoke(args=["sdx", "import-stac", str(collection), "--provider", "Importer"]).exit_code == 0
    good, bad, worse = (copy.deepcopy(i) for i in sample_items()[:3])
    bad["id"], worse["id"] = "../escape", "x\r\ny"
    ndjson = tmp_path / "items.ndjson"
    ndjson.write_text("\n".join(json.dumps(d) for d in (good, bad, worse)) + "\n")
    result = runner.invoke(args=["sdx", "import-stac", str(ndjson), "--collection", "imp"])
    assert result.exit_code == 0, result.output
    assert "1 items written to 'imp', 2 failed" in result.stdout
    assert 'failed ../escape: /id: must be' in result.stderr
    bad_collection = tmp_path / "bad.json"
    bad_collection.write_text(json.dumps({"type": "Collection", "id": "..", "description": "m"}))
    refused = runner.invoke(args=["sdx", "import-stac", str(bad_collection), "--provider", "Importer"])
    assert refused.exit_code != 0 and '/id: must be' in refused.output + refused.stderr


MALFORMED = [{"assets": {"a": {"href": 5}}}, {"assets": {"a": "x"}}, {"assets": []}, {"assets": {"": {"href": "x"}}},
             {"links": [1]}, {"links": [{"href": 5}]}, {"links": [{"href": "http://[bad"}]},
             {"assets": {"a": {"href": "https://[::1"}}}, {"assets": {"a": {"href": "http://"}}},
             {"bbox": ["a", 1, 2, 3]}, {"properties": {"datetime": 5}}, {"properties": []}, {"geometry": "x"},
             {"collection": 5}]


def test_malformed_documents_are_problems_naming_the_field_never_500(live, alice):
    assert live.api("POST", "/stac/collections/alice/items", alice, json=ITEM).status_code == 201
    for body in MALFORMED:
        doc = {**copy.deepcopy(ITEM), **body, "id": "m"}
        for method, path, sent in (("POST", "/stac/collections/alice/items", doc),
                                   ("PUT", "/stac/collections/alice/items/scene-1", {**doc, "id": "scene-1"}),
                                   ("PATCH", "/stac/collections/alice/items/scene-1", body)):
            answer = live.api(method, path, alice, json=sent)
            status = 400 if "collection" in body else 422  # contradicting the URL is a 400, not a bad document
            assert answer.status_code == status and answer.headers["Content-Type"] == "application/problem+json", \
                (method, body, answer.text)
    for odd in ("%2e%2e", "a%0d%0ab", "x" * 300):
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            assert live.api(method, f"/stac/collections/alice/items/{odd}", alice, json={}).status_code in (404, 422)
    assert live.api("GET", "/stac/collections/alice/items/scene-1", alice).json()["assets"] == {
        "data": {"href": live.url + "/stac/collections/alice/items/scene-1/assets/data/download", "roles": ["data"]}}
