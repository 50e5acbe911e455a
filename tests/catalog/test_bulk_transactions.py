"""Issue 10 item 6: a posted FeatureCollection is an all-or-nothing insert (201, 409 or 422, as the
transaction extension says of one item), and bulk loads have their own route, as stac-fastapi's
bulk-transactions extension: ``POST /stac/collections/{c}/bulk_items`` with ``method`` insert or upsert."""
from __future__ import annotations

import copy

import pytest

from tests.catalog.conftest import token_for

ITEMS, BULK = "/stac/collections/alice/items", "/stac/collections/alice/bulk_items"


def item(item_id: str, lon: float = 10.0, **properties) -> dict:
    return {"type": "Feature", "stac_version": "1.0.0", "id": item_id,
            "geometry": {"type": "Point", "coordinates": [lon, 50.0]},
            "properties": {"datetime": "2024-05-01T10:00:00Z", **properties},
            "assets": {"data": {"href": f"https://data.example/{item_id}.tif", "roles": ["data"]}}}


def fc(*features) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


def ids(live, token) -> dict[str, float]:
    """Every item of the collection the owner sees, with its longitude."""
    found = live.api("GET", f"{ITEMS}?limit=100", token).json()["features"]
    return {f["id"]: f["geometry"]["coordinates"][0] for f in found}


def test_a_feature_collection_is_created_whole_or_not_at_all(live, alice):
    answer = live.api("POST", ITEMS, alice, json=fc(item("a"), item("b")))
    assert answer.status_code == 201 and answer.json() == {"created": 2} and "Location" not in answer.headers
    # One id exists: 409 naming it, and the new one is not written either.
    answer = live.api("POST", ITEMS, alice, json=fc(item("c"), item("b", 20.0), item("a", 20.0)))
    assert answer.status_code == 409 and answer.json()["existing"] == ["b", "a"]
    assert "b, a" in answer.json()["detail"]
    assert ids(live, alice) == {"a": 10.0, "b": 10.0}
    # Invalid items: 422 with every error of every one, by position; nothing written.
    answer = live.api("POST", ITEMS, alice, json=fc(item("d"), dict(item("e"), geometry=None), item("f", gsd=-1),
                                                    item("a")))
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["/features/1/geometry", "/features/2/properties/gsd"]
    answer = live.api("POST", ITEMS, alice, json=fc(item("g"), item("g", 30.0)))
    assert answer.status_code == 422 and [e["field"] for e in answer.json()["errors"]] == ["/features/1/id"]
    assert ids(live, alice) == {"a": 10.0, "b": 10.0}


@pytest.mark.parametrize("features", [[], None, {"a": 1}, "x"])
def test_a_feature_collection_without_items_is_refused(live, alice, features):
    answer = live.api("POST", ITEMS, alice, json={"type": "FeatureCollection", "features": features})
    assert answer.status_code == 422 and [e["field"] for e in answer.json()["errors"]] == ["/features"]


def test_bulk_insert_writes_the_new_items_and_reports_the_existing_ones(live, alice):
    assert live.api("POST", ITEMS, alice, json=item("old")).status_code == 201
    answer = live.api("POST", BULK, alice, json={"items": {"old": item("old", 40.0), "new": item("new")}})
    assert answer.status_code == 207
    assert answer.json()["written"] == 1
    [failed] = answer.json()["failed"]
    assert failed["item"] == "old" and failed["errors"][0]["field"] == "/id"
    assert "already exists" in failed["errors"][0]["message"]
    assert ids(live, alice) == {"old": 10.0, "new": 10.0}  # not overwritten
    # A list works too; the first of a repeated id is written, the next reported.
    answer = live.api("POST", BULK, alice, json={"items": [item("x", 1.0), item("x", 2.0)], "method": "insert"})
    assert answer.status_code == 207 and answer.json()["written"] == 1
    assert answer.json()["failed"][0]["item"] == "x" and ids(live, alice)["x"] == 1.0


def test_bulk_upsert_replaces_and_reports_only_the_bad_ones(live, alice):
    live.api("POST", BULK, alice, json={"items": [item("a"), item("b")]})
    answer = live.api("POST", BULK, alice, json={"items": {"a": item("a", 5.0), "c": item("c"), "bad": dict(
        item("bad"), geometry=None)}, "method": "upsert"})
    assert answer.status_code == 207 and answer.json()["written"] == 2
    assert [f["item"] for f in answer.json()["failed"]] == ["bad"]
    assert ids(live, alice) == {"a": 5.0, "b": 10.0, "c": 10.0}
    answer = live.api("POST", BULK, alice, json={"items": {"b": item("b", 6.0)}, "method": "upsert"})
    assert answer.status_code == 200 and answer.json() == {"written": 1, "failed": []}
    # An item without an id takes its key.
    nameless = item("x")
    del nameless["id"]
    assert live.api("POST", BULK, alice, json={"items": {"named": nameless}}).json()["written"] == 1
    assert "named" in ids(live, alice)


@pytest.mark.parametrize("body, fields", [
    ({"items": [], "method": "merge"}, ["/method"]),
    ({"items": [], "method": None}, ["/method"]),
    ({"items": "x"}, ["/items"]),
    ({"items": None}, ["/items"]),
    ({}, ["/items"]),
    ({"items": 5, "method": ["insert"]}, ["/items", "/method"]),
    ({"items": {"a": item("b"), "c/d": item("e")}}, ["/items/a/id", "/items/c~1d/id"]),
])
def test_a_bad_bulk_request_is_refused_naming_each_field(live, alice, body, fields):
    answer = live.api("POST", BULK, alice, json=body)
    assert answer.status_code == 422 and [e["field"] for e in answer.json()["errors"]] == fields
    assert ids(live, alice) == {}


def test_a_bulk_request_of_too_many_items_is_refused(live, alice):
    for path, body in ((BULK, {"items": [{}] * 10_001}), (ITEMS, fc(*[{}] * 10_001))):
        answer = live.api("POST", path, alice, json=body)
        assert answer.status_code == 400 and answer.json()["limit"] == 10_000, answer.text
    assert live.api("POST", BULK, alice, data="[", headers={"Content-Type": "application/json"}).status_code == 400
    assert live.api("POST", BULK, alice, data="{}", headers={"Content-Type": "text/plain"}).status_code == 415


def test_only_the_collections_owner_may_bulk_write(live, alice):
    buyer = token_for(live, "buyer@b.example", "Buyer Co", roles=("buyer",), scopes="catalog:read")
    bob = token_for(live, "bob@b.example", "Bob Sat")
    body = {"items": [item("intruder")], "method": "upsert"}
    assert live.api("POST", BULK, None, json=body).status_code == 401
    assert live.api("POST", BULK, buyer, json=body).status_code == 403
    assert live.api("POST", BULK, bob, json=body).status_code == 404
    assert live.api("POST", "/stac/collections/nothing/bulk_items", alice, json=body).status_code == 404
    for token in (None, buyer, bob):
        assert live.api("POST", ITEMS, token, json=fc(item("intruder"))).status_code in (401, 403, 404)
    assert ids(live, alice) == {}
    # Bob's own collection is his to load.
    assert live.api("POST", "/stac/collections", bob, json={"id": "bob", "description": "B"}).status_code == 201
    answer = live.api("POST", "/stac/collections/bob/bulk_items", bob, json=copy.deepcopy(body))
    assert answer.status_code == 200 and answer.json()["written"] == 1


def test_an_item_naming_another_collection_is_refused_in_bulk_as_on_its_own(live, alice):
    """As a single POST or PUT, a bulk item may leave ``collection`` out but may not name another one."""
    stray = dict(item("stray"), collection="someone-else")
    answer = live.api("POST", ITEMS, alice, json=fc(dict(item("h"), collection="alice"), stray))
    assert answer.status_code == 422 and [e["field"] for e in answer.json()["errors"]] == ["/features/1/collection"]
    assert ids(live, alice) == {}
    answer = live.api("POST", BULK, alice, json={"items": [item("i"), stray], "method": "upsert"})
    assert answer.status_code == 207 and answer.json()["written"] == 1
    [failed] = answer.json()["failed"]
    assert failed["item"] == "stray" and failed["errors"][0]["field"] == "/collection"
    assert "someone-else" in failed["errors"][0]["message"]
    assert ids(live, alice) == {"i": 10.0}
