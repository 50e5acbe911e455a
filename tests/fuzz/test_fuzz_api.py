"""Issue 8's fuzz pass: every operation of /api/openapi.json and the STAC routes, with generated input,
against a live server with real tokens. No answer may be a 5xx, every error must be a problem document
(RFC 6749 JSON on /oauth/*), and the server must still answer afterwards.

Deterministic (derandomised Hypothesis, fixed example counts) and bounded: the counts below keep the
whole module within the minute on both backends. A failure lists every distinct broken route with its
input and the server's traceback; SDX_FUZZ_REPORT=path also appends that listing to a file.
"""
from __future__ import annotations

import logging
import os
import re
from urllib.parse import quote, urlencode

import pytest
import requests
from hypothesis import strategies as st

from tests.conftest import serving
from tests.fuzz import strategies as fz
from tests.fuzz.harness import COLLECTION, ITEM, Fuzzer, TracebackCatcher, build_world, explore

#: Examples per documented operation, and per STAC phase (see the module docstring for the budget).
#: SDX_FUZZ_SCALE=10 runs a ten times longer pass, by hand.
SCALE = float(os.environ.get("SDX_FUZZ_SCALE", "1"))
PER_OPERATION = int(8 * SCALE)
SEARCH_EXAMPLES = int(70 * SCALE)
TRANSACTION_EXAMPLES = int(45 * SCALE)


@pytest.fixture
def fuzz(make_app):
    """A live server with its accounts, and a Fuzzer that sees the server's tracebacks."""
    catcher = TracebackCatcher()
    logging.getLogger().addHandler(catcher)
    try:
        with serving(make_app, RATELIMIT_TOKEN="100000 per minute", RATELIMIT_LOGIN="100000 per minute") as live:
            world = build_world(live)
            fuzzer = Fuzzer(live.url, catcher)
            yield fuzzer, world
    finally:
        logging.getLogger().removeHandler(catcher)


def no_findings(fuzzer: Fuzzer) -> None:
    """Fail, listing every distinct failure (route, input, the server's traceback), on any finding."""
    text = fuzzer.report()
    assert not fuzzer.findings, text


def role(world) -> st.SearchStrategy:
    """Mostly authenticated callers, so the routes behind the scope checks are reached."""
    real = st.sampled_from(["admin", "provider", "provider", "buyer", "anonymous"]).map(world.tokens.get)
    forged = st.sampled_from(["not.a.jwt", "e30.e30.", "x" * 5000, world.tokens["buyer"][:-4] + "AAAA",
                              world.tokens["provider"] + " extra"])
    return st.one_of(real, real, real, forged)


def path_value(world, name: str) -> st.SearchStrategy:
    """A path parameter: a real id of the world (most often), or a hostile string, URL-quoted."""
    known = world.ids.get(name, [])
    hostile = st.one_of(fz.nasty_text, st.integers().map(str), st.uuids().map(str))
    chosen = st.one_of(st.sampled_from(known), st.sampled_from(known), hostile) if known else hostile
    return chosen.map(lambda v: quote(str(v), safe=""))


# -- every documented operation --------------------------------------------------------------------
def operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                parameters = item.get("parameters", []) + operation.get("parameters", [])
                yield method.upper(), path, parameters, operation


def request_strategy(world, schemas: fz.SchemaStrategies, path: str, parameters: list, operation: dict):
    path_params = {p["name"]: path_value(world, p["name"]) for p in parameters if p["in"] == "path"}
    for name in re.findall(r"{(\w+)}", path):
        path_params.setdefault(name, path_value(world, name))
    query = {p["name"]: st.one_of(schemas.valid(p.get("schema", {})), fz.nasty_text, fz.raw_numbers.map(str))
             for p in parameters if p["in"] == "query"}
    body_schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if body_schema:
        body = st.one_of(schemas.body(body_schema).map(lambda b: ("json", b)), raw_body)
    else:
        body = st.one_of(st.just(("none", None)), st.just(("none", None)), raw_body, fz.hostile.map(lambda b: ("json", b)))
    return st.fixed_dictionaries({"path": st.fixed_dictionaries(path_params),
                                  "query": st.fixed_dictionaries({}, optional=query),
                                  "body": body, "token": role(world)})


raw_body = st.one_of(
    st.sampled_from([b"", b"{", b"[]", b"null", b'"x"', b"\xff\xfe", b"{\"a\":1,\"a\":2}", b"1" * 5000,
                     b'{"a": NaN}', b"\x00"]).map(lambda b: ("raw", b)),
    st.binary(max_size=64).map(lambda b: ("raw", b)))


def send_operation(fuzzer: Fuzzer, method: str, path: str, request: dict) -> None:
    url = path
    for name, value in request["path"].items():
        url = url.replace("{" + name + "}", value)
    kind, payload = request["body"]
    fuzzer.send(path, method, url, request["token"], params=request["query"],
                body=payload if kind == "json" else None, raw=payload if kind == "raw" else None)


def fuzz_openapi_operations(fuzzer: Fuzzer, world) -> None:
    spec = requests.get(f"{fuzzer.url}/api/openapi.json", timeout=10).json()
    schemas = fz.SchemaStrategies(spec)
    ran = 0
    for method, path, parameters, operation in operations(spec):
        strategy = request_strategy(world, schemas, path, parameters, operation)
        explore(strategy, PER_OPERATION, lambda request: send_operation(fuzzer, method, path, request))
        ran += 1
    assert ran >= 25  # the whole document was walked, not an empty one


# -- STAC item search --------------------------------------------------------------------------------
def fuzz_stac_search(fuzzer: Fuzzer, world) -> None:
    collections = ["fuzz-col"]
    explore(st.tuples(fz.search_query(collections), role(world)), SEARCH_EXAMPLES,
            lambda q: fuzzer.send("/stac/search", "GET", "/stac/search", q[1], params=q[0]))
    explore(st.tuples(fz.search_body(collections), role(world)), SEARCH_EXAMPLES,
            lambda q: fuzzer.send("/stac/search", "POST", "/stac/search", q[1], body=q[0]))
    explore(st.tuples(fz.search_query(collections), role(world)), SEARCH_EXAMPLES // 3,
            lambda q: fuzzer.send("/stac/collections/{cid}/items", "GET", "/stac/collections/fuzz-col/items",
                                  q[1], params=q[0]))


# -- STAC transactions -------------------------------------------------------------------------------
def fuzz_stac_transactions(fuzzer: Fuzzer, world) -> None:
    provider = world.tokens["provider"]
    writers = st.sampled_from([provider, provider, provider, world.tokens["admin"], world.tokens["buyer"]])
    collection = fz.collection_body(dict(COLLECTION, id="fuzz-new"))
    item = fz.item_body(dict(ITEM, id="fuzz-new-item"))
    explore(st.tuples(collection, writers), TRANSACTION_EXAMPLES,
            lambda q: fuzzer.send("/stac/collections", "POST", "/stac/collections", q[1], body=q[0]))
    explore(st.tuples(fz.collection_body(COLLECTION), writers), TRANSACTION_EXAMPLES // 2,
            lambda q: fuzzer.send("/stac/collections/{cid}", "PUT", "/stac/collections/fuzz-col", q[1], body=q[0]))
    items = st.one_of(item, st.fixed_dictionaries({"type": st.just("FeatureCollection"),
                                                   "features": st.one_of(st.lists(item, max_size=3), fz.hostile)}))
    explore(st.tuples(items, writers), TRANSACTION_EXAMPLES,
            lambda q: fuzzer.send("/stac/collections/{cid}/items", "POST", "/stac/collections/fuzz-col/items",
                                  q[1], body=q[0]))
    bulk = st.fixed_dictionaries({}, optional={
        "items": st.one_of(st.lists(item, max_size=3), st.dictionaries(fz.nasty_text, item, max_size=3), fz.hostile),
        "method": st.one_of(st.sampled_from(["insert", "upsert"]), fz.hostile)})
    explore(st.tuples(bulk, writers), TRANSACTION_EXAMPLES,
            lambda q: fuzzer.send("/stac/collections/{cid}/bulk_items", "POST", "/stac/collections/fuzz-col/bulk_items",
                                  q[1], body=q[0]))
    explore(st.tuples(fz.item_body(ITEM), writers), TRANSACTION_EXAMPLES // 2,
            lambda q: fuzzer.send("/stac/collections/{cid}/items/{iid}", "PUT",
                                  "/stac/collections/fuzz-col/items/fuzz-item", q[1], body=q[0]))
    patch = st.one_of(st.fixed_dictionaries({}, optional={"properties": fz.properties({}), "geometry": fz.geometry,
                                                          "assets": fz.assets, "bbox": fz.bbox, "id": fz.nasty_text}),
                      fz.hostile)
    explore(st.tuples(patch, writers), TRANSACTION_EXAMPLES // 2,
            lambda q: fuzzer.send("/stac/collections/{cid}/items/{iid}", "PATCH",
                                  "/stac/collections/fuzz-col/items/fuzz-item", q[1], body=q[0],
                                  content_type="application/merge-patch+json"))


# -- OAuth endpoints (not in the OpenAPI document) -----------------------------------------------------
def fuzz_oauth_endpoints(fuzzer: Fuzzer, world) -> None:
    form = st.dictionaries(st.sampled_from(["grant_type", "client_id", "client_secret", "scope", "code",
                                            "redirect_uri", "refresh_token", "token", "token_type_hint",
                                            "code_verifier", "response_type", "state", "code_challenge",
                                            "code_challenge_method"]), fz.nasty_text, max_size=6)
    explore(form, int(20 * SCALE), lambda data: fuzzer.send("/oauth/authorize", "GET", "/oauth/authorize",
                                                            params=data))
    for path in ("/oauth/token", "/oauth/revoke", "/oauth/introspect"):
        explore(form, int(20 * SCALE), lambda data: fuzzer.send(path, "POST", path, raw=urlencode(data).encode(),
                                                   content_type="application/x-www-form-urlencoded"))


def fuzz_sign_in_form(fuzzer: Fuzzer, world) -> None:
    """The sign-in form, with a real session and CSRF token most of the time, so the checks behind it run."""
    browser = requests.Session()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(f"{fuzzer.url}/login", timeout=10).text)[1]
    form = st.fixed_dictionaries(
        {"email": st.one_of(st.just("prov@fuzz.example"), fz.nasty_text), "password": fz.nasty_text,
         "csrf_token": st.one_of(st.just(csrf), st.just(csrf), fz.nasty_text)},
        optional={"next": st.one_of(fz.nasty_text, st.sampled_from(["/oauth/authorize?client_id=x", "//evil.example",
                                                                    "https://evil.example/", "/\\evil.example"]))})
    explore(form, int(20 * SCALE), lambda data: fuzzer.send(
        "/login", "POST", "/login", raw=urlencode(data).encode(), content_type="application/x-www-form-urlencoded",
        session=browser))


# -- fixed nasty inputs: the classes of the issue-8 audit, each sent once ------------------------------
DEEP = fz.nested(100_000, "dict")
NASTY_REQUESTS = [
    ("POST", "/stac/search", "provider", {"body": {"filter": DEEP}}),
    ("POST", "/stac/search", None, {"raw": ("[" * 100_000).encode()}),
    ("POST", "/stac/collections", "provider", {"body": DEEP}),
    ("POST", "/api/v1/clients", "provider", {"body": {"name": DEEP}}),
    ("POST", "/stac/search", None, {"body": {"filter": fz.nested_op(20_000), "filter-lang": "cql2-json"}}),
    ("GET", "/stac/search", None, {"params": {"filter": "(" * 20_000 + "gsd = 1" + ")" * 20_000}}),
    ("GET", "/stac/search", None, {"params": {"filter": " AND ".join(["gsd = 1"] * 5000)}}),
    ("GET", "/stac/search", None, {"params": {"intersects": '{"type":"Point","coordinates":[Infinity,NaN]}'}}),
    ("GET", "/stac/search", None, {"params": {"bbox": "-Infinity,0,NaN,1e999"}}),
    ("GET", "/stac/search", None, {"params": {"query": '{"gsd": {}}'}}),
    ("GET", "/stac/search", None, {"params": {"query": "1" * 5000}}),
    ("GET", "/stac/search", None, {"params": {"intersects": "1" * 5000}}),
    ("GET", "/stac/search", None, {"params": {"intersects": '{"type": "Nope", "coordinates": [1, 2]}'}}),
    ("POST", "/stac/search", None, {"body": {"intersects": {"type": "Nope", "coordinates": [1, 2]}}}),
    ("POST", "/stac/search", None, {"body": {"bbox": [fz.Raw("1e999999"), 0, 1, 1]}}),
    ("POST", "/stac/search", None, {"body": {"limit": fz.Raw("1" * 5000)}}),
    ("POST", "/stac/collections", "provider", {"body": {"id": ".."}}),
    ("POST", "/stac/collections", "provider", {"body": {"id": "nan-col", "keywords": fz.Raw("NaN")}}),
    ("POST", "/stac/collections", "provider", {"body": {"id": "inf-col", "summaries": {"gsd": fz.Raw("1e999999")}}}),
    ("POST", "/stac/collections", "provider", {"body": {"id": "links-col", "links": 5}}),
    ("POST", "/stac/collections", "provider", {"body": {"id": "assets-col", "assets": [1]}}),
    ("GET", "/stac/collections/%2E%2E", None, {}),
    ("GET", "/stac/collections/fuzz-col/items/%2E%2E", "provider", {}),
    ("POST", "/stac/collections/fuzz-col/items", "provider", {"body": dict(ITEM, id="..")}),
    ("POST", "/stac/collections/fuzz-col/items", "provider", {"body": dict(ITEM, id="crlf", assets={
        "data": {"href": "https://example.com/a\r\nLocation: https://evil.example/", "roles": ["data"]}})}),
    ("POST", "/stac/collections/fuzz-col/items", "provider", {"body": dict(ITEM, id="inf-geom", geometry={
        "type": "Point", "coordinates": [fz.Raw("1e999999"), 0]}, bbox=[0, 0, 0, 0])}),
    ("POST", "/stac/collections/fuzz-col/items", "provider", {"body": dict(ITEM, id="nan-prop", properties={
        **ITEM["properties"], "gsd": fz.Raw("NaN")})}),
    ("POST", "/stac/collections/fuzz-col/items", "provider", {"body": dict(ITEM, id="z", geometry={
        "type": "Point", "coordinates": [10, 50, 100]})}),
    ("PATCH", "/stac/collections/fuzz-col/items/fuzz-item", "provider", {"body": {"properties": 5}}),
    ("PATCH", "/stac/collections/fuzz-col/items/fuzz-item", "provider", {"body": {"assets": {"x": 1}}}),
    ("POST", "/api/v1/products/{pid}/assets/data/uploads", "provider", {"body": {
        "filename": "../../etc/passwd", "size": 10**30, "sha256": "0" * 64, "media_type": "image/tiff"}}),
    ("POST", "/api/v1/products/{pid}/assets/%2E%2E/uploads", "provider", {"body": {
        "filename": "a\r\nb.tif", "size": -1, "sha256": "x", "media_type": "image/tiff"}}),
    ("POST", "/api/v1/uploads/{uid}/parts", "provider", {"body": {"part_numbers": [0, -1, 10**30]}}),
    ("GET", "/stac/search", None, {"params": {"intersects": '{"type": "GeometryCollection", "geometries": ['
                                                '{"type": "Point", "coordinates": [0, 0, 0]},'
                                                '{"type": "Point", "coordinates": [0, 0]}]}'}}),
    ("GET", "/stac/collections/%00", None, {}),
    ("GET", "/stac/search", None, {"params": {"ids": "a\x00", "filter": "platform = '\x00'"}}),
    ("POST", "/stac/search", None, {"body": {"query": {"platform": {"eq": "\x00"}}}}),
    ("POST", "/stac/collections", "provider", {"body": {"id": "nul-col", "description": "a\x00b"}}),
    ("POST", "/api/v1/signup", None, {"body": {"organisation": {"name": "a\x00", "kind": "buyer"},
                                               "user": {"email": "nul@fuzz.example", "password": "0123456789ab"}}}),
    ("POST", "/oauth/token", None, {"raw": b"grant_type=client_credentials", "content_type":
                                    "application/x-www-form-urlencoded", "headers": {"Authorization": "Basic AAA6eA=="}}),
    ("GET", "/stac/search", "bogus", {}),
    ("POST", "/oauth/token", None, {"raw": b"grant_type=client_credentials", "content_type":
                                    "application/x-www-form-urlencoded", "headers": {"Authorization": "Basic %%%"}}),
    ("POST", "/oauth/token", None, {"raw": b"grant_type=client_credentials", "content_type":
                                    "application/x-www-form-urlencoded",
                                    "headers": {"Authorization": "Basic " + "QQ==" * 5000}}),
]


def fixed_nasty_inputs(fuzzer: Fuzzer, world) -> None:
    tokens = dict(world.tokens, bogus="not.a.jwt")
    for method, path, who, request in NASTY_REQUESTS:
        url = path.replace("{pid}", str(world.ids["pid"][0])).replace("{uid}", world.ids["uid"][0])
        raw = request.get("raw")
        fuzzer.send(path, method, url, tokens.get(who), params=request.get("params"), body=request.get("body"),
                    raw=raw, content_type=request.get("content_type", "application/json"),
                    headers=request.get("headers"))


# -- read back: whatever the writes let in must still render ------------------------------------------
def read_back(fuzzer: Fuzzer, world) -> None:
    """Every collection and item the fuzzed writes stored, listed and fetched by the provider and anonymously."""
    for token in (world.tokens["provider"], None):
        listed = fuzzer.send("/stac/collections", "GET", "/stac/collections", token)
        for collection in (listed.json().get("collections", []) if listed is not None and listed.ok else []):
            cid = quote(collection["id"], safe="")
            fuzzer.send("/stac/collections/{cid}", "GET", f"/stac/collections/{cid}", token)
            items = fuzzer.send("/stac/collections/{cid}/items", "GET", f"/stac/collections/{cid}/items", token,
                                params={"limit": 1000})
            for item in (items.json().get("features", []) if items is not None and items.ok else []):
                fuzzer.send("/stac/collections/{cid}/items/{iid}", "GET",
                            f"/stac/collections/{cid}/items/{quote(item['id'], safe='')}", token)
        fuzzer.send("/stac/search", "GET", "/stac/search", token, params={"limit": 1000})


# -- the pass ----------------------------------------------------------------------------------------
PHASES = [fixed_nasty_inputs, fuzz_openapi_operations, fuzz_stac_search, fuzz_stac_transactions, fuzz_oauth_endpoints,
          fuzz_sign_in_form, read_back]


def test_fuzz_pass(fuzz):
    """Every phase on one live server (one set of accounts), then one verdict listing every failure."""
    fuzzer, world = fuzz
    for phase in PHASES:
        phase(fuzzer, world)
        assert fuzzer.alive(), f"the server stopped answering during {phase.__name__}"
    no_findings(fuzzer)
