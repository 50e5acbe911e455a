"""The download gateway against a live server and the real S3 store: whole files and ranges byte for
byte, conditional requests, the headers, allowances falling, COUNTER counting, refusals and streams."""
from __future__ import annotations

import hashlib
import os

import pytest
import requests
from sqlalchemy import select, update

from exchange.core.db import db, unit_of_work
from exchange.licensing.models import EntitlementStatus
from exchange.metering import gateway
from exchange.metering.models import DownloadReservation
from storage.embedded import free_ports
from tests.metering.meter import MIB, age_visits, days, entitlement, events, settled

pytestmark = pytest.mark.usefixtures("backend")


def test_a_licensee_downloads_the_whole_file_with_every_header(shop):
    data = os.urandom(3 * MIB + 17)
    path = shop.stored_file("alice-1", data)
    licence = shop.entitlement("buyer", "alice-1", bytes_allowed=10 * len(data))
    answer = shop.api("GET", path, "buyer", headers={"User-Agent": "sdx-test/1"})
    assert answer.status_code == 200, answer.text
    assert answer.content == data
    headers = answer.headers
    assert headers["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert headers["Accept-Ranges"] == "bytes" and headers["Content-Length"] == str(len(data))
    assert headers["Content-Type"] == "image/tiff" and headers["Cache-Control"] == "private, no-store"
    assert headers["Content-Disposition"] == "attachment; filename=\"scene.tif\"; filename*=UTF-8''scene.tif"
    assert "Content-Range" not in headers
    # the allowance after this response
    assert headers["SDX-License-Id"] == licence
    assert headers["SDX-Downloads-Remaining"] == "2" and headers["SDX-Bytes-Remaining"] == str(9 * len(data))
    row = entitlement(shop, licence)
    assert (row.bytes_used, row.bytes_reserved) == (len(data), 0)
    [event] = events(shop, item_id="alice-1")
    assert (event.status, event.bytes_sent, event.counted, event.method, event.rule) == (200, len(data), True, "GET",
                                                                                         None)
    assert str(event.entitlement_id) == licence and event.org_id == shop.orgs["buyer"]
    assert event.user_id == shop.users["buyer"] and event.client_id == shop.clients["buyer"][0]
    assert event.user_agent == "sdx-test/1" and len(event.client_hash) == 64 and "127.0.0.1" not in event.client_hash


def test_each_range_form_answers_exactly_those_bytes(shop):
    data = os.urandom(100_000)
    path = shop.stored_file("alice-1", data)
    licence = shop.entitlement("buyer", "alice-1", bytes_allowed=None, downloads_per_asset=None)
    expected = {"bytes=0-0": (0, 0), "bytes=10-19": (10, 19), "bytes=99990-": (99990, 99999),
                "bytes=-25": (99975, 99999), "bytes=99000-200000": (99000, 99999), "bytes=-500000": (0, 99999)}
    sent = 0
    for header, (first, last) in expected.items():
        answer = shop.api("GET", path, "buyer", headers={"Range": header})
        assert answer.status_code == 206, (header, answer.text)
        assert answer.content == data[first:last + 1], header
        assert answer.headers["Content-Range"] == f"bytes {first}-{last}/100000", header
        assert answer.headers["Content-Length"] == str(last - first + 1)
        assert "SDX-Bytes-Remaining" not in answer.headers and "SDX-Downloads-Remaining" not in answer.headers
        assert answer.headers["SDX-License-Id"] == licence
        sent += last - first + 1
    assert entitlement(shop, licence).bytes_used == sent
    ranged = events(shop, item_id="alice-1")
    assert [(e.range_start, e.range_end, e.bytes_sent, e.status) for e in ranged] == [
        (first, last, last - first + 1, 206) for first, last in expected.values()]
    # several ranges, or a Range that is not bytes=…: the whole file
    for header in ("bytes=0-9,20-29", "bytes=5-2", "items=0-4", "bytes=x-"):
        answer = shop.api("GET", path, "buyer", headers={"Range": header})
        assert answer.status_code == 200 and answer.content == data and "Content-Range" not in answer.headers, header


def test_an_unsatisfiable_range_is_416_and_charges_nothing(shop):
    path = shop.stored_file("alice-1", 1000)
    licence = shop.entitlement("buyer", "alice-1")
    for header in ("bytes=1000-", "bytes=5000-6000", "bytes=-0"):
        answer = shop.api("GET", path, "buyer", headers={"Range": header})
        assert answer.status_code == 416, header
        assert answer.headers["Content-Range"] == "bytes */1000"
        assert answer.headers["Content-Type"] == "application/problem+json" and answer.json()["status"] == 416
        assert answer.headers["Accept-Ranges"] == "bytes" and answer.headers["ETag"]
        assert answer.headers["SDX-Downloads-Remaining"] == "3" and answer.headers["SDX-Bytes-Remaining"] == "1000000"
    row = entitlement(shop, licence)
    assert (row.bytes_used, row.bytes_reserved) == (0, 0)
    assert [(e.status, e.bytes_sent, e.counted) for e in events(shop, item_id="alice-1")] == [(416, 0, False)] * 3


def test_conditional_requests_if_none_match_and_if_range(shop):
    data = os.urandom(5000)
    path = shop.stored_file("alice-1", data)
    licence = shop.entitlement("buyer", "alice-1")
    etag = f'"{hashlib.sha256(data).hexdigest()}"'
    for tag in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        answer = shop.api("GET", path, "buyer", headers={"If-None-Match": tag})
        assert answer.status_code == 304 and answer.content == b"", tag
        assert answer.headers["ETag"] == etag and answer.headers["SDX-Downloads-Remaining"] == "3"
    # before the range, and for HEAD too
    assert shop.api("GET", path, "buyer", headers={"If-None-Match": etag, "Range": "bytes=9000-"}).status_code == 304
    assert shop.api("HEAD", path, "buyer", headers={"If-None-Match": etag}).status_code == 304
    assert shop.api("GET", path, "buyer", headers={"If-None-Match": '"other"'}).content == data
    # If-Range: the range stands for this ETag; another tag or a date sends the whole file
    kept = shop.api("GET", path, "buyer", headers={"Range": "bytes=100-199", "If-Range": etag})
    assert kept.status_code == 206 and kept.content == data[100:200]
    for validator in ('"changed"', f"W/{etag}", "Fri, 27 Nov 2026 10:00:00 GMT"):
        whole = shop.api("GET", path, "buyer", headers={"Range": "bytes=100-199", "If-Range": validator})
        assert whole.status_code == 200 and whole.content == data, validator
    assert entitlement(shop, licence).bytes_used == 5000 + 100 + 3 * 5000
    assert [e.status for e in events(shop, item_id="alice-1")] == [304] * 6 + [200, 206, 200, 200, 200]


def test_head_answers_the_headers_of_the_get_and_charges_nothing(shop):
    path = shop.stored_file("alice-1", 4321, filename="scene.json", media_type="text/html")
    licence = shop.entitlement("buyer", "alice-1")
    head = shop.api("HEAD", path, "buyer")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == "4321" and head.headers["Accept-Ranges"] == "bytes"
    assert head.headers["Content-Type"] == "application/octet-stream"  # text/html is never served as such
    assert head.headers["SDX-Downloads-Remaining"] == "3" and head.headers["SDX-License-Id"] == licence
    ranged = shop.api("HEAD", path, "buyer", headers={"Range": "bytes=1-10"})
    assert ranged.status_code == 206 and ranged.headers["Content-Range"] == "bytes 1-10/4321"
    assert ranged.headers["Content-Length"] == "10"
    row = entitlement(shop, licence)
    assert (row.bytes_used, row.bytes_reserved) == (0, 0)
    assert [(e.method, e.status, e.bytes_sent) for e in events(shop, item_id="alice-1")] == [
        ("HEAD", 200, 0), ("HEAD", 206, 0)]
    # HEAD asks the same rule as GET
    refused = shop.api("HEAD", path, "other")
    assert refused.status_code == 403


def test_a_hostile_filename_is_made_safe_in_content_disposition(shop):
    path = shop.stored_file("alice-1", 100, filename='ré"port;\\%.tif')
    shop.entitlement("buyer", "alice-1")
    answer = shop.api("GET", path, "buyer")
    assert answer.status_code == 200
    assert answer.headers["Content-Disposition"] == (
        "attachment; filename=\"r__port___.tif\"; filename*=UTF-8''r%C3%A9%22port%3B%5C%25.tif")


def test_the_allowance_falls_with_each_download_and_refuses_clearly_when_used_up(shop):
    data = os.urandom(40_000)
    path = shop.stored_file("alice-1", data)
    by_bytes = shop.entitlement("buyer", "alice-1", bytes_allowed=100_000, downloads_per_asset=None)
    remaining = []
    for _ in range(2):
        answer = shop.api("GET", path, "buyer")
        assert answer.status_code == 200 and answer.content == data
        remaining.append(answer.headers["SDX-Bytes-Remaining"])
        age_visits(shop)
    assert remaining == ["60000", "20000"]
    refused = shop.api("GET", path, "buyer")
    assert refused.status_code == 403 and refused.json()["rule"] == "bytes-used-up"
    assert "20000 bytes left" in refused.json()["detail"] and by_bytes in refused.json()["detail"]
    assert refused.headers["SDX-Bytes-Remaining"] == "20000" and refused.headers["ETag"]
    # a range that fits is still served
    assert shop.api("GET", path, "buyer", headers={"Range": "bytes=0-19999"}).status_code == 206
    row = entitlement(shop, by_bytes)
    assert (row.bytes_used, row.bytes_reserved) == (100_000, 0)
    nothing_left = shop.api("GET", path, "buyer", headers={"Range": "bytes=0-0"})
    assert nothing_left.status_code == 403 and nothing_left.json()["rule"] == "bytes-used-up"
    assert "100000 of 100000 bytes used" in nothing_left.json()["detail"]
    assert nothing_left.headers["SDX-Bytes-Remaining"] == "0" and nothing_left.headers["SDX-License-Id"] == by_bytes

    path2 = shop.stored_file("alice-2", data)
    by_count = shop.entitlement("buyer", "alice-2", downloads_per_asset=2, bytes_allowed=None)
    left = []
    for _ in range(2):
        answer = shop.api("GET", path2, "buyer")
        assert answer.status_code == 200
        left.append(answer.headers["SDX-Downloads-Remaining"])
        age_visits(shop)
    assert left == ["1", "0"]
    refused = shop.api("GET", path2, "buyer")
    assert refused.status_code == 403 and refused.json()["rule"] == "downloads-used-up"
    assert f"Your licence {by_count} allows 2 download(s)" in refused.json()["detail"]
    assert refused.headers["SDX-Downloads-Remaining"] == "0"
    assert [(e.status, e.rule) for e in events(shop, item_id="alice-2")][-1] == (403, "downloads-used-up")


def test_counter_counts_repeats_within_30_seconds_and_a_resumed_range_once(shop):
    data = os.urandom(10_000)
    path = shop.stored_file("alice-1", data)
    licence = shop.entitlement("buyer", "alice-1", downloads_per_asset=5)
    first = shop.api("GET", path, "buyer")
    again = shop.api("GET", path, "buyer")
    assert first.headers["SDX-Downloads-Remaining"] == again.headers["SDX-Downloads-Remaining"] == "4"
    age_visits(shop)  # an hour later: a new download ...
    start = shop.api("GET", path, "buyer", headers={"Range": "bytes=0-3999"})
    assert start.headers["SDX-Downloads-Remaining"] == "3"
    age_visits(shop)  # ... resumed an hour later from where it stopped: the same one
    rest = shop.api("GET", path, "buyer", headers={"Range": "bytes=4000-"})
    assert rest.status_code == 206 and start.content + rest.content == data
    assert rest.headers["SDX-Downloads-Remaining"] == "3"
    assert [e.counted for e in events(shop, item_id="alice-1")] == [True, False, True, False]
    assert entitlement(shop, licence).bytes_used == 3 * 10_000
    # another user of the same organisation is another download
    shop.live.user("colleague@meter.example", roles=["buyer"], org="Org buyer")
    client_id, _ = shop.live.client("colleague@meter.example", "data:download")
    colleague = shop.live.api("GET", path, shop.live.minted_token(client_id))
    assert colleague.status_code == 200 and colleague.headers["SDX-Downloads-Remaining"] == "2"


@pytest.mark.parametrize("columns, rule", [
    ({"valid_from": days(-30), "valid_until": days(-1)}, "license-expired"),
    ({"status": EntitlementStatus.revoked}, "license-revoked"),
    ({"valid_from": days(2)}, "license-not-yet-valid"),
], ids=["expired", "revoked", "not-yet-valid"])
def test_a_licence_not_in_force_is_refused_saying_why(shop, columns, rule):
    path = shop.stored_file("alice-1", 500)
    licence = shop.entitlement("buyer", "alice-1", **columns)
    refused = shop.api("GET", path, "buyer")
    assert refused.status_code == 403 and refused.json()["rule"] == rule
    assert licence in refused.json()["detail"]
    assert refused.headers["Content-Type"] == "application/problem+json"
    [event] = events(shop, item_id="alice-1")
    assert (event.status, event.rule, event.bytes_sent, event.org_id) == (403, rule, 0, shop.orgs["buyer"])


def test_who_may_download_a_data_file(shop):
    data = os.urandom(2000)
    path = shop.stored_file("alice-1", data)
    shop.entitlement("other", "alice-1")  # another organisation's licence
    shop.entitlement("buyer", "alice-2")  # a licence on another product
    shop.entitlement("buyer", "bob-1")
    answers = {who: shop.api("GET", path, who) for who in ("buyer", "bob")}
    for who, answer in answers.items():
        assert answer.status_code == 403, who
        assert answer.json()["rule"] == "no-license" and "/api/v1/offers?product=" in answer.json()["detail"]
    anonymous = shop.api("GET", path)
    assert anonymous.status_code == 401 and anonymous.json()["rule"] == "authentication"
    # a member of a licensed organisation whose token lacks data:download
    shop.live.user("reader@meter.example", roles=["buyer"], org="Org other")
    client_id, _ = shop.live.client("reader@meter.example", "catalog:read")
    reader = shop.live.api("GET", path, shop.live.minted_token(client_id))
    assert reader.status_code == 403 and reader.json()["rule"] == "scope" and "data:download" in reader.json()["detail"]
    # the licensee, the owner and an admin get the bytes; owner and admin draw on no allowance but are metered
    for who in ("other", "alice", "admin"):
        answer = shop.api("GET", path, who)
        assert answer.status_code == 200 and answer.content == data, who
        assert ("SDX-License-Id" in answer.headers) == (who == "other")
    # an owner's token with data:download but no catalog:write
    shop.live.user("downloader@meter.example", roles=["provider"], org="Org alice", kind="provider")
    client_id, _ = shop.live.client("downloader@meter.example", "data:download")
    assert shop.live.api("GET", path, shop.live.minted_token(client_id)).content == data
    metered = [(e.org_id, e.status, e.rule, e.bytes_sent) for e in events(shop, item_id="alice-1")]
    assert metered == [
        (shop.orgs["buyer"], 403, "no-license", 0), (shop.orgs["bob"], 403, "no-license", 0),
        (None, 401, "authentication", 0), (shop.orgs["other"], 403, "scope", 0),
        (shop.orgs["other"], 200, None, 2000), (shop.orgs["alice"], 200, None, 2000),
        (shop.orgs["admin"], 200, None, 2000), (shop.orgs["alice"], 200, None, 2000)]


def test_unseen_items_missing_files_and_files_not_ready(shop):
    path = shop.stored_file("alice-1", 100)
    shop.entitlement("buyer", "alice-1")
    for bad in (path.replace("alice-1", "alice-9"), path.replace("/data/", "/nothing/"),
                path.replace("/alice/", "/bob/")):
        answer = shop.api("GET", bad, "buyer")
        assert answer.status_code == 404 and answer.headers["Content-Type"] == "application/problem+json", bad
    with shop.live.app.app_context(), unit_of_work():
        from exchange.catalog.models import Item, ItemStatus
        from exchange.ingest.models import AssetState, ProductAsset
        db.session.execute(update(Item).where(Item.item_id == "alice-2").values(status=ItemStatus.draft))
        db.session.execute(update(ProductAsset).values(state=AssetState.quarantined))
    draft = shop.stored_file("alice-2", 100)
    assert shop.api("GET", draft, "buyer").status_code == 404  # an unpublished item is not there for a buyer
    not_ready = shop.api("GET", path, "buyer")
    assert not_ready.status_code == 409 and not_ready.json()["state"] == "quarantined"
    assert "ETag" not in not_ready.headers
    # refused first: who may not download it learns nothing of the file's state
    assert shop.api("GET", path, "other").json()["rule"] == "no-license"


def test_a_metadata_file_goes_to_whoever_may_read_the_item_metered(shop):
    doc = b'{"metadata": true}' * 100
    path = shop.stored_file("alice-1", doc, asset_key="metadata", filename="meta.json",
                            media_type="application/json", roles=("metadata",))
    for who in (None, "other", "bob"):
        answer = shop.api("GET", path, who)
        assert answer.status_code == 200 and answer.content == doc, who
        assert answer.headers["Content-Type"] == "application/json" and "SDX-License-Id" not in answer.headers
        assert "Content-Encoding" not in answer.headers
    shop.live.user("meter@meter.example", roles=["buyer"], org="Org other")
    client_id, _ = shop.live.client("meter@meter.example", "usage:read")
    narrow = shop.live.api("GET", path, shop.live.minted_token(client_id))
    assert narrow.status_code == 403 and narrow.json()["rule"] == "scope"
    part = shop.api("GET", path, None, headers={"Range": "bytes=-10", "Accept-Encoding": "gzip"})
    assert part.status_code == 206 and part.content == doc[-10:]
    assert [(e.status, e.bytes_sent, e.counted) for e in events(shop, 5, item_id="alice-1")] == [
        (200, len(doc), False)] * 3 + [(403, 0, False), (206, 10, False)]


def test_too_many_streams_is_429_with_retry_after_and_a_cut_stream_is_charged_what_was_sent(shop):
    size = 48 * MIB
    path = shop.stored_file("alice-1", size)
    licence = shop.entitlement("buyer", "alice-1", bytes_allowed=10 * size)
    url = shop.live.url + path
    auth = {"Authorization": f"Bearer {shop.tokens['buyer']}"}
    streams = []
    try:
        for _ in range(4):  # SDX_DOWNLOAD_MAX_STREAMS's default
            stream = requests.get(url, headers=auth, stream=True, timeout=30)
            assert stream.status_code == 200
            assert len(next(stream.iter_content(64 * 1024))) == 64 * 1024
            streams.append(stream)
        refused = shop.api("GET", path, "buyer")
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "5"
        assert refused.json()["rule"] == "streams"
    finally:
        for stream in streams:
            stream.close()
    settled(shop)
    cut = events(shop, status=499)
    assert len(cut) == 4 and all(0 < e.bytes_sent < size for e in cut)
    row = entitlement(shop, licence)
    assert (row.bytes_used, row.bytes_reserved) == (sum(e.bytes_sent for e in cut), 0)
    assert [e.rule for e in events(shop, status=429)] == ["streams"]
    # with the streams gone, the next download goes through
    assert shop.api("GET", path, "buyer", headers={"Range": "bytes=0-99"}).status_code == 206


def test_a_store_that_is_down_is_503_and_charges_nothing(shop):
    path = shop.stored_file("alice-1", 1000)
    licence = shop.entitlement("buyer", "alice-1")
    config = shop.live.app.config  # the live server runs in this process: the next request sees it
    (dead,) = free_ports(1)
    endpoint, config["S3_ENDPOINT"] = config["S3_ENDPOINT"], f"127.0.0.1:{dead}"
    try:
        answer = shop.api("GET", path, "buyer")
    finally:
        config["S3_ENDPOINT"] = endpoint
    assert answer.status_code == 503 and answer.headers["Content-Type"] == "application/problem+json"
    assert str(dead) not in answer.text  # the store's address is not the caller's business
    row = entitlement(shop, licence)
    assert (row.bytes_used, row.bytes_reserved) == (0, 0)
    assert [(e.status, e.bytes_sent) for e in events(shop, item_id="alice-1")] == [(503, 0)]
    assert shop.api("GET", path, "buyer").status_code == 200  # back up: nothing was lost


def test_a_file_missing_from_the_store_is_502_and_charges_nothing(shop):
    path = shop.stored_file("alice-1", 1000)
    licence = shop.entitlement("buyer", "alice-1")
    with shop.live.app.app_context():
        from storage.objectstore import get_store
        store = get_store()
        store.client.remove_object(store.products_bucket, "alice/alice-1/data/scene.tif")
    answer = shop.api("GET", path, "buyer")
    assert answer.status_code == 502 and answer.headers["Content-Type"] == "application/problem+json"
    assert "'data'" in answer.json()["detail"] and "products" not in answer.text and answer.headers["ETag"]
    row = entitlement(shop, licence)
    assert (row.bytes_used, row.bytes_reserved) == (0, 0)
    assert [(e.status, e.bytes_sent) for e in events(shop, item_id="alice-1")] == [(502, 0)]


def test_a_long_stream_reports_its_progress_while_it_runs(shop, monkeypatch):
    monkeypatch.setattr(gateway, "HEARTBEAT_BYTES", 8 * MIB)  # the live server runs in this process
    size = 40 * MIB
    path = shop.stored_file("alice-1", size)
    shop.entitlement("buyer", "alice-1", bytes_allowed=2 * size)
    stream = requests.get(shop.live.url + path, headers={"Authorization": f"Bearer {shop.tokens['buyer']}"},
                          stream=True, timeout=30)
    try:
        read = 0
        for block in stream.iter_content(MIB):
            read += len(block)
            if read >= 20 * MIB:
                break
        with shop.live.app.app_context():
            [held] = db.session.scalars(select(DownloadReservation))
            assert held.settled_at is None and held.bytes_reserved == size
            # the last heartbeat: at least 8 MiB sent, no more than what left the server
            assert 8 * MIB <= held.bytes_observed < size
            db.session.remove()
    finally:
        stream.close()
    [event] = events(shop, item_id="alice-1")
    assert event.status == 499 and read <= event.bytes_sent < size
