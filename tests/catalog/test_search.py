"""Search semantics on the real sample sets: the same ids as a brute-force Shapely oracle, on SQLite
and on PostGIS (the `app` fixture runs each test on both), and stable keyset paging."""
from __future__ import annotations

import json
import random
from datetime import timedelta

import shapely

from exchange.catalog.spatial import bbox_geometry
from exchange.catalog.stac import parse_rfc3339
from tests.catalog.conftest import NAIP, S2, all_ids


def search_ids(client, body: dict) -> set[str]:
    response = client.post("/stac/search", json={"limit": 10000, **body})
    assert response.status_code == 200, response.json
    assert response.json["numberReturned"] == len(response.json["features"])
    return {f["id"] for f in response.json["features"]}


def test_random_bboxes_match_the_oracle(samples, oracle):
    client = samples.test_client()
    rng = random.Random(7)
    boxes = [[-88.5, 30.0, -85.0, 32.0], [170.0, -80.0, -170.0, -60.0], [-180, -90, 180, 90]]
    for _ in range(20):
        west, south = rng.uniform(-180, 170), rng.uniform(-85, 80)
        boxes.append([west, south, min(west + rng.uniform(0.05, 40), 180), min(south + rng.uniform(0.05, 10), 90)])
    for _ in range(10):  # from near the items, so that hits are likely
        _, _, footprint, *_ = rng.choice(oracle.items)
        x, y = footprint.centroid.x, footprint.centroid.y
        boxes.append([x - 0.2, y - 0.2, min(x + 0.2, 180), y + 0.2])
    nonempty = 0
    for box in boxes:
        expected = oracle.ids(geometry=bbox_geometry(box))
        nonempty += bool(expected)
        assert search_ids(client, {"bbox": box}) == expected, box
    assert nonempty >= 10


def test_intersects_and_datetime_match_the_oracle(samples, oracle):
    client = samples.test_client()
    rng = random.Random(11)
    for _ in range(12):
        _, _, footprint, start, _, _ = rng.choice(oracle.items)
        area = footprint.buffer(rng.uniform(0.01, 0.5))
        expected = oracle.ids(geometry=area)
        assert search_ids(client, {"intersects": shapely.geometry.mapping(area)}) == expected
        day = start - timedelta(days=rng.randint(0, 200))
        later = day + timedelta(days=rng.randint(1, 400))
        interval = f"{day.isoformat().replace('+00:00', 'Z')}/{later.isoformat().replace('+00:00', 'Z')}"
        assert search_ids(client, {"datetime": interval}) == oracle.ids(start=day, end=later)
        assert search_ids(client, {"datetime": f"../{later.isoformat().replace('+00:00', 'Z')}"}) == \
            oracle.ids(end=later)
        assert search_ids(client, {"datetime": f"{day.isoformat().replace('+00:00', 'Z')}/..",
                                   "intersects": shapely.geometry.mapping(area)}) == \
            oracle.ids(start=day, geometry=area)
    instant = "2018-10-04T21:05:21Z"
    assert search_ids(client, {"datetime": instant}) == oracle.ids(start=parse_rfc3339(instant),
                                                                   end=parse_rfc3339(instant))


def test_collections_ids_and_filters(samples, oracle):
    client = samples.test_client()
    assert search_ids(client, {"collections": [S2]}) == oracle.ids(collections={S2})
    some = sorted(oracle.ids(collections={NAIP}))[:3]
    assert search_ids(client, {"ids": some}) == set(some)
    expected = {i for i, c, _, _, _, p in oracle.items if p.get("eo:cloud_cover") is not None and p["eo:cloud_cover"] < 10 and p["gsd"] < 20}
    assert search_ids(client, {"filter": "eo:cloud_cover < 10 AND gsd < 20"}) == expected
    assert search_ids(client, {"filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, 10]},
                               "filter-lang": "cql2-json", "collections": [S2]}) == \
        {i for i, c, _, _, _, p in oracle.items if c == S2 and p["eo:cloud_cover"] < 10}
    assert search_ids(client, {"query": {"gsd": {"lte": 0.6}, "platform": {"eq": "naip"}}}) == \
        {i for i, c, _, _, _, p in oracle.items if p["gsd"] <= 0.6 and p.get("platform") == "naip"}
    get = client.get("/stac/search?collections=naip&filter=gsd%20%3C%200.5&limit=10000")
    assert {f["id"] for f in get.json["features"]} == \
        {i for i, c, _, _, _, p in oracle.items if c == NAIP and p["gsd"] < 0.5}


def test_paging_walks_every_match_once_in_order(samples, oracle):
    client = samples.test_client()
    ids = all_ids(client, "/stac/search", collections=NAIP, limit=37)
    assert len(ids) == len(set(ids)) == len(oracle.ids(collections={NAIP}))
    whole = client.get("/stac/search?collections=naip&limit=10000").json
    assert [f["id"] for f in whole["features"]] == ids  # the same order as one big page
    assert whole["numberMatched"] == len(ids)


def test_prev_link_returns_the_previous_page_and_post_links_carry_the_body(samples):
    client = samples.test_client()
    first = client.post("/stac/search", json={"collections": [NAIP], "limit": 5, "sortby": [
        {"field": "eo:cloud_cover", "direction": "asc"}, {"field": "id", "direction": "desc"}]}).json
    nxt = next(link for link in first["links"] if link["rel"] == "next")
    assert nxt["method"] == "POST" and nxt["body"]["collections"] == [NAIP] and nxt["body"]["token"]
    second = client.post("/stac/search", json=nxt["body"]).json
    prev = next(link for link in second["links"] if link["rel"] == "prev")
    back = client.post("/stac/search", json=prev["body"]).json
    assert [f["id"] for f in back["features"]] == [f["id"] for f in first["features"]]
    assert not {f["id"] for f in first["features"]} & {f["id"] for f in second["features"]}


def test_paging_is_stable_under_concurrent_inserts(samples):
    """Items inserted between page requests never duplicate or hide items of the original result."""
    client = samples.test_client()
    before = all_ids(client, "/stac/search", collections=S2, limit=10000)
    page = client.get("/stac/search?collections=sentinel-s2-l2a-cogs-test&limit=30").json
    seen = [f["id"] for f in page["features"]]
    template = json.loads(json.dumps(page["features"][0]))
    from exchange.policy import SYSTEM
    from exchange.catalog.lifecycle import publish
    from exchange.catalog.transactions import create_item

    with samples.app_context():
        for n, when in enumerate(("2030-01-01T00:00:00Z", "2000-01-01T00:00:00Z")):
            doc = dict(template, id=f"inserted-{n}", properties=dict(template["properties"], datetime=when))
            doc["properties"].pop("sdx:status"), doc["properties"].pop("sdx:provider")
            publish(SYSTEM, create_item(SYSTEM, S2, doc).key)  # new items are drafts until published
    url = next(link["href"] for link in page["links"] if link["rel"] == "next")
    while url:
        body = client.get("/" + url.split("://", 1)[1].split("/", 1)[1]).json
        seen += [f["id"] for f in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    assert len(seen) == len(set(seen))
    assert [i for i in seen if not i.startswith("inserted-")] == before
    assert "inserted-1" in seen and "inserted-0" not in seen  # newer than page 1: behind us; older: ahead


def test_fields_and_sort(samples):
    client = samples.test_client()
    body = client.post("/stac/search", json={"collections": [S2], "limit": 3,
                                              "fields": {"include": ["properties.eo:cloud_cover"],
                                                         "exclude": ["links"]},
                                              "sortby": [{"field": "eo:cloud_cover", "direction": "desc"}]}).json
    covers = [f["properties"]["eo:cloud_cover"] for f in body["features"]]
    assert covers == sorted(covers, reverse=True)
    assert set(body["features"][0]) <= {"type", "stac_version", "id", "collection", "links", "properties"}
    assert set(body["features"][0]["properties"]) == {"eo:cloud_cover"}


def test_broad_spatial_search_with_more_than_the_exact_count_cap(samples, backend, monkeypatch):
    """Above the cap no numberMatched: what is known is given under its own name, an estimate
    (PostgreSQL's planner) or a lower bound (SQLite: more than the cap)."""
    from exchange.catalog import query

    monkeypatch.setattr(query, "COUNT_CAP", 50)
    client = samples.test_client()
    for body in ({"bbox": [-180, -90, 180, 90]}, {"intersects": {"type": "Polygon", "coordinates": [
            [[-179, -89], [179, -89], [179, 89], [-179, 89], [-179, -89]]]}}):
        answer = client.post("/stac/search", json=body)
        assert answer.status_code == 200, answer.json
        assert "numberMatched" not in answer.json
        given = {k: v for k, v in answer.json.items() if k.startswith("sdx:numberMatched")}
        if backend == "sqlite":
            assert given == {"sdx:numberMatchedAtLeast": 51}
        else:  # counted past the cap (with the planner's guess if higher), or not counted
            assert given.get("sdx:numberMatchedAtLeast", 51) == 51 and given.get("sdx:numberMatchedEstimate", 51) > 0
            assert given and set(given) <= {"sdx:numberMatchedEstimate", "sdx:numberMatchedAtLeast"}


def test_number_matched_is_counted_only_when_the_planner_finds_the_count_cheap(samples, oracle, monkeypatch):
    """PostgreSQL counts the matches when the planner's cost of the capped count is below
    COUNT_COST_LIMIT, and otherwise gives its row estimate, as an estimate, without counting; SQLite
    always counts. A search that reads the datetime range and tests footprints unindexed is
    estimated from the indexable form."""
    from exchange.policy import SYSTEM
    from exchange.catalog import planner, service
    from exchange.catalog.query import Matched
    from exchange.catalog.search import SearchRequest
    from exchange.core.db import db

    box = [-180, -90, 180, 90]
    searches = [
        (SearchRequest(collections=[NAIP], limit=2), oracle.ids(collections={NAIP})),
        (SearchRequest(geometry=bbox_geometry(box), interval=(parse_rfc3339("2000-01-01T00:00:00Z"), None), limit=2),
         oracle.ids(geometry=bbox_geometry(box), start=parse_rfc3339("2000-01-01T00:00:00Z"))),
    ]
    monkeypatch.setattr(planner, "TIME_FIRST_RATIO", 0)  # count the second one by datetime, footprints unindexed
    with samples.app_context():
        postgresql = db.engine.dialect.name == "postgresql"
        page = service.search(SYSTEM, searches[0][0])
        assert page.matched == Matched(exact=len(searches[0][1]))  # cheap: counted
        monkeypatch.setattr(planner, "COUNT_COST_LIMIT", float("inf"))  # any count is cheap enough
        for request, expected in searches:
            assert len(expected) > request.limit
            assert service.search(SYSTEM, request).matched == Matched(exact=len(expected))
        monkeypatch.setattr(planner, "COUNT_COST_LIMIT", 0)  # every count too expensive
        for request, expected in searches:
            matched = service.search(SYSTEM, request).matched
            if postgresql:
                assert matched.exact is None and matched.at_least is None and matched.estimate >= 1
            else:
                assert matched == Matched(exact=len(expected))
    body = samples.test_client().get("/stac/search?collections=naip&limit=2").json
    assert len(body["features"]) == 2
    if postgresql:  # still too expensive: an estimate, under its own name
        assert "numberMatched" not in body and body["sdx:numberMatchedEstimate"] >= 1
    else:
        assert body["numberMatched"] == len(searches[0][1])
    every = samples.test_client().get("/stac/search?collections=naip&limit=2000").json  # one page: counted
    assert every["numberMatched"] == len(every["features"]) == len(searches[0][1])


def test_items_with_only_a_time_range_match_by_overlap(samples):
    from exchange.policy import SYSTEM
    from exchange.catalog.lifecycle import publish
    from exchange.catalog.transactions import create_item

    def ranged(item_id, start, end):
        return {"type": "Feature", "stac_version": "1.0.0", "id": item_id,
                "geometry": {"type": "Point", "coordinates": [5.0, 5.0]}, "bbox": [5.0, 5.0, 5.0, 5.0],
                "properties": {"datetime": None, "start_datetime": start, "end_datetime": end}, "assets": {}}

    with samples.app_context():
        for doc in (ranged("decade", "2001-01-01T00:00:00Z", "2010-12-31T00:00:00Z"),
                    ranged("summer-2005", "2005-06-01T00:00:00Z", "2005-08-31T00:00:00Z")):
            publish(SYSTEM, create_item(SYSTEM, S2, doc).key)
    client = samples.test_client()
    near = [4, 4, 6, 6]
    assert search_ids(client, {"bbox": near, "datetime": "2005-07-01T00:00:00Z"}) == {"decade", "summer-2005"}
    assert search_ids(client, {"bbox": near, "datetime": "2009-01-01T00:00:00Z/2012-01-01T00:00:00Z"}) == {"decade"}
    assert search_ids(client, {"bbox": near, "datetime": "../2001-01-01T00:00:00Z"}) == {"decade"}
    assert search_ids(client, {"bbox": near, "datetime": "2005-08-31T00:00:00Z/.."}) == {"decade", "summer-2005"}
    assert search_ids(client, {"bbox": near, "datetime": "2011-01-01T00:00:00Z/.."}) == set()
    assert search_ids(client, {"datetime": "2005-07-01T00:00:00Z", "collections": [S2]}) == {"decade", "summer-2005"}


def test_footprint_and_datetime_match_the_oracle_whichever_index_leads(samples, oracle, monkeypatch):
    """A search with a bbox and a datetime range reads through the spatial index or, on PostgreSQL
    when the range is the narrower of the two, through the datetime index alone: same ids."""
    from exchange.catalog import planner

    client = samples.test_client()
    rng = random.Random(13)
    cases = []
    for _ in range(8):
        _, _, footprint, start, _, _ = rng.choice(oracle.items)
        x, y = footprint.centroid.x, footprint.centroid.y
        box = [x - rng.uniform(0.1, 3), y - rng.uniform(0.1, 3), x + rng.uniform(0.1, 3), y + rng.uniform(0.1, 3)]
        day = start - timedelta(days=rng.randint(0, 60))
        later = day + timedelta(days=rng.randint(1, 120))
        cases.append((box, day, later))
    for ratio, page_ratio in ((planner.TIME_FIRST_RATIO, planner.PAGE_TIME_FIRST_RATIO), (0, 0), (10**9, 10**9),
                              (10**9, 0), (0, 10**9)):  # as measured; always time first; never; page or count
        monkeypatch.setattr(planner, "TIME_FIRST_RATIO", ratio)
        monkeypatch.setattr(planner, "PAGE_TIME_FIRST_RATIO", page_ratio)
        nonempty = 0
        for box, day, later in cases:
            expected = oracle.ids(geometry=bbox_geometry(box), start=day, end=later)
            nonempty += bool(expected)
            interval = f"{day.isoformat().replace('+00:00', 'Z')}/{later.isoformat().replace('+00:00', 'Z')}"
            assert search_ids(client, {"bbox": box, "datetime": interval, "limit": 3}) <= expected
            assert search_ids(client, {"bbox": box, "datetime": interval}) == expected, (ratio, box, interval)
        assert nonempty >= 4
