"""The 500s the fuzz pass found outside the other parts of issue 8, each replayed against a live server:
the answer is a problem naming what is wrong, and nothing was written."""
from __future__ import annotations

from tests.fuzz.harness import COLLECTION, ITEM, PROBLEM, token_for


def provider(live) -> str:
    token, _ = token_for(live, "prov@find.example", ("provider",), "provider", "Find Sat",
                         "catalog:read catalog:write")
    assert live.api("POST", "/stac/collections", token, json=COLLECTION).status_code == 201
    assert live.api("POST", "/stac/collections/fuzz-col/items", token, json=ITEM).status_code == 201
    return token


def send_raw(live, method: str, path: str, token: str, text: str):
    return live.api(method, path, token, data=text.encode(), headers={"Content-Type": "application/json"})


def test_nan_infinity_and_overflowing_numbers_are_not_json(live):
    """PostgreSQL's JSONB refused them after validation, as a 500; SQLite stored them. Now: 400, nothing stored."""
    token = provider(live)
    bodies = [
        ("POST", "/stac/collections", '{"id": "nan-col", "description": "x", "keywords": NaN}'),
        ("POST", "/stac/collections", '{"id": "inf-col", "description": "x", "summaries": {"gsd": [1e999999]}}'),
        ("PUT", "/stac/collections/fuzz-col", '{"id": "fuzz-col", "description": "changed", "x": -Infinity}'),
        ("POST", "/stac/collections/fuzz-col/items",
         '{"type": "Feature", "id": "inf-geom", "geometry": {"type": "Point", "coordinates": [1e400, 0]},'
         ' "bbox": [0, 0, 0, 0], "properties": {"datetime": "2024-05-01T10:00:00Z"}, "assets": {}}'),
        ("PATCH", "/stac/collections/fuzz-col/items/fuzz-item", '{"properties": {"gsd": NaN}}'),
        # an integer no float holds: stored, it would fail every numeric filter on the property (a 500)
        ("PATCH", "/stac/collections/fuzz-col/items/fuzz-item", '{"properties": {"sat:orbit": 1' + "0" * 400 + '}}'),
    ]
    for method, path, text in bodies:
        answer = send_raw(live, method, path, token, text)
        assert answer.status_code == 400, (path, answer.status_code, answer.text)
        assert answer.headers["Content-Type"] == PROBLEM
        assert answer.json()["detail"] == "The request body is not valid JSON."
    assert live.api("GET", "/stac/collections/nan-col", token).status_code == 404
    assert live.api("GET", "/stac/collections/inf-col", token).status_code == 404
    assert live.api("GET", "/stac/collections/fuzz-col/items/inf-geom", token).status_code == 404
    assert live.api("GET", "/stac/collections/fuzz-col", token).json()["description"] == "Fuzzed"
    assert live.api("GET", "/stac/collections/fuzz-col/items/fuzz-item", token).json()["properties"]["gsd"] == 0.5


def test_an_item_of_an_unknown_geometry_type_is_a_422_naming_the_geometry(live):
    token = provider(live)
    for geometry in ({"type": "Nope", "coordinates": [1, 2]}, {"type": "Feature"}, {"type": 5}):
        answer = live.api("POST", "/stac/collections/fuzz-col/items", token,
                          json=dict(ITEM, id="odd-geom", geometry=geometry))
        assert answer.status_code == 422, answer.text
        assert answer.headers["Content-Type"] == PROBLEM
        assert any(e["field"].startswith("/geometry") for e in answer.json()["errors"]), answer.text
        replaced = live.api("PUT", "/stac/collections/fuzz-col/items/fuzz-item", token, json=dict(ITEM, geometry=geometry))
        assert replaced.status_code == 422, replaced.text
    assert live.api("GET", "/stac/collections/fuzz-col/items/odd-geom", token).status_code == 404
    assert live.api("GET", "/stac/collections/fuzz-col/items/fuzz-item", token).json()["geometry"] == ITEM["geometry"]


def test_a_nul_character_anywhere_is_a_400_and_writes_nothing(live):
    """On PostgreSQL every one of these was a 500 (psycopg refuses NUL in text, JSONB refuses \\u0000)."""
    token = provider(live)
    signup = {"organisation": {"name": "Nul\x00Org", "kind": "buyer"},
              "user": {"email": "nul@find.example", "password": "a long enough password"}}
    refused = [
        ("POST", "/api/v1/signup", None, {"json": signup}, "body"),
        ("POST", "/stac/collections", token, {"json": {"id": "nul-col", "description": "a\x00b"}}, "body"),
        ("POST", "/stac/collections/fuzz-col/items", token, {"json": dict(ITEM, id="nul\x00")}, "body"),
        ("GET", "/stac/collections/%00", None, {}, "path"),
        ("DELETE", "/stac/collections/fuzz-col/items/fuzz-item%00", token, {}, "path"),
        ("GET", "/stac/search", None, {"params": {"ids": "a\x00"}}, "query string"),
        ("GET", "/api/v1/clients", token, {"params": {"after": "\x00"}}, "query string"),
    ]
    for method, path, who, kwargs, where in refused:
        answer = live.api(method, path, who, **kwargs)
        assert answer.status_code == 400, (path, answer.text)
        assert answer.headers["Content-Type"] == PROBLEM
        assert answer.json()["detail"] == f"The request's {where} holds a NUL character (U+0000), which SDX does not accept."
    oauth = [{"data": {"grant_type": "client_credentials", "client_id": "\x00", "client_secret": "x"}},
             {"data": {"grant_type": "client_credentials"}, "auth": ("a\x00b", "x")}]
    for kwargs in oauth:
        answer = live.api("POST", "/oauth/token", **kwargs)
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_request", answer.text
    assert live.api("GET", "/stac/collections/nul-col", token).status_code == 404
    assert live.api("GET", "/stac/collections/fuzz-col/items/fuzz-item", token).status_code == 200
    with live.app.app_context():
        from auth import service

        assert service.find_user("nul@find.example") is None  # sign-up writes the user and its organisation together


def test_an_escaped_backslash_before_u0000_is_ordinary_text(live):
    """Only a real NUL is refused: the JSON text "C:\\\\u0000" is a backslash followed by "u0000"."""
    token = provider(live)
    created = live.api("POST", "/stac/collections", token, data=b'{"id": "paths", "description": "C:\\\\u0000"}',
                       headers={"Content-Type": "application/json"})
    assert created.status_code == 201, created.text
    assert live.api("GET", "/stac/collections/paths", token).json()["description"] == "C:\\u0000"


def test_an_item_with_altitudes_is_stored_by_its_2d_footprint(live):
    """GeoJSON allows a third coordinate; PostGIS's 2D footprint column refused it with a 500."""
    token = provider(live)
    geometries = [{"type": "Point", "coordinates": [10, 50, 120.5]},
                  {"type": "Polygon", "coordinates": [[[10, 50, 1], [11, 50, 1], [11, 51, 2], [10, 50, 1]]]},
                  {"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [10, 50, 3]},
                                                                {"type": "Point", "coordinates": [10.5, 50.5]}]}]
    for n, geometry in enumerate(geometries):
        created = live.api("POST", "/stac/collections/fuzz-col/items", token,
                           json=dict(ITEM, id=f"z-{n}", geometry=geometry, bbox=[10, 50, 11, 51]))
        assert created.status_code == 201, created.text
        assert created.json()["geometry"] == geometry  # the document keeps what the provider sent
    found = live.api("POST", "/stac/search", token, json={"ids": ["z-0", "z-1", "z-2"], "bbox": [9.9, 49.9, 10.2, 50.2]})
    assert sorted(f["id"] for f in found.json()["features"]) == ["z-0", "z-1", "z-2"]


def test_odd_search_geometries_and_queries_are_400_problems(live):
    """Found by the fuzz pass in search: an unknown geometry type, NaN coordinates, 2D and 3D mixed in one
    collection (PostGIS refused it), a 5000-digit number and an operator-less query were 500s."""
    import json

    token = provider(live)
    mixed = {"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [10.5, 50.5]},
                                                          {"type": "Point", "coordinates": [10.6, 50.6, 100]}]}
    odd = [("intersects", '{"type": "Nope", "coordinates": [1, 2]}'),
           ("intersects", '{"type": "Point", "coordinates": [Infinity, NaN]}'),
           ("query", "1" * 5000),
           ("query", '{"gsd": {"lt": ' + "9" * 5000 + "}}"),
           ("query", '{"gsd": {}}')]
    for name, value in odd:
        answer = live.api("GET", "/stac/search", token, params={name: value})
        assert answer.status_code == 400, (name, value[:40], answer.status_code, answer.text[:300])
        assert answer.headers["Content-Type"] == PROBLEM and name in answer.json()["detail"]
    answer = live.api("POST", "/stac/search", token, json={"intersects": {"type": "Nope", "coordinates": [1, 2]}})
    assert answer.status_code == 400 and "intersects" in answer.json()["detail"]
    found = live.api("GET", "/stac/search", token, params={"intersects": json.dumps(mixed)})
    assert found.status_code == 200, found.text
    assert [f["id"] for f in found.json()["features"]] == ["fuzz-item"]  # its draft, seen by its provider
