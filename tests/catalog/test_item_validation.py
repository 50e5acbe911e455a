"""STAC item validation as providers meet it: every bad field named by a JSON pointer, nothing
written on refusal, invalid footprints repaired only on request, bboxes computed when absent."""
from __future__ import annotations

import copy
import json
import math

import pytest
from shapely.geometry import shape

from exchange.catalog.models import Item
from exchange.catalog.stac import full_document
from exchange.core.db import db
from tests.catalog.conftest import NAIP, load_samples
from tests.catalog.test_stac_api import provider_token

PROBLEM = "application/problem+json"
QUERYABLES = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
SQUARE = {"type": "Polygon", "coordinates": [[[10, 50], [11, 50], [11, 51], [10, 51], [10, 50]]]}
BOW_TIE = {"type": "Polygon", "coordinates": [[[10, 50], [11, 51], [11, 50], [10, 51], [10, 50]]]}


def item(item_id: str = "scene-1", **changes) -> dict:
    doc = {"type": "Feature", "stac_version": "1.0.0", "id": item_id,
           "stac_extensions": ["https://stac-extensions.github.io/eo/v1.1.0/schema.json"],
           "geometry": copy.deepcopy(SQUARE), "bbox": [10, 50, 11, 51],
           "properties": {"datetime": "2024-05-01T10:00:00Z", "gsd": 0.5, "eo:cloud_cover": 12.5,
                          "platform": "sat-1", "instruments": ["cam"]},
           "links": [], "assets": {"data": {"href": "https://example.com/scene.tif", "roles": ["data"]}}}
    props = changes.pop("properties", {})
    doc.update(changes)
    doc["properties"].update(props)
    return doc


def circle(vertices: int) -> dict:
    ring = [[round(20 + math.cos(2 * math.pi * i / vertices), 6), round(40 + math.sin(2 * math.pi * i / vertices), 6)]
            for i in range(vertices)]
    return {"type": "Polygon", "coordinates": [ring + [ring[0]]]}


#: (what is wrong, the item, the pointers the 422 must name)
BAD = [
    ("longitude 500", item(geometry={"type": "Point", "coordinates": [500, 50]}, bbox=None),
     ["/geometry/coordinates"]),
    ("latitude -91 in a ring", item(geometry={"type": "Polygon", "coordinates": [
        [[10, 50], [11, 50], [11, -91], [10, 50]]]}), ["/geometry/coordinates/0/2"]),
    ("self-intersecting polygon", item(geometry=BOW_TIE), ["/geometry"]),
    ("ring not closed", item(geometry={"type": "Polygon", "coordinates": [[[10, 50], [11, 50], [11, 51], [10, 51]]]}),
     ["/geometry/coordinates/0"]),
    ("200,000 vertices", item(geometry=circle(200_000), bbox=None), ["/geometry/coordinates"]),
    ('gsd "ten"', item(properties={"gsd": "ten"}), ["/properties/gsd"]),
    ("gsd 0", item(properties={"gsd": 0}), ["/properties/gsd"]),
    ("gsd true", item(properties={"gsd": True}), ["/properties/gsd"]),
    ("cloud cover 500", item(properties={"eo:cloud_cover": 500}), ["/properties/eo:cloud_cover"]),
    ("off-nadir 120", item(properties={"view:off_nadir": 120}), ["/properties/view:off_nadir"]),
    ("sun elevation -100", item(properties={"view:sun_elevation": -100}), ["/properties/view:sun_elevation"]),
    ("proj:code a number", item(properties={"proj:code": 32633}), ["/properties/proj:code"]),
    ("platform a number", item(properties={"platform": 7}), ["/properties/platform"]),
    ("instruments a string", item(properties={"instruments": "cam"}), ["/properties/instruments"]),
    ("bbox missing the geometry", item(bbox=[10, 50, 10.5, 51]), ["/bbox"]),
    ("bbox latitudes out of range", item(bbox=[10, -100, 11, 51]), ["/bbox"]),
    ("no datetime", item(properties={"datetime": None}), ["/properties/datetime"]),
    ("start without end", item(properties={"datetime": None, "start_datetime": "2024-05-01T00:00:00Z"}),
     ["/properties/end_datetime"]),
    ("link not an object", item(links=["https://example.com"]), ["/links/0"]),
    ("asset without href", item(assets={"data": {"roles": ["data"]}}), ["/assets/data/href"]),
]


def test_each_bad_field_is_refused_with_its_pointer_and_nothing_is_written(live):
    token = provider_token(live, "v@prov.example", "Valid Sat")
    assert live.api("POST", "/stac/collections", token, json={"id": "v", "description": "V"}).status_code == 201
    for what, doc, pointers in BAD:
        answer = live.api("POST", "/stac/collections/v/items", token, json=doc)
        assert answer.status_code == 422, (what, answer.text[:300])
        assert answer.headers["Content-Type"] == PROBLEM
        assert [e["field"] for e in answer.json()["errors"]] == pointers, (what, answer.json()["errors"])
    assert live.api("GET", "/stac/collections/v/items", token).json()["features"] == []

    assert live.api("POST", "/stac/collections/v/items", token, json=item()).status_code == 201
    for what, doc, pointers in BAD[:3]:
        replaced = live.api("PUT", "/stac/collections/v/items/scene-1", token, json=doc)
        assert replaced.status_code == 422, what
    patched = live.api("PATCH", "/stac/collections/v/items/scene-1", token, json={"properties": {"gsd": "ten"}})
    assert patched.status_code == 422 and [e["field"] for e in patched.json()["errors"]] == ["/properties/gsd"]
    kept = live.api("GET", "/stac/collections/v/items/scene-1", token).json()
    assert kept["geometry"] == SQUARE and kept["properties"]["gsd"] == 0.5


def test_every_error_of_an_item_is_reported_not_just_the_first(live):
    token = provider_token(live, "all@prov.example", "All Sat")
    live.api("POST", "/stac/collections", token, json={"id": "all", "description": "A"})
    doc = item(geometry={"type": "Polygon", "coordinates": [[[10, 50], [500, 50], [11, 95], [10, 50]]]},
               properties={"gsd": "ten", "eo:cloud_cover": 500, "datetime": "yesterday"}, type="feature")
    answer = live.api("POST", "/stac/collections/all/items", token, json=doc)
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {"field": "/type", "message": 'must be "Feature"'},
        {"field": "/properties/gsd", "message": "must be a number, not a string ('ten')"},
        {"field": "/properties/eo:cloud_cover", "message": "must be between 0 and 100 (got 500)"},
        {"field": "/geometry/coordinates/0/1", "message": "[500, 50] is out of range: longitude must be within "
                                                          "-180..180 and latitude within -90..90 (WGS84 degrees)"},
        {"field": "/geometry/coordinates/0/2", "message": "[11, 95] is out of range: longitude must be within "
                                                          "-180..180 and latitude within -90..90 (WGS84 degrees)"},
        {"field": "/properties/datetime",
         "message": "must be an RFC 3339 timestamp: 'yesterday' is not an RFC 3339 date-time such as "
                    "2020-01-01T00:00:00Z or 2020-01-01T01:00:00.5+01:00"},
    ]


def test_invalid_polygon_is_repaired_only_when_asked(live):
    token = provider_token(live, "fix@prov.example", "Fix Sat")
    live.api("POST", "/stac/collections", token, json={"id": "fix", "description": "F"})
    refused = live.api("POST", "/stac/collections/fix/items", token, json=item(geometry=BOW_TIE))
    assert refused.status_code == 422
    assert "Self-intersection" in refused.json()["errors"][0]["message"]
    assert "?repair=true" in refused.json()["errors"][0]["message"]
    unclear = live.api("POST", "/stac/collections/fix/items?repair=maybe", token, json=item(geometry=BOW_TIE))
    assert unclear.status_code == 422 and unclear.json()["errors"][0]["field"] == "repair"

    repaired = live.api("POST", "/stac/collections/fix/items?repair=true", token, json=item(geometry=BOW_TIE))
    assert repaired.status_code == 201, repaired.text
    served = live.api("GET", "/stac/collections/fix/items/scene-1", token).json()
    footprint = shape(served["geometry"])
    assert served["geometry"]["type"] == "MultiPolygon" and footprint.is_valid
    assert footprint.area == pytest.approx(0.5)
    found = live.api("POST", "/stac/search", token, json={"intersects": {"type": "Point", "coordinates": [10.1, 50.5]}})
    assert [f["id"] for f in found.json()["features"]] == ["scene-1"]  # the repaired footprint is the indexed one


def test_an_item_without_bbox_is_served_with_one(live):
    token = provider_token(live, "box@prov.example", "Box Sat")
    live.api("POST", "/stac/collections", token, json={"id": "box", "description": "B"})
    created = live.api("POST", "/stac/collections/box/items", token, json=item(bbox=None))
    assert created.status_code == 201 and created.json()["bbox"] == [10, 50, 11, 51]
    assert live.api("GET", "/stac/collections/box/items/scene-1", token).json()["bbox"] == [10, 50, 11, 51]
    searched = live.api("GET", "/stac/search", token, params={"collections": "box"}).json()["features"]
    assert [f["bbox"] for f in searched] == [[10, 50, 11, 51]]
    with live.app.app_context():  # an item stored before bboxes were computed
        row = db.session.query(Item).one()
        row.data = {k: v for k, v in row.data.items() if k != "bbox"}
        db.session.commit()
    assert live.api("GET", "/stac/collections/box/items/scene-1", token).json()["bbox"] == [10, 50, 11, 51]


def test_stored_documents_leave_out_what_the_row_restates_and_are_served_whole(live):
    token = provider_token(live, "slim@prov.example", "Slim Sat")
    live.api("POST", "/stac/collections", token, json={"id": "slim", "description": "S"})
    cube = {"type": "Polygon", "coordinates": [[[10, 50, 5], [11, 50, 5], [11, 51, 6], [10, 51, 6], [10, 50, 5]]]}
    east, west = [[[175, 10], [180, 10], [180, 11], [175, 11], [175, 10]]], [[[-180, 10], [-175, 10], [-175, 11],
                                                                              [-180, 11], [-180, 10]]]
    across = {"type": "MultiPolygon", "coordinates": [east, west]}
    sent = {"flat": item("flat"), "cube": item("cube", geometry=cube, bbox=[10, 50, 5, 11, 51, 6]),
            "across": item("across", geometry=across, bbox=[175, 10, -175, 11], stac_version="1.1.0")}
    for doc in sent.values():
        assert live.api("POST", "/stac/collections/slim/items", token, json=doc).status_code == 201
    with live.app.app_context():
        stored = {row.item_id: row.data for row in db.session.query(Item)}
    assert not {"type", "id", "collection", "geometry", "bbox", "stac_version", "links"} & stored["flat"].keys()
    assert stored["cube"]["geometry"] == cube and stored["cube"]["bbox"] == [10, 50, 5, 11, 51, 6]
    assert stored["across"]["bbox"] == [175, 10, -175, 11] and stored["across"]["stac_version"] == "1.1.0"
    for item_id, doc in sent.items():
        served = live.api("GET", f"/stac/collections/slim/items/{item_id}", token).json()
        assert {k: served[k] for k in ("type", "id", "collection", "stac_version", "geometry", "bbox")} == \
            {"type": "Feature", "id": item_id, "collection": "slim", "stac_version": doc["stac_version"],
             "geometry": doc["geometry"], "bbox": doc["bbox"]}
        assert served["properties"]["eo:cloud_cover"] == 12.5 and served["assets"]["data"]["href"] == \
            "https://example.com/scene.tif"
    patched = live.api("PATCH", "/stac/collections/slim/items/flat", token, json={"properties": {"gsd": 2}})
    assert patched.status_code == 200, patched.text
    again = live.api("GET", "/stac/collections/slim/items/flat", token).json()
    assert again["geometry"] == SQUARE and again["bbox"] == [10, 50, 11, 51] and again["properties"]["gsd"] == 2


def test_bulk_post_reports_each_bad_item_with_pointers(live):
    token = provider_token(live, "bulk@prov.example", "Bulk Sat")
    live.api("POST", "/stac/collections", token, json={"id": "bulk", "description": "B"})
    features = [item("good"), item("cloudy", properties={"eo:cloud_cover": 500}), item("bow", geometry=BOW_TIE)]
    answer = live.api("POST", "/stac/collections/bulk/bulk_items", token, json={"items": features})
    assert answer.status_code == 207
    failed = {f["item"]: [e["field"] for e in f["errors"]] for f in answer.json()["failed"]}
    assert failed == {"cloudy": ["/properties/eo:cloud_cover"], "bow": ["/geometry"]}
    again = live.api("POST", "/stac/collections/bulk/bulk_items?repair=true", token, json={"items": [features[2]]})
    assert again.status_code == 200 and again.json() == {"written": 1, "failed": []}
    # A FeatureCollection is all or nothing: every error of every item, with the item's position.
    answer = live.api("POST", "/stac/collections/bulk/items", token,
                      json={"type": "FeatureCollection", "features": [item("other"), *features[1:]]})
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["/features/1/properties/eo:cloud_cover",
                                                            "/features/2/geometry"]
    assert live.api("GET", "/stac/collections/bulk/items/other", token).status_code == 404


@pytest.mark.committed  # NDJSON on PostgreSQL is imported by forked writers
def test_importer_reports_pointers_and_repairs_on_request(app, runner, tmp_path):
    runner.invoke(args=["sdx", "create-org", "--name", "Importer", "--kind", "provider"])
    collection = tmp_path / "collection.json"
    collection.write_text(json.dumps({"type": "Collection", "id": "imp", "description": "i", "extent": {},
                                      "links": []}))
    assert runner.invoke(args=["sdx", "import-stac", str(collection), "--provider", "Importer"]).exit_code == 0
    ndjson = tmp_path / "items.ndjson"
    ndjson.write_text("\n".join(json.dumps(doc) for doc in (
        item("good", bbox=None), item("far", geometry={"type": "Point", "coordinates": [500, 50]}, bbox=None),
        item("bow", geometry=BOW_TIE, properties={"gsd": "ten"}))) + "\n")
    result = runner.invoke(args=["sdx", "import-stac", str(ndjson), "--collection", "imp"])
    assert "1 items written to 'imp', 2 failed" in result.stdout
    assert "failed far: /geometry/coordinates: [500, 50] is out of range" in result.stderr
    assert "failed bow: /properties/gsd: must be a number, not a string ('ten'); /geometry: is not a valid " \
           "geometry: Self-intersection" in result.stderr
    with app.app_context():
        assert full_document(db.session.query(Item).one())["bbox"] == [10, 50, 11, 51]
    bow = tmp_path / "bow.ndjson"
    bow.write_text(json.dumps(item("bow", geometry=BOW_TIE)) + "\n")
    repaired = runner.invoke(args=["sdx", "import-stac", str(bow), "--collection", "imp", "--repair"])
    assert "1 items written to 'imp', 0 failed" in repaired.stdout
    with app.app_context():
        stored = full_document(db.session.query(Item).filter_by(item_id="bow").one())
        assert stored["geometry"]["type"] == "MultiPolygon" and shape(stored["geometry"]).is_valid


def test_vertex_cap_is_a_setting(make_app, tmp_path):
    app = make_app(STAC_MAX_VERTICES=4)
    runner = app.test_cli_runner()
    runner.invoke(args=["sdx", "create-org", "--name", "Cap", "--kind", "provider"])
    collection = tmp_path / "collection.json"
    collection.write_text(json.dumps({"type": "Collection", "id": "cap", "description": "c"}))
    runner.invoke(args=["sdx", "import-stac", str(collection), "--provider", "Cap"])
    items = tmp_path / "items.ndjson"
    items.write_text(json.dumps(item("square")) + "\n")
    result = runner.invoke(args=["sdx", "import-stac", str(items), "--collection", "cap"])
    assert "failed square: /geometry/coordinates: has 5 positions, more than 4" in result.stderr


def test_real_samples_pass_and_naip_lists_one_queryables_link(client, app):
    load_samples(app)  # asserts that every Sentinel-2 and NAIP item imports
    naip = client.get(f"/stac/collections/{NAIP}").json
    queryables = [link for link in naip["links"] if link["rel"] == QUERYABLES]
    ours = f"{app.config['PUBLIC_BASE_URL']}/stac/collections/{NAIP}/queryables"
    assert [link["href"] for link in queryables] == [ours]
    listed = next(c for c in client.get("/stac/collections").json["collections"] if c["id"] == NAIP)
    assert [link for link in listed["links"] if link["rel"] == QUERYABLES] == queryables


def test_collection_errors_name_their_fields(live):
    token = provider_token(live, "col@prov.example", "Col Sat")
    bad = {"id": "col", "description": 5, "extent": {"spatial": {"bbox": [[500, 0, 501, 1]]},
                                                       "temporal": {"interval": [["2020-01-01T00:00:00Z"]]}}}
    answer = live.api("POST", "/stac/collections", token, json=bad)
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["/description", "/extent/spatial/bbox/0",
                                                             "/extent/temporal/interval/0"]
    assert live.api("GET", "/stac/collections/col", token).status_code == 404
    assert live.api("POST", "/stac/collections", token, json={"id": "col", "description": "C"}).status_code == 201
    elsewhere = live.api("POST", "/stac/collections/col/items", token, json=item(collection="other"))
    assert elsewhere.status_code == 400 and [e["field"] for e in elsewhere.json()["errors"]] == ["/collection"]
