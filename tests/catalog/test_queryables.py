"""Any property an item carries is queryable (issue 10 item 8): filter, query and sortby on the real
sample sets' own properties match a brute-force oracle on both backends; a value of another JSON type
neither matches nor errors; the queryables documents list what the items carry, and no more."""
from __future__ import annotations

import json

import pytest

from tests.catalog.conftest import NAIP, S2, all_ids
from tests.catalog.test_search import search_ids
from tests.catalog.test_tenancy import ITEM, token_for


def oracle_ids(oracle, test) -> set[str]:
    return {item_id for item_id, _, _, _, _, props in oracle.items if test(props)}


def number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


CASES = [  # (filter or query, what the oracle keeps)
    ({"filter": "\"naip:year\" = '2021'"}, lambda p: p.get("naip:year") == "2021"),
    ({"filter": "\"proj:epsg\" < 30000"}, lambda p: number(p.get("proj:epsg")) and p["proj:epsg"] < 30000),
    ({"filter": "\"sentinel:data_coverage\" BETWEEN 20 AND 20.5"},
     lambda p: number(p.get("sentinel:data_coverage")) and 20 <= p["sentinel:data_coverage"] <= 20.5),
    ({"filter": "\"sentinel:grid_square\" IN ('DH', 'XX')"}, lambda p: p.get("sentinel:grid_square") == "DH"),
    ({"filter": "\"naip:year\" LIKE '201%'"}, lambda p: str(p.get("naip:year", "")).startswith("201")),
    ({"filter": "\"naip:year\" IS NULL"}, lambda p: p.get("naip:year") is None),
    ({"filter": {"op": "=", "args": [{"property": "sentinel:valid_cloud_cover"}, True]}, "filter-lang": "cql2-json"},
     lambda p: p.get("sentinel:valid_cloud_cover") is True),
    ({"filter": {"op": ">=", "args": [{"property": "properties.proj:epsg"}, 32700]}},
     lambda p: number(p.get("proj:epsg")) and p["proj:epsg"] >= 32700),
    ({"filter": "\"sentinel:data_coverage\" > 20 AND \"eo:cloud_cover\" < 50"},  # with a promoted column
     lambda p: number(p.get("sentinel:data_coverage")) and p["sentinel:data_coverage"] > 20
     and p["eo:cloud_cover"] < 50),
    ({"filter": "\"sentinel:utm_zone\" < \"eo:cloud_cover\""},  # the column gives the kind
     lambda p: number(p.get("sentinel:utm_zone")) and p.get("eo:cloud_cover") is not None
     and p["sentinel:utm_zone"] < p["eo:cloud_cover"]),
    ({"query": {"sentinel:data_coverage": {"gte": 20, "lt": 20.6}}},
     lambda p: number(p.get("sentinel:data_coverage")) and 20 <= p["sentinel:data_coverage"] < 20.6),
    ({"query": {"naip:year": {"in": ["2011", "2013"]}, "naip:state": {"startsWith": "a"}}},
     lambda p: p.get("naip:year") in ("2011", "2013") and str(p.get("naip:state")).startswith("a")),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_filter_and_query_on_document_properties_match_the_oracle(samples, oracle, case):
    body, keep = CASES[case]
    expected = oracle_ids(oracle, keep)
    assert expected and len(expected) < len(oracle.items), "a case that keeps nothing or everything proves little"
    assert search_ids(samples.test_client(), body) == expected


def test_sortby_a_document_property_pages_through_every_item_in_order(samples, oracle):
    client = samples.test_client()
    coverage = {item_id: props.get("sentinel:data_coverage") for item_id, _, _, _, _, props in oracle.items}
    last = float("inf")  # NAIP items have none: they come last ascending, first descending
    for direction in ("", "-"):
        ids = all_ids(client, "/stac/search", sortby=f"{direction}sentinel:data_coverage,id", limit=97)
        assert sorted(ids) == sorted(coverage)
        values = [last if coverage[i] is None else coverage[i] for i in ids]
        assert values == sorted(values, reverse=direction == "-")
        tied = [i for i in ids if coverage[i] == 20.87]
        assert tied == sorted(tied) and len(tied) == 4  # ties in id order, whichever the direction
    year = {item_id: props.get("naip:year") for item_id, _, _, _, _, props in oracle.items}
    ids = all_ids(client, "/stac/search", sortby="-naip:year,id", limit=89)  # strings; two directions
    expected = sorted(year, key=lambda i: (year[i] or "\U0010ffff", i))  # S2 items have none: first descending
    expected = sorted(expected, key=lambda i: year[i] or "\U0010ffff", reverse=True)  # stable: ids stay ascending
    assert ids == expected


def test_names_no_item_carries_unsafe_names_and_unknowable_types_are_400(samples):
    client = samples.test_client()
    refused = {
        "nosuch:prop = 1": "unknown property 'nosuch:prop'",
        "\"proj:epsg\" = \"sentinel:utm_zone\"": "both read from the item document",
        "\"proj:epsg\" > TIMESTAMP('2020-01-01T00:00:00Z')": "compared with a number, a string or a boolean",
    }
    for text, message in refused.items():
        answer = client.post("/stac/search", json={"filter": text})
        assert answer.status_code == 400 and message in answer.json["detail"], (text, answer.json)
    answer = client.post("/stac/search", json={"filter": {"op": "=", "args": [{"property": "a'b"}, 1]}})
    assert answer.status_code == 400 and "unknown property \"a'b\"" in answer.json["detail"]
    answer = client.get(f"/stac/collections/{NAIP}/items?filter=\"sentinel:utm_zone\"=1")  # an S2 property
    assert answer.status_code == 400 and "no item of this collection carries it" in answer.json["detail"]
    assert client.get("/stac/search?sortby=nosuch").status_code == 400
    answer = client.get("/stac/search?sortby=proj:centroid")
    assert answer.status_code == 400 and "object" in answer.json["detail"]


def test_queryables_list_what_each_collections_items_carry(samples):
    client = samples.test_client()
    naip = client.get(f"/stac/collections/{NAIP}/queryables")
    assert naip.status_code == 200 and naip.mimetype == "application/schema+json"
    listed = naip.json["properties"]
    assert listed["naip:year"] == {"title": "naip:year", "type": "string"}
    assert listed["proj:epsg"]["type"] == "number" and listed["proj:transform"]["type"] == "array"
    assert listed["datetime"]["format"] == "date-time" and "sentinel:utm_zone" not in listed
    s2 = client.get(f"/stac/collections/{S2}/queryables").json["properties"]
    assert s2["sentinel:valid_cloud_cover"]["type"] == "boolean" and "naip:year" not in s2
    everything = client.get("/stac/queryables").json
    assert {"naip:year", "sentinel:utm_zone", "eo:cloud_cover"} <= set(everything["properties"])
    assert everything["additionalProperties"] is False


# -- written items: types, the summary's maintenance, visibility --------------------------------------
def scene(item_id: str, **props) -> dict:
    doc = json.loads(json.dumps(ITEM))
    doc["id"] = item_id
    doc["properties"].update(props)
    return doc


MIXED = {"m1": 5, "m2": "5", "m3": True, "m4": None, "m5": 2.5, "m6": [1], "m7": 5, "m8": "abc", "m9": -1,
         "m10": False}


@pytest.fixture
def mixed(live):
    """A published collection whose items carry ``x:val`` with every JSON type, or not at all."""
    token = token_for(live, "mia@m.example", "Mixed Sat")
    assert live.api("POST", "/stac/collections", token, json={"id": "mixed", "description": "m"}).status_code == 201
    for item_id, value in MIXED.items():
        doc = scene(item_id, **({} if value is None else {"x:val": value}))
        assert live.api("POST", "/stac/collections/mixed/items", token, json=doc).status_code == 201
    with live.app.app_context():
        from sqlalchemy import update

        from exchange.catalog.models import Item, ItemStatus
        from exchange.core.db import db

        db.session.execute(update(Item).values(status=ItemStatus.published))
        db.session.commit()
    return token


def search(live, body: dict, token: str | None = None):
    return live.api("POST", "/stac/search", token, json={"collections": ["mixed"], "limit": 100, **body})


def test_a_value_of_another_json_type_neither_matches_nor_errors(live, mixed):
    expect = {"\"x:val\" > 1": {"m1", "m7", "m5"}, "\"x:val\" = '5'": {"m2"}, "\"x:val\" >= 'a'": {"m8"},
              "\"x:val\" = true": {"m3"}, "\"x:val\" <> false": {"m3"}, "\"x:val\" IS NULL": {"m4"},
              "\"x:val\" IN (5, -1)": {"m1", "m7", "m9"}, "NOT (\"x:val\" < 0)": {"m1", "m7", "m5"}}
    for text, ids in expect.items():
        answer = search(live, {"filter": text})
        assert answer.status_code == 200, answer.json()
        assert {f["id"] for f in answer.json()["features"]} == ids, text
    answer = search(live, {"query": {"x:val": {"lt": 3}}})
    assert {f["id"] for f in answer.json()["features"]} == {"m5", "m9"}


def walk(live, body: dict) -> tuple[list[str], list[str]]:
    """Every id, following next links to the end, then prev links back to the start."""
    forward, answer = [], search(live, body)
    pages = [answer.json()]
    while True:
        forward += [f["id"] for f in pages[-1]["features"]]
        following = [link for link in pages[-1]["links"] if link["rel"] == "next"]
        if not following:
            break
        pages.append(live.api("POST", "/stac/search", json=following[0]["body"]).json())
    backward = [f["id"] for f in pages[-1]["features"]]
    page = pages[-1]
    while True:
        previous = [link for link in page["links"] if link["rel"] == "prev"]
        if not previous:
            break
        page = live.api("POST", "/stac/search", json=previous[0]["body"]).json()
        backward = [f["id"] for f in page["features"]] + backward
    return forward, backward


def test_sortby_mixed_and_missing_values_pages_exactly_both_ways(live, mixed):
    """Numbers first (ties by insertion), then every item whose value is not a number (nulls last)."""
    ascending = ["m9", "m5", "m1", "m7", "m2", "m3", "m4", "m6", "m8", "m10"]
    for sortby, expected in (([{"field": "x:val", "direction": "asc"}], ascending),
                             ([{"field": "properties.x:val", "direction": "desc"}], ascending[::-1])):
        forward, backward = walk(live, {"sortby": sortby, "limit": 3})
        assert forward == backward == expected


def test_the_summary_follows_every_write_and_shrinks_only_on_refresh(live, mixed, tmp_path):
    path = "/stac/collections/mixed"
    assert live.api("PUT", f"{path}/items/m1", mixed, json=scene("m1", **{"y:put": "a"})).status_code == 200
    assert live.api("PATCH", f"{path}/items/m2", mixed, json={"properties": {"y:patch": 1}}).status_code == 200
    bulk = tmp_path / "bulk.ndjson"  # the bulk path (bulk_upsert), as the importer drives it
    bulk.write_text("\n".join(json.dumps(doc) for doc in (scene("b1", **{"y:bulk": True}), scene("m3"), scene("m10"))))
    cli = live.app.test_cli_runner()
    result = cli.invoke(args=["sdx", "import-stac", str(bulk), "--collection", "mixed"])
    assert result.exit_code == 0 and "3 items written" in result.output, result.output
    listed = live.api("GET", f"{path}/queryables", mixed).json()["properties"]
    assert listed["x:val"]["type"] == ["array", "boolean", "number", "string"]
    assert (listed["y:put"]["type"], listed["y:patch"]["type"], listed["y:bulk"]["type"]) == \
        ("string", "number", "boolean")
    assert live.api("DELETE", f"{path}/items/b1", mixed).status_code == 204
    assert "y:bulk" in live.api("GET", f"{path}/queryables", mixed).json()["properties"]  # never shrunk on delete
    result = cli.invoke(args=["sdx", "refresh-queryables", "mixed"])
    assert result.exit_code == 0, result.output
    listed = live.api("GET", f"{path}/queryables", mixed).json()["properties"]
    assert "y:bulk" not in listed and listed["y:put"]["type"] == "string"
    assert listed["x:val"]["type"] == ["array", "number", "string"]  # m3 and m10 (the booleans) were replaced


def test_hidden_collections_properties_do_not_leak(live, mixed):
    secret = token_for(live, "sam@s.example", "Secret Sat")
    assert live.api("POST", "/stac/collections", secret, json={"id": "secret", "description": "s"}).status_code == 201
    doc = scene("s1", **{"secret:codename": "falcon"})
    assert live.api("POST", "/stac/collections/secret/items", secret, json=doc).status_code == 201  # a draft
    anonymous = live.api("GET", "/stac/queryables").json()["properties"]
    assert "x:val" in anonymous and "secret:codename" not in anonymous
    assert "x:val" not in live.api("GET", "/stac/collections/secret/queryables", secret).json()["properties"]
    assert "secret:codename" in live.api("GET", "/stac/queryables", secret).json()["properties"]
    answer = live.api("POST", "/stac/search", json={"filter": "\"secret:codename\" = 'falcon'"})
    assert answer.status_code == 400 and "unknown property 'secret:codename'" in answer.json()["detail"]
    answer = live.api("POST", "/stac/search", secret, json={"filter": "\"secret:codename\" = 'falcon'"})
    assert [f["id"] for f in answer.json()["features"]] == ["s1"]
