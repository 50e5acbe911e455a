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
        assert any('"geometry" is not valid GeoJSON' in e["message"] for e in answer.json()["errors"])
        replaced = live.api("PUT", "/stac/collections/fuzz-col/items/fuzz-item", token, json=dict(ITEM, geometry=geometry))
        assert replaced.status_code == 422, replaced.text
    assert live.api("GET", "/stac/collections/fuzz-col/items/odd-geom", token).status_code == 404
    assert live.api("GET", "/stac/collections/fuzz-col/items/fuzz-item", token).json()["geometry"] == ITEM["geometry"]
