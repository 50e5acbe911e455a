"""The fields extension's include/exclude rules (github.com/stac-api-extensions/fields): the path rules
on their own, then over HTTP on /search and /collections/{c}/items, GET and POST."""
from __future__ import annotations

import copy
from urllib.parse import quote

import pytest

from exchange.catalog.fields import compile_fields
from tests.catalog.test_stac_api import ITEM, provider_token

DOC = {"type": "Feature", "stac_version": "1.0.0", "stac_extensions": [], "id": "a", "collection": "c",
       "geometry": {"type": "Point", "coordinates": [0, 0]}, "bbox": [0, 0, 0, 0], "links": [{"rel": "self"}],
       "assets": {"image": {"href": "i.tif", "type": "image/tiff"}, "thumb": {"href": "t.png"}},
       "properties": {"datetime": "2024-05-01T10:00:00Z", "gsd": 0.5, "eo:cloud_cover": 3}}
SIMPLE = {"type": "Feature", "stac_version": "1.0.0", "id": "a", "collection": "c"}
DEFAULT = {**SIMPLE, "geometry": DOC["geometry"], "bbox": DOC["bbox"], "links": DOC["links"], "assets": DOC["assets"],
           "properties": {"datetime": DOC["properties"]["datetime"]}}


@pytest.mark.parametrize("include, exclude, expected", [
    ([], [], DEFAULT),  # empty (GET "fields=", POST {} or nulls): the default set
    ([], ["geometry", "links"], {k: v for k, v in DEFAULT.items() if k not in ("geometry", "links")}),
    (None, ["links", "properties.gsd"], {**{k: v for k, v in DOC.items() if k != "links"},
                                         "properties": {"datetime": DOC["properties"]["datetime"], "eo:cloud_cover": 3}}),
    (["assets.image.href"], [], {**SIMPLE, "assets": {"image": {"href": "i.tif"}}}),
    (["properties.gsd", "eo:cloud_cover"], [], {**SIMPLE, "properties": {"gsd": 0.5, "eo:cloud_cover": 3}}),
    (["properties.gsd"], ["properties"], {**SIMPLE, "properties": {"gsd": 0.5}}),  # the more specific wins
    (["properties"], ["properties.gsd"], {**SIMPLE, "properties": {"datetime": DOC["properties"]["datetime"],
                                                                   "eo:cloud_cover": 3}}),
    (["gsd"], ["gsd"], {**SIMPLE, "properties": {"gsd": 0.5}}),  # in both lists: included
    (["links", "bbox"], ["links"], {**SIMPLE, "links": DOC["links"], "bbox": DOC["bbox"]}),
    (["geometry"], ["id", "type"], {"stac_version": "1.0.0", "collection": "c", "geometry": DOC["geometry"]}),
    (["properties.missing", "assets.none.href"], [], SIMPLE),  # no such field: no error, nothing added
    ([], ["properties"], {k: v for k, v in DEFAULT.items() if k != "properties"}),
])
def test_path_rules(include, exclude, expected):
    doc = copy.deepcopy(DOC)
    assert compile_fields(include, exclude).apply(doc) == expected
    assert doc == DOC  # the rendered item is not changed


def test_a_selection_shares_what_it_does_not_cut():
    selected = compile_fields(["assets.image.href"], ["assets.thumb"]).apply(DOC)
    assert compile_fields(None, ["links"]).apply(DOC)["geometry"] is DOC["geometry"]
    assert selected["assets"] is not DOC["assets"]


def test_an_item_with_a_range_keeps_its_range_in_the_default_set():
    doc = dict(DOC, properties={"datetime": None, "start_datetime": "a", "end_datetime": "b", "gsd": 1})
    assert compile_fields([], []).apply(doc)["properties"] == {"datetime": None, "start_datetime": "a",
                                                               "end_datetime": "b"}


@pytest.fixture
def fielded(live):
    token = provider_token(live, "fields@prov.example", "Fields Sat")
    live.api("POST", "/stac/collections", token, json={"id": "fld", "description": "F"})
    item = copy.deepcopy(ITEM)
    item["properties"]["eo:cloud_cover"] = 7
    assert live.api("POST", "/stac/collections/fld/items", token, json=item).status_code == 201
    return live, token


def _first(live, token, method: str, path: str, fields) -> dict:
    if method == "GET":
        answer = live.api("GET", f"{path}?fields={quote(fields)}", token)
    else:
        answer = live.api("POST", path, token, json={"collections": ["fld"], "fields": fields})
    assert answer.status_code == 200, answer.text
    return answer.json()["features"][0]


@pytest.mark.parametrize("path", ["/stac/search", "/stac/collections/fld/items"])
def test_get_fields_follow_the_rules(fielded, path):
    live, token = fielded
    nested = _first(live, token, "GET", path, "-properties,+properties.gsd,assets.data.href")
    assert nested["properties"] == {"gsd": 0.5} and nested["assets"] == {"data": {"href": ITEM["assets"]["data"]["href"]}}
    assert "links" not in nested and "geometry" not in nested and nested["id"] == "draft-1"
    both = _first(live, token, "GET", path, "+gsd,-gsd")
    assert both["properties"] == {"gsd": 0.5}
    default = _first(live, token, "GET", path, "-geometry,-links")
    assert set(default) == {"type", "stac_version", "id", "collection", "bbox", "assets", "properties"}
    assert default["properties"] == {"datetime": ITEM["properties"]["datetime"]}
    assert set(_first(live, token, "GET", path, "")["properties"]) == {"datetime"}
    everything = live.api("GET", path, token).json()["features"][0]
    assert {"gsd", "eo:cloud_cover", "sdx:status"} <= set(everything["properties"]) and everything["links"]


def test_post_fields_follow_the_rules(fielded):
    live, token = fielded
    post = lambda fields: _first(live, token, "POST", "/stac/search", fields)  # noqa: E731
    nested = post({"include": ["properties.gsd", "assets.data.href"], "exclude": ["properties"]})
    assert nested["properties"] == {"gsd": 0.5} and nested["assets"] == {"data": {"href": ITEM["assets"]["data"]["href"]}}
    all_but = post({"exclude": ["links", "properties.gsd"]})  # include missing: every field but the excluded
    assert "links" not in all_but and "gsd" not in all_but["properties"] and all_but["properties"]["eo:cloud_cover"] == 7
    default_but = post({"include": [], "exclude": ["links"]})  # include empty: the default set
    assert "links" not in default_but and set(default_but["properties"]) == {"datetime"}
    assert set(post({})["properties"]) == {"datetime"} and post({})["links"]
    refused = live.api("POST", "/stac/search", token, json={"fields": None})
    assert refused.status_code == 400 and "fields" in refused.json()["detail"]
    kept = post({"include": ["properties"], "exclude": ["properties.gsd", "properties.sdx:status"]})["properties"]
    assert "gsd" not in kept and "sdx:status" not in kept and kept["eo:cloud_cover"] == 7
    assert post({"include": ["links"], "exclude": ["links"]})["links"]
