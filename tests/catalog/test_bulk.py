"""The bulk path (import-stac and the bulk transaction endpoint): new items, replaced items and
duplicates within a batch give the same rows on SQLite and PostgreSQL."""
from __future__ import annotations

from auth import service
from exchange.policy import SYSTEM
from exchange.catalog.models import Item, ItemStatus
from exchange.catalog.batches import bulk_upsert
from exchange.catalog.transactions import create_collection
from exchange.core.db import db


def item(item_id: str, lon: float, cloud: float, when: str = "2021-06-01T10:00:00Z") -> dict:
    ring = [[lon, 10.0], [lon + 1, 10.0], [lon + 1, 11.0], [lon, 11.0], [lon, 10.0]]
    return {"type": "Feature", "stac_version": "1.0.0", "id": item_id,
            "geometry": {"type": "Polygon", "coordinates": [ring]}, "bbox": [lon, 10.0, lon + 1, 11.0],
            "properties": {"datetime": when, "eo:cloud_cover": cloud, "gsd": 0.5, "platform": "p1"},
            "assets": {"data": {"href": f"https://example.test/{item_id}.tif", "roles": ["data"]}}}


def rows(collection_id: str) -> dict[str, tuple]:
    return {i.item_id: (i.key, i.cloud_cover, i.minx, i.status, i.data["properties"]["eo:cloud_cover"])
            for i in db.session.scalars(db.select(Item).where(Item.collection_id == collection_id))}


def test_bulk_upsert_inserts_replaces_and_keeps_the_last_of_duplicates(app):
    with app.app_context():
        service.create_org(SYSTEM, {"name": "Bulk Org", "kind": "provider"})
        org_id = service.find_org("Bulk Org").id
        create_collection(SYSTEM, {"id": "bulk-a", "description": "a"}, owner_org_id=org_id)
        create_collection(SYSTEM, {"id": "bulk-b", "description": "b"}, owner_org_id=org_id)

        first = bulk_upsert(SYSTEM, "bulk-a", [item("x1", 0, 10), item("x2", 2, 20), item("x3", 4, 30)],
                            status=ItemStatus.draft)
        assert (first.written, first.failures) == (3, [])
        before = rows("bulk-a")
        # The same id in another collection is another item.
        assert bulk_upsert(SYSTEM, "bulk-b", [item("x1", 50, 99)], status=ItemStatus.published).written == 1

        broken = dict(item("bad", 0, 1), geometry=None)
        second = bulk_upsert(SYSTEM, "bulk-a", [item("x2", 6, 21), broken, item("x4", 8, 40), item("x4", 9, 41),
                                                 item("x1", 10, 11), dict(item("x1", 12, 12), type="Nope")],
                             status=ItemStatus.published)
        assert second.written == 3 and [label for label, _ in second.failures] == ["bad", "x1"]
        after = rows("bulk-a")
        assert set(after) == {"x1", "x2", "x3", "x4"}
        assert after["x3"] == before["x3"]  # untouched
        for item_id, lon, cloud in (("x1", 10, 11), ("x2", 6, 21)):  # replaced in place: same key
            assert after[item_id] == (before[item_id][0], cloud, lon, ItemStatus.published, cloud)
        assert after["x4"][1:] == (41, 9, ItemStatus.published, 41)  # the last of a duplicated id
        assert rows("bulk-b")["x1"][1] == 99
        db.session.remove()

        # A spatial search sees the replaced footprints (the R*Tree on SQLite follows the update).
        client = app.test_client()
        found = client.post("/stac/search", json={"collections": ["bulk-a"], "bbox": [5.5, 9.5, 7.5, 11.5]}).json
        assert [f["id"] for f in found["features"]] == ["x2"]
        gone = client.post("/stac/search", json={"collections": ["bulk-a"], "bbox": [1.5, 9.5, 3.5, 11.5]}).json
        assert gone["features"] == []


def test_a_bulk_write_by_an_unknown_method_is_refused_before_anything_is_written(app):
    """A caller of the service (not only the route) gets a 422 for a method nobody defined, never an upsert."""
    import pytest

    from exchange.catalog.batches import bulk_write
    from exchange.core.problems import ValidationProblem

    with app.app_context():
        service.create_org(SYSTEM, {"name": "Method Org", "kind": "provider"})
        create_collection(SYSTEM, {"id": "bulk-m", "description": "m"}, owner_org_id=service.find_org("Method Org").id)
        with pytest.raises(ValidationProblem) as refused:
            bulk_write(SYSTEM, "bulk-m", [item("m1", 0, 10)], method="merge")
        assert refused.value.errors == [{"field": "/method", "message": "must be one of insert, upsert"}]
        assert rows("bulk-m") == {}
