"""Issue 8, item 1: search input is bounded before any parser sees it, against a live server.

A 2,000-deep CQL2 filter used to kill the process (a stack overflow in the CQL2 parser) and a
300-deep one to take ~15 s; geometries inside spatial operators had no vertex cap.
"""
from __future__ import annotations

import json
import math
import threading
import time

import pytest
import requests

from exchange.core import limits

PROBLEM = "application/problem+json"


def deep_not(depth: int, parenthesised: bool = True, value: int = 1) -> str:
    if parenthesised:
        return "NOT (" * depth + f"gsd > {value}" + ")" * depth
    return "NOT " * depth + f"gsd > {value}"


def deep_not_json(depth: int, value: int = 1) -> dict:
    node: dict = {"op": ">", "args": [{"property": "gsd"}, value]}
    for _ in range(depth):
        node = {"op": "not", "args": [node]}
    return node


def ring(vertices: int) -> list[list[float]]:
    """A closed ring of ``vertices`` positions (the last repeats the first)."""
    points = [[(i % 1000) / 1000, (i // 1000) / 1000 + (i % 2) / 5000] for i in range(vertices - 1)]
    return points + [points[0]]


def wkt_polygon(vertices: int) -> str:
    return "POLYGON((" + ", ".join(f"{x} {y}" for x, y in ring(vertices)) + "))"


def assert_bound(response: requests.Response, parameter: str, bound: str) -> None:
    assert response.status_code == 400, response.text[:500]
    assert response.headers["Content-Type"] == PROBLEM
    problem = response.json()
    assert problem["parameter"] == parameter and bound in problem["bound"], problem
    assert problem["errors"][0]["field"] == parameter
    assert parameter in problem["detail"] and str(problem["limit"]) in problem["detail"]


def healthz_is_prompt(url: str) -> None:
    started = time.monotonic()
    assert requests.get(f"{url}/healthz", timeout=10).status_code == 200
    assert time.monotonic() - started < 1.0


def test_a_2000_deep_filter_is_refused_and_the_server_lives_on(live):
    search = f"{live.url}/stac/search"
    for text in (deep_not(2000), deep_not(2000, parenthesised=False), "gsd > " + "+".join(["1"] * 5000),
                 "gsd = " * 5000 + "1"):
        assert_bound(requests.get(search, params={"filter": text}, timeout=10), "filter", "nesting")
        assert_bound(requests.post(search, json={"filter": text, "filter-lang": "cql2-text"}, timeout=10),
                     "filter", "nesting")
    body = '{"filter": ' + '{"op": "not", "args": [' * 2000 + '{"op": "=", "args": [{"property": "gsd"}, 1]}' \
        + "]}" * 2000 + "}"
    assert_bound(requests.post(search, data=body, headers={"Content-Type": "application/json"}, timeout=10),
                 "body", "nested")
    long_list = "TRUE AND " * 20_000 + "TRUE"  # flat, but the parser recurses along it too
    assert_bound(requests.post(search, json={"filter": long_list}, timeout=10), "filter", "nodes")
    as_text = json.dumps(deep_not_json(60))  # within the body's bound, beyond the filter's
    assert_bound(requests.get(search, params={"filter": as_text, "filter-lang": "cql2-json"}, timeout=10),
                 "filter", "nested")
    assert_bound(requests.post(search, json={"filter": deep_not_json(limits.MAX_FILTER_DEPTH)}, timeout=10),
                 "filter", "nesting")
    healthz_is_prompt(live.url)


def test_a_300_deep_filter_is_answered_at_once(live):
    search = f"{live.url}/stac/search"
    for send in (lambda: requests.get(search, params={"filter": deep_not(300)}, timeout=10),
                 lambda: requests.post(search, json={"filter": deep_not_json(300 // 2 - 3)}, timeout=10)):
        started = time.monotonic()
        response = send()
        assert time.monotonic() - started < 1.0
        assert response.status_code == 400 and response.headers["Content-Type"] == PROBLEM


def test_searches_at_the_bounds_do_not_hold_up_other_requests(live):
    """The costliest searches allowed — a filter at the depth bound, a 10,000-vertex polygon (each
    footprint tested in Python on SQLite) — several at once, must not stall /healthz."""
    from tests.catalog.conftest import load_samples

    load_samples(live.app)
    search = f"{live.url}/stac/search"
    answers: list[int] = []

    def run(value: int) -> None:  # distinct searches: no cache helps
        world = [[-180 + 360 * i / 9999, 80 * math.sin(i / 50 + value)] for i in range(9_999)] + [[-180, 0]]
        body = {"filter": deep_not(limits.MAX_FILTER_DEPTH - 2, value=value), "limit": 1000,
                "intersects": {"type": "Polygon", "coordinates": [world]}}
        answers.append(requests.post(search, json=body, timeout=60).status_code)

    workers = [threading.Thread(target=run, args=(value,)) for value in range(4)]
    for worker in workers:
        worker.start()
    time.sleep(0.2)
    healthz_is_prompt(live.url)
    still_running = len(answers) < len(workers)
    for worker in workers:
        worker.join(60)
    assert answers == [200] * 4 and still_running


def test_legitimate_nesting_is_accepted(live):
    text = "(gsd > 1 AND (NOT (gsd > 5) OR (gsd < 0.5 AND NOT gsd IS NULL))) OR S_INTERSECTS(geometry, " \
           "POLYGON((-1 -1, 1 -1, 1 1, -1 1, -1 -1)))"
    response = requests.get(f"{live.url}/stac/search", params={"filter": text}, timeout=10)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("op", ["s_intersects", "s_within", "s_contains", "s_crosses", "s_disjoint"])
def test_the_vertex_cap_applies_inside_every_spatial_operator(live, op):
    search = f"{live.url}/stac/search"
    polygon = {"type": "Polygon", "coordinates": [ring(limits.MAX_VERTICES + 1)]}
    as_json = {"op": op, "args": [{"property": "geometry"}, polygon]}
    assert_bound(requests.post(search, json={"filter": as_json}, timeout=30), "filter", "vertices")
    collection = {"type": "GeometryCollection", "geometries": [
        {"type": "Polygon", "coordinates": [ring(6_000)]}, {"type": "LineString", "coordinates": ring(6_000)}]}
    as_json = {"op": op, "args": [{"property": "geometry"}, collection]}
    assert_bound(requests.post(search, json={"filter": as_json}, timeout=30), "filter", "vertices")
    text = f"{op.upper()}(geometry, {wkt_polygon(limits.MAX_VERTICES + 1)})"
    assert_bound(requests.post(search, json={"filter": text}, timeout=30), "filter", "vertices")


def test_a_200000_vertex_polygon_is_refused_and_10000_are_accepted(live):
    search = f"{live.url}/stac/search"
    huge = {"op": "s_intersects", "args": [{"property": "geometry"},
                                           {"type": "Polygon", "coordinates": [ring(200_000)]}]}
    response = requests.post(search, json={"filter": huge}, timeout=60)
    assert response.status_code == 400 and response.json()["parameter"] == "filter"
    huge_text = f"S_INTERSECTS(geometry, {wkt_polygon(200_000)})"
    response = requests.post(search, json={"filter": huge_text}, timeout=60)
    assert response.status_code == 400 and response.json()["parameter"] == "filter"
    polygon = {"type": "Polygon", "coordinates": [ring(200_000)]}
    assert_bound(requests.post(search, json={"intersects": polygon}, timeout=60), "intersects", "vertices")
    at_cap = {"op": "s_intersects", "args": [{"property": "geometry"},
                                             {"type": "Polygon", "coordinates": [ring(limits.MAX_VERTICES)]}]}
    assert requests.post(search, json={"filter": at_cap}, timeout=60).status_code == 200


def test_json_parameters_and_lists_are_bounded(live):
    search = f"{live.url}/stac/search"
    deep = "[" * 1000 + "]" * 1000
    assert_bound(requests.get(search, params={"intersects": deep}, timeout=10), "intersects", "nested")
    assert_bound(requests.get(search, params={"query": deep}, timeout=10), "query", "nested")
    wide_query = {f"p{i}": {"eq": i} for i in range(limits.MAX_FILTER_NODES)}
    assert_bound(requests.post(search, json={"query": wide_query}, timeout=30), "query", "nodes")
    wide_filter = " AND ".join(f"gsd > {i}" for i in range(limits.MAX_FILTER_NODES // 3))
    assert_bound(requests.post(search, json={"filter": wide_filter}, timeout=30), "filter", "nodes")
    many = ",".join(f"c{i}" for i in range(limits.MAX_LIST_ITEMS + 1))
    for name in ("collections", "ids", "sortby", "fields"):
        assert_bound(requests.get(search, params={name: many}, timeout=10), name, "entries")
    sortby = [{"field": "id"}] * (limits.MAX_FIELD_ITEMS + 1)
    assert_bound(requests.post(search, json={"sortby": sortby}, timeout=10), "sortby", "entries")
    fields = {"include": [f"properties.p{i}" for i in range(limits.MAX_FIELD_ITEMS + 1)]}
    assert_bound(requests.post(search, json={"fields": fields}, timeout=10), "fields.include", "entries")
    assert requests.get(search, params={"ids": ",".join(f"i{i}" for i in range(limits.MAX_LIST_ITEMS))},
                        timeout=10).status_code == 200
    healthz_is_prompt(live.url)


def test_a_forged_deep_token_is_a_400(live):
    import base64

    token = base64.urlsafe_b64encode(b"[" * 5000).decode()
    response = requests.get(f"{live.url}/stac/search", params={"token": token}, timeout=10)
    assert response.status_code == 400 and "token" in response.json()["detail"]


@pytest.mark.parametrize("backend", ["postgresql"])  # statement_timeout is PostgreSQL's; SQLite has none
def test_a_search_over_its_time_budget_is_stopped_with_a_503(make_app, backend):
    """PostgreSQL cancels a search statement after SDX_SEARCH_TIMEOUT_MS; the caller gets a problem."""
    from tests.catalog.conftest import load_samples
    from tests.conftest import serving

    with serving(make_app, SEARCH_TIMEOUT_MS=1) as server:
        load_samples(server.app)
        world = [[-180 + 360 * i / 9999, 80 * math.sin(i / 50)] for i in range(9_999)] + [[-180, 0]]
        body = {"intersects": {"type": "Polygon", "coordinates": [world]}, "limit": 1,
                "filter": " OR ".join(f"gsd > {i / 10}" for i in range(500))}
        response = requests.post(f"{server.url}/stac/search", json=body, timeout=30)
        assert response.status_code == 503 and response.headers["Content-Type"] == PROBLEM
        assert "took too long" in response.json()["detail"]
        server.app.config["SEARCH_TIMEOUT_MS"] = 10_000  # the pooled connection is fit for the next search
        assert requests.get(f"{server.url}/stac/search", params={"limit": 1}, timeout=10).status_code == 200
