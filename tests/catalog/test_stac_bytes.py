"""The STAC API's answers, byte for byte, as recorded before the catalogue moved into its four rooms.

Each request's status, headers and body are compared with ``golden/stac_<backend>.json``. Only what
differs from run to run is normalised: the provider organisation's id, request ids, and the row keys
inside paging tokens and items' product ids (PostgreSQL's sequences do not restart when the tables
are emptied). On PostgreSQL the items table is compacted and analysed first: whether a page counts
its matches follows the planner's cost, which grows with the dead rows earlier tests left. Record again, after a deliberate change of the API, with
``SDX_RECORD_STAC_BYTES=1``.
"""
from __future__ import annotations

import base64
import difflib
import gzip
import json
import os
import re
from pathlib import Path
import pytest

from auth import service as accounts
from sqlalchemy import text

from exchange.catalog.importer import import_path
from exchange.catalog.models import Item
from exchange.core.db import db
from exchange.policy import SYSTEM
from tests.catalog.conftest import NAIP, S2, SAMPLES
from tests.conftest import service_missing

GOLDEN = Path(__file__).parent / "golden"
RECORD = os.environ.get("SDX_RECORD_STAC_BYTES") == "1"
VARYING_HEADERS = {"date", "x-request-id"}
PRODUCT_ID = re.compile(r'"sdx:product_id": ?[0-9]+')
REQUEST_ID = re.compile(r'"request_id": ?"[0-9a-f]+"')
TOKEN = re.compile(r"(token=|\\?\"token\\?\": ?\\?\")([A-Za-z0-9_-]+)")
NAIP_ITEM = "al_m_3008501_ne_16_030_20211103"

#: (name, method, path, body or None, request headers)
REQUESTS = [
    ("landing", "GET", "/stac/", None, {}),
    ("conformance", "GET", "/stac/conformance", None, {}),
    ("collections", "GET", "/stac/collections", None, {}),
    ("collection", "GET", f"/stac/collections/{NAIP}", None, {}),
    ("items page", "GET", f"/stac/collections/{NAIP}/items?limit=3", None, {}),
    ("item", "GET", f"/stac/collections/{NAIP}/items/{NAIP_ITEM}", None, {}),
    ("search GET filter sort fields", "GET",
     f"/stac/search?collections={S2}&limit=2&filter=eo:cloud_cover%20%3C%2020&sortby=-eo:cloud_cover,id"
     "&fields=id,properties.eo:cloud_cover,-links", None, {}),
    ("search GET bbox datetime", "GET",
     "/stac/search?bbox=-88.5,30.0,-85.0,32.0&datetime=2019-01-01T00:00:00Z/..&limit=4", None, {}),
    ("search POST filter sort fields", "POST", "/stac/search",
     {"collections": [S2], "limit": 3, "filter-lang": "cql2-json",
      "filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, 30]},
      "sortby": [{"field": "properties.datetime", "direction": "asc"}],
      "fields": {"include": ["id", "properties.datetime"], "exclude": ["assets"]}}, {}),
    ("search POST query intersects", "POST", "/stac/search",
     {"query": {"gsd": {"lte": 10}}, "limit": 2,
      "intersects": {"type": "Polygon", "coordinates": [[[-88, 30], [-85, 30], [-85, 32], [-88, 32], [-88, 30]]]}}, {}),
    ("search gzip", "GET", "/stac/search?limit=5", None, {"Accept-Encoding": "gzip"}),
    ("queryables", "GET", "/stac/queryables", None, {}),
    ("collection queryables", "GET", f"/stac/collections/{S2}/queryables", None, {}),
    ("bad limit", "GET", "/stac/search?limit=0", None, {}),
    ("bad token", "GET", "/stac/search?token=garbage", None, {}),
    ("bad filter", "POST", "/stac/search", {"filter": "colour = 1"}, {}),
    ("bad body", "POST", "/stac/search", "{nope", {}),
    ("no collection", "GET", "/stac/collections/nope", None, {}),
    ("no item", "GET", f"/stac/collections/{NAIP}/items/nope", None, {}),
    ("anonymous write", "POST", "/stac/collections", {"id": "x", "description": "x"}, {}),
]


def _normalise_token(match: re.Match) -> str:
    """A paging token with its row keys (last value) replaced: the rest of its format is compared."""
    token = match.group(2)
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        decoded["v"][-1] = "KEY"
    except (ValueError, KeyError, TypeError, IndexError):
        return match.group(0)
    return match.group(1) + "TOKEN:" + json.dumps(decoded, sort_keys=True).replace('"', "'")


def _normalise(text: str, org_id: str) -> str:
    text = PRODUCT_ID.sub('"sdx:product_id":0', text.replace(org_id, "ORG-ID"))
    text = REQUEST_ID.sub('"request_id":"ID"', text)
    return TOKEN.sub(_normalise_token, text)


def _answer(client, method: str, path: str, body, headers: dict, org_id: str) -> dict:
    kwargs = {"headers": headers}
    if isinstance(body, str):
        kwargs.update(data=body, content_type="application/json")
    elif body is not None:
        kwargs["json"] = body
    response = client.open(path, method=method, **kwargs)
    data = response.get_data()
    length = response.headers.get("Content-Length")
    length_is_right = length is None or int(length) == len(data)  # the length varies with the row keys
    if response.headers.get("Content-Encoding") == "gzip":  # the gzip stream carries a time: compare what it holds
        data = gzip.decompress(data)
    text = data.decode()
    following = None
    if response.is_json and isinstance(json.loads(text), dict):
        following = next((link for link in json.loads(text).get("links", []) if link.get("rel") == "next"), None)
    return {"status": response.status_code,
            "headers": [[k, length_is_right if k == "Content-Length" else _normalise(v, org_id)]
                        for k, v in response.headers.items() if k.lower() not in VARYING_HEADERS],
            "body": _normalise(text, org_id), "next": following}


def _load_in_file_order(app) -> str:
    """The sample sets, written by one process so that row keys (the tie-breaker of equal datetimes)
    follow the files on both backends; the provider's id."""
    if not SAMPLES.exists():
        service_missing(f"sample STAC data not found at {SAMPLES}")
    with app.app_context():
        org_id = accounts.create_org(SYSTEM, {"name": "Open Data", "kind": "provider"}).id
        for folder, items_file, collection in (("naip", "items.ndjson", NAIP), ("sentinel-2-l2a", "items.json", S2)):
            import_path(SYSTEM, SAMPLES / folder / "collection.json", collection_id=None, provider_org_id=org_id)
            report = import_path(SYSTEM, SAMPLES / folder / items_file, collection_id=collection,
                                 provider_org_id=org_id, workers=1)
            assert not report.failures, report.failures
        if db.engine.dialect.name == "postgresql":  # whether a page counts its matches is the planner's call
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text(f"VACUUM (FULL, ANALYZE) {Item.__tablename__}"))
    return str(org_id)


@pytest.mark.committed  # VACUUM runs on a connection of its own, which must see the loaded items
def test_stac_answers_are_byte_for_byte_as_recorded(app, backend):
    org_id = _load_in_file_order(app)
    client = app.test_client()
    answers = {}
    for name, method, path, body, headers in REQUESTS:
        answer = _answer(client, method, path, body, headers, org_id)
        answers[name] = {k: v for k, v in answer.items() if k != "next"}
        following = answer["next"]
        if following is not None and following.get("method") == "GET":  # the next page, as a client follows it
            href = following["href"].split("://", 1)[1].split("/", 1)[1]
            second = _answer(client, "GET", "/" + href, None, headers, org_id)
            answers[f"{name}, next page"] = {k: v for k, v in second.items() if k != "next"}
        elif following is not None:
            second = _answer(client, "POST", "/stac/search", following["body"], headers, org_id)
            answers[f"{name}, next page"] = {k: v for k, v in second.items() if k != "next"}
    golden = GOLDEN / f"stac_{backend}.json"
    if RECORD:
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text(json.dumps(answers, indent=1, ensure_ascii=False) + "\n")
    recorded = json.loads(golden.read_text())
    assert list(answers) == list(recorded)
    for name in recorded:
        assert answers[name] == recorded[name], f"{name}:\n" + _diff(recorded[name], answers[name])


def _diff(recorded: dict, answered: dict) -> str:
    """What changed, line by line (bodies as indented JSON when they are JSON)."""
    def lines(answer: dict) -> list[str]:
        try:
            body = json.dumps(json.loads(answer["body"]), indent=1, sort_keys=True)
        except ValueError:
            body = answer["body"]
        return [str(answer["status"]), *map(str, answer["headers"]), *body.splitlines()]
    return "\n".join(difflib.unified_diff(lines(recorded), lines(answered), "recorded", "answered", lineterm="", n=1))
