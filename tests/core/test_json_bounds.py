"""Issue 8, item 11 (part): a JSON body of 1,000 ``[`` was a 500 (RecursionError) — now a 400 on every route.

Every JSON request body is measured (nesting, by a string-aware scan) before any parser sees it:
our own ``json_object``, flask-smorest/webargs, Authlib.
"""
from __future__ import annotations

import pytest
import requests

from exchange.core.limits import MAX_JSON_DEPTH, cql2_text_depth, json_depth

PROBLEM = "application/problem+json"
DEEP = "[" * 1000


@pytest.mark.parametrize("method, path", [
    ("POST", "/stac/search"),  # STAC, exchange.core.body.json_object
    ("POST", "/api/v1/signup"),  # platform API, flask-smorest
    ("POST", "/api/v1/clients"),  # platform API, refused before authentication
    ("PUT", "/stac/collections/c/items/i"),
    ("POST", "/oauth/token"),  # OAuth, Authlib
    ("POST", "/oauth/revoke"),
])
@pytest.mark.parametrize("media_type", ["application/json", "application/merge-patch+json"])
def test_a_deeply_nested_json_body_is_a_400_problem(live, method, path, media_type):
    for body in (DEEP, DEEP + "]" * 1000, '{"a": ' + DEEP + "]" * 1000 + "}"):
        response = requests.request(method, f"{live.url}{path}", data=body, headers={"Content-Type": media_type},
                                    timeout=10)
        assert response.status_code == 400, response.text[:300]
        assert response.headers["Content-Type"] == PROBLEM
        problem = response.json()
        assert problem["parameter"] == "body" and problem["limit"] == MAX_JSON_DEPTH
        assert "nested" in problem["detail"] and "body" in problem["detail"]
    assert requests.get(f"{live.url}/healthz", timeout=5).status_code == 200


def test_brackets_hidden_in_another_encoding_are_counted(live):
    # read byte by byte, the UTF-16 escaped quote would end the string early and the closing quote
    # start one that hides the brackets; json.loads reads UTF-16 bodies, so the scan must too
    body = ('["\\"", ' + DEEP + "]" * 1001).encode("utf-16")
    response = requests.post(f"{live.url}/stac/search", data=body, headers={"Content-Type": "application/json"},
                             timeout=10)
    assert response.status_code == 400 and response.json()["parameter"] == "body"


def test_json_within_the_bound_is_parsed_as_before(live):
    nested = "[" * (MAX_JSON_DEPTH - 2) + "]" * (MAX_JSON_DEPTH - 2)
    body = '{"organisation": {"name": "Deep Sat", "kind": "provider", "junk": ' + nested + '}}'
    response = requests.post(f"{live.url}/api/v1/signup", data=body, headers={"Content-Type": "application/json"},
                             timeout=10)
    assert response.status_code == 422 and "parameter" not in response.json()  # an ordinary validation answer
    brackets_in_strings = '{"filter": "platform = \'' + "[" * 5000 + '\'"}'
    response = requests.post(f"{live.url}/stac/search", data=brackets_in_strings,
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 200, response.text[:300]


def test_deep_brackets_in_form_bodies_are_ordinary_values(live):
    """Forms are not parsed recursively: a form value of 1,000 ``[`` is just a wrong value."""
    token = requests.post(f"{live.url}/oauth/token", data={"grant_type": DEEP, "client_id": DEEP}, timeout=10)
    assert token.status_code in (400, 401) and "error" in token.json()
    login = requests.post(f"{live.url}/login", data={"email": DEEP, "password": DEEP}, timeout=10)
    assert login.status_code in (400, 401)


def test_json_depth_skips_strings_and_escapes():
    assert json_depth('{"a": [1, {"b": "[[[["}], "c": "\\"]]"}') == 3
    assert json_depth(b"[" * 1000) == 1000
    assert json_depth('"unterminated [[[[') == 0
    assert json_depth("") == 0


@pytest.mark.parametrize("text, depth", [
    ("gsd > 1", 1),
    ("NOT (NOT (gsd > 1))", 3),
    ("NOT NOT NOT gsd > 1", 4),
    ("gsd > 1 + 1 + 1", 3),
    ("x = y = z", 2),
    ("platform = '((((NOT NOT' AND \"we(ird\" > 1", 1),
    ("S_INTERSECTS(geometry, POLYGON((-1 -2, -3 -4, 5 -6, -1 -2)))", 3),
    ("NOT a = 1 AND NOT b = 2 AND NOT c IS NOT NULL", 3),
])
def test_cql2_text_depth_estimates_the_parsers_nesting(text, depth):
    assert cql2_text_depth(text) == depth
