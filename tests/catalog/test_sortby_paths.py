"""Sort extension: a property is named by its path (``properties.datetime``), as the extension's
examples and stac-api-validator do, or by its bare name; both sort the same way."""
from __future__ import annotations

from tests.catalog.conftest import S2


def ids(answer) -> list[str]:
    assert answer.status_code == 200, answer.json
    return [feature["id"] for feature in answer.json["features"]]


def test_sortby_accepts_property_paths_in_get_and_post(samples):
    client = samples.test_client()
    by_name = ids(client.get(f"/stac/search?collections={S2}&limit=100&sortby=-eo:cloud_cover,id"))
    assert ids(client.get(f"/stac/search?collections={S2}&limit=100&sortby=-properties.eo:cloud_cover,id")) \
        == by_name
    posted = client.post("/stac/search", json={"collections": [S2], "limit": 100, "sortby": [
        {"field": "properties.eo:cloud_cover", "direction": "desc"}, {"field": "id", "direction": "asc"}]})
    assert ids(posted) == by_name
    covers = [f["properties"]["eo:cloud_cover"] for f in posted.json["features"]]
    assert covers == sorted(covers, reverse=True) and len(set(covers)) > 10

    ascending = client.get(f"/stac/collections/{S2}/items?limit=100&sortby=properties.datetime").json["features"]
    stamps = [f["properties"]["datetime"] for f in ascending]
    assert stamps == sorted(stamps) and len(stamps) == 100


def test_sortby_on_an_unknown_property_path_is_a_400_naming_it(samples):
    answer = samples.test_client().get("/stac/search?sortby=properties.no_such_field")
    assert answer.status_code == 400
    assert answer.content_type.startswith("application/problem+json")
    assert "no_such_field" in answer.json["detail"]
