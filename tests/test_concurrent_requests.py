"""The same request several times at once: one wins, the others get a 4xx problem, nothing is written twice
and nothing answers 500 (unique constraints hit by a race are conflicts, not crashes)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

from tests.conftest import PASSWORD

ITEM = {"type": "Feature", "stac_version": "1.0.0", "id": "twin", "bbox": [10, 50, 11, 51],
        "geometry": {"type": "Polygon", "coordinates": [[[10, 50], [11, 50], [11, 51], [10, 51], [10, 50]]]},
        "properties": {"datetime": "2024-05-01T10:00:00Z"}, "assets": {}, "links": []}


def _at_once(send, times: int = 8) -> list[requests.Response]:
    with ThreadPoolExecutor(times) as pool:
        return list(pool.map(lambda _: send(), range(times)))


def test_the_same_item_created_at_once_is_written_once(live):
    live.user("twin@prov.example", roles=("provider",), kind="provider", org="Twin Sat")
    client_id, _ = live.client("twin@prov.example", "catalog:read catalog:write")
    token = live.minted_token(client_id)
    collection = {"id": "twins", "description": "T"}
    answers = _at_once(lambda: live.api("POST", "/stac/collections", token, json=collection))
    codes = sorted(a.status_code for a in answers)
    assert codes.count(201) == 1 and set(codes) <= {201, 409}, [(a.status_code, a.text[:200]) for a in answers]
    answers = _at_once(lambda: live.api("POST", "/stac/collections/twins/items", token, json=ITEM))
    codes = sorted(a.status_code for a in answers)
    assert codes.count(201) == 1 and set(codes) <= {201, 409}, [(a.status_code, a.text[:200]) for a in answers]
    listed = live.api("GET", "/stac/collections/twins/items", token).json()["features"]
    assert [f["id"] for f in listed] == ["twin"]


def test_the_same_sign_up_at_once_creates_one_organisation(live):
    body = {"organisation": {"name": "Race Imaging", "kind": "buyer"},
            "user": {"email": "race@buyer.example", "password": PASSWORD}}
    answers = _at_once(lambda: live.api("POST", "/api/v1/signup", json=body), times=4)
    assert all(a.status_code < 500 for a in answers), [(a.status_code, a.text[:200]) for a in answers]
    assert any(a.status_code == 202 for a in answers)
    admin = live.user("root@platform.example", roles=("admin",), kind="platform", org="Platform")
    assert admin
    client_id, _ = live.client("root@platform.example", "admin:accounts")
    token = live.minted_token(client_id)
    pending = live.api("GET", "/api/v1/admin/orgs", token, params={"status": "pending"}).json()["items"]
    assert [o["name"] for o in pending] == ["Race Imaging"] and pending[0]["signup_email"] == "race@buyer.example"


def test_the_same_items_loaded_at_once_are_written_once(live):
    live.user("bulk@prov.example", roles=("provider",), kind="provider", org="Bulk Sat")
    client_id, _ = live.client("bulk@prov.example", "catalog:read catalog:write")
    token = live.minted_token(client_id)
    assert live.api("POST", "/stac/collections", token, json={"id": "bulk", "description": "B"}).status_code == 201
    features = [dict(ITEM, id=f"twin-{i}") for i in range(20)]
    answers = _at_once(lambda: live.api("POST", "/stac/collections/bulk/items", token,
                                        json={"type": "FeatureCollection", "features": features}))
    codes = sorted(a.status_code for a in answers)
    assert codes.count(201) == 1 and set(codes) <= {201, 409}, [(a.status_code, a.text[:200]) for a in answers]
    more = [dict(ITEM, id=f"more-{i}") for i in range(20)]
    for method, written in (("insert", 20), ("upsert", 8 * 20)):
        answers = _at_once(lambda: live.api("POST", "/stac/collections/bulk/bulk_items", token,
                                            json={"items": more, "method": method}))
        assert all(a.status_code in (200, 207) for a in answers), [(a.status_code, a.text[:200]) for a in answers]
        assert sum(a.json()["written"] for a in answers) == written
    listed = live.api("GET", "/stac/collections/bulk/items?limit=100", token).json()["features"]
    assert sorted(f["id"] for f in listed) == sorted(f["id"] for f in features + more)
