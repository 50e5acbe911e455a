"""Issue 11 item 3: JSON, GeoJSON, problem details and pages are compressed when the client asks
(gzip or brotli), small answers and files sent in parts are not, and validators stay right."""
from __future__ import annotations

import gzip
import json
from itertools import islice

import brotli
import pytest

from exchange.policy import SYSTEM
from auth import service
from exchange.catalog.batches import bulk_upsert
from exchange.catalog.models import ItemStatus
from exchange.catalog.transactions import create_collection
from tests.catalog.conftest import SAMPLES
from tests.conftest import service_missing


def decoded(response) -> bytes:
    encoding = response.headers.get("Content-Encoding")
    body = response.get_data()
    assert int(response.headers["Content-Length"]) == len(body)
    return {"gzip": gzip.decompress, "br": brotli.decompress, None: bytes}[encoding](body)


@pytest.fixture
def items(app):
    """Twelve published NAIP items: a limit-10 page of GeoJSON well over the size threshold."""
    if not SAMPLES.exists():
        service_missing(f"sample STAC data not found at {SAMPLES}")
    with open(SAMPLES / "naip" / "items.ndjson") as lines:
        docs = [json.loads(line) for line in islice(lines, 12)]
    with app.app_context():
        service.create_org(SYSTEM, {"name": "Compressed Provider", "kind": "provider"})
        org = service.find_org("Compressed Provider")
        create_collection(SYSTEM, {"id": "naip", "description": "NAIP"}, owner_org_id=org.id)
        written = bulk_upsert(SYSTEM, "naip", docs, status=ItemStatus.published)
        assert written.written == len(docs), written.failures
    return docs


@pytest.mark.parametrize("path", ["/stac/search?limit=10", "/api/openapi.json", "/"])
def test_gzip_and_brotli_decode_to_the_plain_answer(client, items, path):
    plain = client.get(path)
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    for encoding in ("gzip", "br"):
        packed = client.get(path, headers={"Accept-Encoding": encoding})
        assert packed.status_code == 200
        assert packed.headers["Content-Encoding"] == encoding, path
        assert packed.headers["Content-Type"] == plain.headers["Content-Type"]
        assert "Accept-Encoding" in packed.headers["Vary"]
        assert len(packed.get_data()) < 0.7 * len(plain.get_data()), (path, encoding)
        if plain.mimetype.endswith("json"):
            assert json.loads(decoded(packed)) == plain.get_json()
        else:  # the page carries a fresh CSRF token each time, so compare its length
            assert len(decoded(packed)) == len(plain.get_data())


def test_a_search_page_is_geojson_gzip_unless_brotli_is_preferred(client, items):
    for accepted in ("gzip, deflate, br", "*"):  # "*": any encoding, so the one every client reads
        response = client.get("/stac/search?limit=10", headers={"Accept-Encoding": accepted})
        assert response.mimetype == "application/geo+json"
        assert response.headers["Content-Encoding"] == "gzip"
        assert len(json.loads(decoded(response))["features"]) == 10
    weighted = client.get("/stac/search?limit=10", headers={"Accept-Encoding": "br, gzip;q=0.5"})
    assert weighted.headers["Content-Encoding"] == "br"
    assert len(json.loads(decoded(weighted))["features"]) == 10


def test_problem_details_go_plain(client):
    """Flask-Compress compresses 2xx answers only; an error's problem details are small anyway."""
    body = {"organisation": {"name": 5, "kind": "x", "a": 1, "b": 2}, "user": {"email": 5, "password": 1}, "p": 1}
    response = client.post("/api/v1/signup", json=body, headers={"Accept-Encoding": "gzip, br"})
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert "Content-Encoding" not in response.headers and response.get_json()["errors"]


def test_small_answers_and_unwilling_clients_get_plain_bodies(client):
    small = client.get("/healthz", headers={"Accept-Encoding": "gzip, br"})
    assert small.status_code == 200 and len(small.get_data()) < 500
    assert "Content-Encoding" not in small.headers and small.get_json()
    assert "Accept-Encoding" in small.headers["Vary"]  # a cache must still tell the variants apart
    for refused in ("identity", ""):
        response = client.get("/api/openapi.json", headers={"Accept-Encoding": refused})
        assert "Content-Encoding" not in response.headers, refused
        assert response.get_json()["openapi"]


def test_head_announces_the_compressed_length_without_a_body(client):
    get = client.get("/api/openapi.json", headers={"Accept-Encoding": "gzip"})
    head = client.head("/api/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert head.status_code == 200 and head.headers["Content-Encoding"] == "gzip"
    assert head.get_data() == b""
    # gzip's header carries no timestamp here, so the same JSON compresses to the same length.
    assert head.headers["Content-Length"] == get.headers["Content-Length"]


def test_static_files_compress_whole_but_ranges_and_validators_stay_exact(client):
    path = "/api/swagger-ui/swagger-ui-bundle.js"
    plain = client.get(path)
    packed = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert packed.headers["Content-Encoding"] == "gzip" and decoded(packed) == plain.get_data()
    # Another body, another strong validator: the compressed one is answered with 304 ...
    assert packed.headers["ETag"] != plain.headers["ETag"]
    again = client.get(path, headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""
    # ... and a byte range is a range of the file itself, never of a compressed stream.
    part = client.get(path, headers={"Accept-Encoding": "gzip", "Range": "bytes=100-199"})
    assert part.status_code == 206 and "Content-Encoding" not in part.headers
    assert part.get_data() == plain.get_data()[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(plain.get_data())}"


def test_images_and_redirects_are_left_alone(client):
    icon = client.get("/api/swagger-ui/favicon-32x32.png", headers={"Accept-Encoding": "gzip"})
    assert icon.status_code == 200 and icon.mimetype == "image/png" and "Content-Encoding" not in icon.headers
    download = client.get("/stac/collections/naip/items/x/assets/data/download", headers={"Accept-Encoding": "gzip"})
    assert download.status_code in (401, 403, 404) and "Content-Encoding" not in download.headers
