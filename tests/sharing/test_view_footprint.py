"""view_footprint: a caller a sharing policy refuses it still finds the product, but only where it is
to a 0.1° grid — bbox snapped outward, geometry that box, no preview assets or links, no projection
fields that would give the extent back — in item reads, item lists and searches; the thumbnail is a
403 naming the rule and the policy. Whoever the policy does not name sees the exact footprint."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from shapely.geometry import box, mapping
from sqlalchemy import event, select

from exchange.catalog.batches import bulk_write
from exchange.catalog.coarse import coarse_bbox
from exchange.catalog.models import Collection, Item, ItemStatus
from exchange.core.db import db
from exchange.ingest.pipeline import thumbnail_object
from exchange.policy import SYSTEM
from exchange.sharing import footprints, service
from storage import transfers
from storage.objectstore import get_store
from tests.conftest import add_user, identity_for
from tests.metering.conftest import BUYER_SCOPES, add_person, open_shop
from tests.metering.meter import settled

EXACT = box(10.03, 0.12, 10.87, 0.95)
COARSE = [10.0, 0.1, 10.9, 1.0]
PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 32
ITEM_PATH = "/stac/collections/alice/items/exact"


@pytest.fixture
def shop(live):
    shop = open_shop(live)
    add_person(shop, "researcher", ["buyer"], "research", BUYER_SCOPES)
    doc = {"type": "Feature", "stac_version": "1.0.0", "id": "exact", "collection": "alice", "geometry": mapping(EXACT),
           "links": [{"rel": "preview", "href": "https://cdn.example/exact.png"},
                     {"rel": "license", "href": "https://example.com/licence"}],
           "properties": {"datetime": "2026-06-01T10:00:00Z", "gsd": 0.3, "proj:bbox": [500000, 13000, 590000, 105000],
                          "proj:code": "EPSG:32632"},
           "assets": {"data": {"href": "scene.tif", "roles": ["data"], "proj:transform": [0.3, 0, 500000, 0, -0.3, 0],
                               "proj:bbox": [500000, 13000, 590000, 105000], "proj:shape": [3000, 3000]},
                      "thumbnail": {"href": "https://cdn.example/thumb.png", "roles": ["thumbnail"]},
                      "metadata": {"href": "https://cdn.example/scene.xml", "roles": ["metadata"]}}}
    with live.app.app_context():
        bulk_write(SYSTEM, "alice", [doc], method="insert", status=ItemStatus.published)
        item = db.session.scalar(select(Item).where(Item.item_id == "exact"))
        transfers.put_public(get_store(), thumbnail_object(item), PNG, "image/png")
    policy = shop.api("POST", "/api/v1/admin/policies", "admin", json={
        "name": "Buyers see Alice's footprints coarsely", "target": {"collections": ["alice"]},
        "assignee": {"org_kinds": ["buyer"]}, "actions": ["view_footprint"], "effect": "deny"})
    assert policy.status_code == 201, policy.text
    shop.policy = policy.json()
    yield shop
    settled(shop)


def _features(shop, who, method, path, **kwargs) -> dict:
    answer = shop.api(method, path, who, **kwargs)
    assert answer.status_code == 200, answer.text
    return {f["id"]: f for f in answer.json()["features"]}


def _assert_coarse(feature: dict) -> None:
    assert feature["bbox"] == COARSE
    assert feature["geometry"] == {"type": "Polygon", "coordinates": [[[10.9, 0.1], [10.9, 1.0], [10.0, 1.0],
                                                                       [10.0, 0.1], [10.9, 0.1]]]}
    assert set(feature["assets"]) == {"data"}  # the thumbnail and the metadata file are gone
    assert "proj:bbox" not in feature["assets"]["data"] and "proj:transform" not in feature["assets"]["data"]
    assert feature["assets"]["data"]["proj:shape"] == [3000, 3000]
    assert "proj:bbox" not in feature["properties"] and feature["properties"]["proj:code"] == "EPSG:32632"
    assert feature["properties"]["sdx:footprint"] == "coarsened"
    rels = {link["rel"] for link in feature["links"]}
    assert "preview" not in rels and "license" in rels


def _assert_exact(feature: dict) -> None:
    assert feature["bbox"] == list(EXACT.bounds)
    assert feature["geometry"]["coordinates"] == mapping(EXACT)["coordinates"] or \
        box(*feature["bbox"]).equals(EXACT)
    assert {"data", "thumbnail", "metadata"} == set(feature["assets"])
    assert "sdx:footprint" not in feature["properties"]


def test_a_buyer_sees_the_footprint_coarsened_in_every_read(shop):
    _assert_coarse(shop.api("GET", ITEM_PATH, "buyer").json())
    _assert_coarse(_features(shop, "buyer", "GET", "/stac/collections/alice/items")["exact"])
    _assert_coarse(_features(shop, "buyer", "GET", "/stac/search?ids=exact,bob-1")["exact"])
    searched = _features(shop, "buyer", "POST", "/stac/search", json={"collections": ["alice", "bob"], "limit": 2})
    assert len(searched) == 2 and all("sdx:footprint" in f["properties"] for f in searched.values()
                                      if f["collection"] == "alice")
    posted = _features(shop, "buyer", "POST", "/stac/search", json={"ids": ["exact", "bob-1"]})
    _assert_coarse(posted["exact"])
    assert "sdx:footprint" not in posted["bob-1"]["properties"]  # not a target of the policy
    # the fields extension cuts the coarsened document, never the stored one
    cut = _features(shop, "buyer", "GET", "/stac/search?ids=exact&fields=bbox,geometry")["exact"]
    assert cut["bbox"] == COARSE and "assets" not in cut


def test_the_thumbnail_is_refused_with_the_rule_and_policy(shop):
    refused = shop.api("GET", f"{ITEM_PATH}/thumbnail", "buyer")
    assert refused.status_code == 403
    problem = refused.json()
    assert problem["rule"] == "policy-deny"
    assert problem["policy"]["id"] == shop.policy["id"] and problem["policy"]["version"] == 1
    assert shop.api("GET", f"{ITEM_PATH}/thumbnail", "other").status_code == 403  # any buyer organisation


@pytest.mark.parametrize("who", ["researcher", "alice", "admin"])
def test_whom_the_policy_does_not_name_sees_it_exactly(shop, who):
    _assert_exact(shop.api("GET", ITEM_PATH, who).json())
    _assert_exact(_features(shop, who, "GET", "/stac/search?ids=exact")["exact"])
    thumbnail = shop.api("GET", f"{ITEM_PATH}/thumbnail", who)
    assert thumbnail.status_code == 200 and thumbnail.content == PNG


def test_deactivating_the_policy_shows_the_footprint_again(shop):
    gone = shop.api("DELETE", f"/api/v1/admin/policies/{shop.policy['id']}", "admin")
    assert gone.status_code == 200, gone.text
    _assert_exact(shop.api("GET", ITEM_PATH, "buyer").json())
    assert shop.api("GET", f"{ITEM_PATH}/thumbnail", "buyer").status_code == 200


def test_the_grid_snaps_outward_and_keeps_the_antimeridian():
    assert coarse_bbox([0.3, 0.31, 0.7, 0.75]) == [0.3, 0.3, 0.7, 0.8]  # on the grid: kept
    assert coarse_bbox([-0.05, -10.01, 179.95, 89.99]) == [-0.1, -10.1, 180.0, 90.0]
    assert coarse_bbox([170.05, 1.0, -170.05, 2.0]) == [170.0, 1.0, -170.0, 2.0]  # west > east stays so


def test_a_page_is_decided_in_one_query_whatever_its_size(app):
    """The sharing side answers a whole page with a constant number of statements."""
    with app.app_context():
        provider = add_user("p@example.com", roles=("provider",), org="Provider", kind="provider")
        buyer = identity_for(add_user("b@example.com", org="Buyers", kind="buyer"), "catalog:read")
        db.session.add(Collection(id="c1", owner_org_id=provider.org_id, data={}))
        rows = []
        for n in range(12):
            where = box(n, 0, n + 0.55, 0.55)
            moment = datetime(2026, 1, 1, tzinfo=timezone.utc)
            rows.append(Item(collection_id="c1", item_id=f"i{n}", provider_org_id=provider.org_id,
                             status=ItemStatus.published, dt_start=moment, dt_end=moment, minx=n, miny=0,
                             maxx=n + 0.55, maxy=0.55, geometry=where, data={"properties": {}}))
        db.session.add_all(rows)
        db.session.commit()
        service.create_policy(SYSTEM, {"name": "coarse east", "target": {"region": mapping(box(5.5, -1, 20, 1))},
                                       "actions": ["view_footprint"], "effect": "require_approval"}, own=False)

        def statements(page) -> tuple[int, set[str]]:
            seen = []
            listener = lambda *args: seen.append(1)  # noqa: E731
            event.listen(db.engine, "before_cursor_execute", listener)
            try:
                withheld = footprints.withheld(page, identity=buyer)
            finally:
                event.remove(db.engine, "before_cursor_execute", listener)
            return len(seen), {row.item_id for row in page if row.key in withheld}

        with app.test_request_context():  # the active policies are read once per request
            rows = list(db.session.scalars(select(Item).order_by(Item.key)))  # as a search reads them
            footprints.withheld(rows[:1], identity=buyer)
            one, hidden_one = statements(rows[6:7])
            many, hidden_many = statements(rows)
        assert hidden_one == {"i6"} and hidden_many == {f"i{n}" for n in range(5, 12)}
        assert many == one <= 3  # the targets over the page's keys, the approvals, the caller's organisation
