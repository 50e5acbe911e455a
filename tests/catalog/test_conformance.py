"""STAC API conformance (issue 10, items 4, 5 and 9): strict datetimes, POST bbox, page links, PUT/POST
items contradicting their URL, bare 204s, the OpenAPI document's media type, coordinates in range."""
from __future__ import annotations

import copy
import json
from urllib.parse import quote

import pytest

from exchange.catalog.stac import parse_rfc3339
from tests.catalog.test_stac_api import ITEM, PROBLEM, provider_token

T = "2020-01-01T00:00:50"
BAD_DATETIMES = ["../..", "/", "../", "/..", "", f"{T},52Z", f"{T}+0100", f"{T}.Z", T, "2020-01-01",
                 f"2020-01-01/{T}Z", f"{T}Z/2020-01-02", f"{T}Z/2020-01-02T00:00:00", f" {T}Z", "2020-02-30T00:00:00Z",
                 f"{T}Z/{T}Z/{T}Z", "２０２０-01-01T00:00:00Z"]
GOOD_DATETIMES = [f"{T}Z", f"{T}z", f"2020-01-01t00:00:50.123Z", f"{T}+01:00", f"{T}.5-03:30", f"{T}Z/..",
                  f"../{T}Z", f"{T}Z/", f"/{T}Z", f"{T}Z/2020-01-02T00:00:00Z"]


@pytest.mark.parametrize("value", [v for v in BAD_DATETIMES if v])  # "" on GET is "no datetime"
def test_a_datetime_that_is_not_strict_rfc3339_or_is_open_at_both_ends_is_400_on_get(client, value):
    answer = client.get(f"/stac/search?datetime={quote(value)}")
    assert answer.status_code == 400 and answer.mimetype == PROBLEM, (value, answer.json)
    assert "datetime" in answer.json["detail"]


@pytest.mark.parametrize("value", [v for v in BAD_DATETIMES if v])
def test_a_datetime_that_is_not_strict_rfc3339_or_is_open_at_both_ends_is_400_on_post(client, value):
    answer = client.post("/stac/search", json={"datetime": value})
    assert answer.status_code == 400 and answer.mimetype == PROBLEM, (value, answer.json)
    assert "datetime" in answer.json["detail"]


@pytest.mark.parametrize("value", GOOD_DATETIMES)
def test_strict_rfc3339_instants_and_half_open_intervals_are_searched(client, value):
    assert client.get(f"/stac/search?datetime={quote(value)}").status_code == 200
    assert client.post("/stac/search", json={"datetime": value}).status_code == 200


def test_the_strict_parser_keeps_fractions_and_offsets():
    assert parse_rfc3339("2020-01-01T01:00:00.123456789+01:00").isoformat() == "2020-01-01T00:00:00.123456+00:00"
    assert parse_rfc3339("2020-01-01t00:00:00z").isoformat() == "2020-01-01T00:00:00+00:00"


def test_an_item_or_a_cql2_literal_with_a_loose_timestamp_is_refused(live):
    token = provider_token(live, "dt@prov.example", "Dt Sat")
    live.api("POST", "/stac/collections", token, json={"id": "dt", "description": "D"})
    for name, value in (("datetime", f"{T}+0100"), ("datetime", "2020-01-01"), ("start_datetime", f"{T},5Z")):
        props = {"datetime": None, "start_datetime": f"{T}Z", "end_datetime": f"{T}Z", name: value}
        answer = live.api("POST", "/stac/collections/dt/items", token, json=dict(ITEM, properties=props))
        assert answer.status_code == 422 and f"/properties/{name}" in {e["field"] for e in answer.json()["errors"]}
    assert live.api("GET", "/stac/collections/dt/items", token).json()["features"] == []
    # the cql2 library rewrites some loose TIMESTAMP() forms (…+0100, no zone) itself; what reaches us is checked
    for literal in (f"TIMESTAMP('{T}.Z')", "TIMESTAMP('2020-01-01')", f"'{T}+0100'", f"'{T}'"):
        answer = live.api("GET", f"/stac/search?filter={quote('datetime > ' + literal)}", token)
        assert answer.status_code == 400 and "datetime" in answer.json()["detail"], literal
    for literal in (f"TIMESTAMP('{T}Z')", f"'{T}.25+01:00'", "DATE('2020-01-01')"):
        assert live.api("GET", f"/stac/search?filter={quote('datetime > ' + literal)}", token).status_code == 200


# -- bbox and geometries ------------------------------------------------------------------------------
def test_a_bbox_in_a_post_body_must_be_an_array(client):
    for bbox in ("0,0,1,1", {"west": 0}, 5):
        answer = client.post("/stac/search", json={"bbox": bbox})
        assert answer.status_code == 400 and "bbox" in answer.json["detail"] and "array" in answer.json["detail"]
    assert client.post("/stac/search", json={"bbox": [0, 0, 1, 1]}).status_code == 200
    assert client.get("/stac/search?bbox=0,0,1,1").status_code == 200


BEYOND = {"type": "Polygon", "coordinates": [[[170, 0], [182, 0], [182, 1], [170, 1], [170, 0]]]}
NORTH_OF_POLE = {"type": "Point", "coordinates": [0, 91]}


def test_an_intersects_geometry_beyond_180_or_90_is_400_like_a_bbox(client):
    bbox = client.get("/stac/search?bbox=170,0,182,1").json["detail"]
    assert "longitudes must be within -180..180" in bbox
    for geometry, words in ((BEYOND, "longitudes must be within -180..180"),
                            (NORTH_OF_POLE, "latitudes must be within -90..90")):
        for answer in (client.get(f"/stac/search?intersects={quote(json.dumps(geometry))}"),
                       client.post("/stac/search", json={"intersects": geometry})):
            assert answer.status_code == 400 and answer.mimetype == PROBLEM
            assert "intersects" in answer.json["detail"] and words in answer.json["detail"]


def test_a_cql2_geometry_or_bbox_literal_beyond_180_is_400(client):
    for literal in (BEYOND, {"bbox": [170, 0, 182, 1]}, {"bbox": [0, 2, 1, 1]}):
        cql = {"op": "s_intersects", "args": [{"property": "geometry"}, literal]}
        post = client.post("/stac/search", json={"filter": cql, "filter-lang": "cql2-json"})
        get = client.get(f"/stac/search?filter-lang=cql2-json&filter={quote(json.dumps(cql))}")
        for answer in (post, get):
            assert answer.status_code == 400 and "s_intersects" in answer.json["detail"], literal
    assert client.get(f"/stac/search?filter={quote('S_INTERSECTS(geometry, BBOX(170, 0, 182, 1))')}").status_code == 400
    crossing = {"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": [170, 0, -170, 1]}]}
    assert client.post("/stac/search", json={"filter": crossing}).status_code == 200


# -- links ---------------------------------------------------------------------------------------------
def _links(body: dict) -> dict:
    return {link["rel"]: link for link in body["links"]}


def test_item_and_search_pages_link_to_themselves_and_the_root(live):
    token = provider_token(live, "links@prov.example", "Links Sat")
    live.api("POST", "/stac/collections", token, json={"id": "links", "description": "L"})
    for number in range(3):
        live.api("POST", "/stac/collections/links/items", token, json=dict(ITEM, id=f"i{number}"))
    path = "/stac/collections/links/items?limit=2&fields=id"
    links = _links(live.api("GET", path, token).json())
    assert links["self"]["href"] == f"{live.url}{path}" and links["self"]["type"] == "application/geo+json"
    assert links["root"]["href"] == f"{live.url}/stac/" and "next" in links
    bare = _links(live.api("GET", "/stac/collections/links/items", token).json())
    assert bare["self"]["href"] == f"{live.url}/stac/collections/links/items"
    got = _links(live.api("GET", "/stac/search?ids=i1,i2", token).json())
    assert got["self"] == {"rel": "self", "type": "application/geo+json", "method": "GET",
                           "href": f"{live.url}/stac/search?ids=i1,i2"} and "root" in got
    body = {"collections": ["links"], "limit": 1}
    posted = _links(live.api("POST", "/stac/search", token, json=body).json())
    assert posted["self"] == {"rel": "self", "type": "application/geo+json", "method": "POST",
                              "href": f"{live.url}/stac/search", "body": body}
    assert "root" in posted and posted["next"]["body"]["token"]


# -- transactions ----------------------------------------------------------------------------------------
def test_an_item_contradicting_its_url_is_400_and_changes_nothing(live):
    token = provider_token(live, "url@prov.example", "Url Sat")
    live.api("POST", "/stac/collections", token, json={"id": "url", "description": "U"})
    assert live.api("POST", "/stac/collections/url/items", token, json=ITEM).status_code == 201
    path = "/stac/collections/url/items/draft-1"
    moved = dict(copy.deepcopy(ITEM), properties={"datetime": "2030-01-01T00:00:00Z"})
    for body, fields in ((dict(moved, collection="other"), ["/collection"]), (dict(moved, id="draft-2"), ["/id"]),
                         (dict(moved, collection="other", id="draft-2"), ["/collection", "/id"])):
        answer = live.api("PUT", path, token, json=body)
        assert answer.status_code == 400 and answer.headers["Content-Type"] == PROBLEM
        assert [e["field"] for e in answer.json()["errors"]] == fields
    patched = live.api("PATCH", path, token, json={"collection": "other", "properties": {"gsd": 2}})
    assert patched.status_code == 400 and [e["field"] for e in patched.json()["errors"]] == ["/collection"]
    answer = live.api("POST", "/stac/collections/url/items", token, json=dict(moved, id="new", collection="other"))
    assert answer.status_code == 400 and [e["field"] for e in answer.json()["errors"]] == ["/collection"]
    kept = live.api("GET", path, token).json()["properties"]
    assert kept["datetime"] == ITEM["properties"]["datetime"] and kept["gsd"] == ITEM["properties"]["gsd"]
    assert live.api("GET", "/stac/collections/url/items/new", token).status_code == 404
    assert live.api("PUT", path, token, json=dict(moved, collection="url")).status_code == 200


def test_every_204_has_no_content_type(live):
    """The STAC deletes (a Flask view) and the API's (flask-smorest): no content, so no Content-Type."""
    live.user("gone@prov.example", roles=("provider",), kind="provider", org="Gone Sat")
    client_id, _ = live.client("gone@prov.example", "catalog:read catalog:write")
    token = live.minted_token(client_id)
    live.api("POST", "/stac/collections", token, json={"id": "gone", "description": "G"})
    live.api("POST", "/stac/collections/gone/items", token, json=ITEM)
    for path in ("/stac/collections/gone/items/draft-1", "/stac/collections/gone", f"/api/v1/clients/{client_id}"):
        answer = live.api("DELETE", path, token)
        assert answer.status_code == 204 and answer.content == b"", path
        assert "Content-Type" not in answer.headers and "Content-Length" not in answer.headers, path


def test_the_openapi_document_is_served_as_the_service_desc_link_announces(client):
    announced = _links(client.get("/stac/").json)["service-desc"]
    assert announced["type"] == "application/vnd.oai.openapi+json;version=3.0"
    document = client.get("/" + announced["href"].split("://", 1)[1].split("/", 1)[1])
    assert document.status_code == 200 and document.headers["Content-Type"] == announced["type"]
    assert json.loads(document.data)["openapi"].startswith("3.0")
