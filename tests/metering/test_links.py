"""Presigned download links: they work against the real S3, expire within 5 minutes, charge the whole
object when issued, all or none, and only for the licence's holder on the licence's product."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import requests
from sqlalchemy import func, select

from exchange.core.db import db
from exchange.metering.models import DownloadVisit, MeterEvent


def links_path(license_id: str) -> str:
    return f"/api/v1/licenses/{license_id}/links"


def charged(shop, license_id: str) -> tuple[int, int, int]:
    """(bytes used, bytes reserved, downloads counted) of a licence."""
    row = shop.read_entitlement(license_id)
    with shop.live.app.app_context():
        visits = db.session.scalar(select(func.count()).select_from(DownloadVisit).where(
            DownloadVisit.entitlement_id == uuid.UUID(license_id)))
    return row.bytes_used, row.bytes_reserved, visits


def events(shop, **where) -> list[MeterEvent]:
    with shop.live.app.app_context():
        rows = list(db.session.scalars(select(MeterEvent).filter_by(**where).order_by(MeterEvent.id)))
        db.session.expunge_all()
        return rows


def test_a_link_serves_the_bytes_from_s3_expires_within_5_minutes_and_charges_the_whole_object(shop):
    data = b"\x00\x01 satellite " * 300
    shop.stored_file("alice-1", data)
    licence = shop.entitlement("buyer", "alice-1", bytes_allowed=10_000)
    product = shop.products["alice-1"]
    before = dt.datetime.now(dt.timezone.utc)
    answer = shop.api("POST", links_path(licence), "buyer", json={"assets": [{"product_id": product, "key": "data"}]})
    assert answer.status_code == 201, answer.text
    (link,) = answer.json()["links"]
    assert (link["product_id"], link["key"], link["size"]) == (product, "data", len(data))
    assert link["sha256"] == hashlib.sha256(data).hexdigest()
    expires = dt.datetime.fromisoformat(link["expires_at"])
    assert before < expires <= dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)
    assert int(parse_qs(urlsplit(link["url"]).query)["X-Amz-Expires"][0]) <= 300
    fetched = requests.get(link["url"], timeout=10)
    assert fetched.status_code == 200 and fetched.content == data
    assert "attachment" in fetched.headers["Content-Disposition"]
    assert charged(shop, licence) == (len(data), 0, 1)
    assert answer.json()["bytes_remaining"] == 10_000 - len(data)
    (event,) = events(shop, entitlement_id=uuid.UUID(licence))
    assert (event.via, event.status, event.bytes_sent, event.counted, event.rule) == ("link", 201, len(data), True, None)


def test_links_are_all_or_none(shop):
    """The second asset does not fit in what is left: neither link is issued, nothing is charged,
    the refusal is metered once with its rule."""
    shop.stored_file("alice-1", 3000)
    shop.stored_file("alice-1", 3000, asset_key="extra", filename="extra.tif")
    licence = shop.entitlement("buyer", "alice-1", bytes_allowed=5000)
    product = shop.products["alice-1"]
    answer = shop.api("POST", links_path(licence), "buyer", json={"assets": [
        {"product_id": product, "key": "data"}, {"product_id": product, "key": "extra"}]})
    assert answer.status_code == 403, answer.text
    assert answer.json()["rule"] == "bytes-used-up"
    assert "bytes left" in answer.json()["detail"]
    assert charged(shop, licence) == (0, 0, 0)
    assert [(e.rule, e.asset_key, e.via) for e in events(shop, org_id=shop.orgs["buyer"])] == \
        [("bytes-used-up", "extra", "link")]
    one = shop.api("POST", links_path(licence), "buyer", json={"assets": [{"product_id": product, "key": "data"}]})
    assert one.status_code == 201 and charged(shop, licence) == (3000, 0, 1)
    spent = shop.api("POST", links_path(licence), "buyer", json={"assets": [{"product_id": product, "key": "extra"}]})
    assert spent.status_code == 403 and spent.json()["rule"] == "bytes-used-up"
    assert charged(shop, licence) == (3000, 0, 1)


def test_the_download_count_of_the_licence_applies(shop):
    shop.stored_file("alice-1", 100)
    licence = shop.entitlement("buyer", "alice-1", downloads_per_asset=1)
    body = {"assets": [{"product_id": shop.products["alice-1"], "key": "data"}]}
    assert shop.api("POST", links_path(licence), "buyer", json=body).status_code == 201
    with shop.live.app.app_context():  # COUNTER's 30 s window passed: a new download
        db.session.query(DownloadVisit).update(
            {"first_at": dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1),
             "last_at": dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)})
        db.session.commit()
    again = shop.api("POST", links_path(licence), "buyer", json=body)
    assert again.status_code == 403 and again.json()["rule"] == "downloads-used-up"
    assert charged(shop, licence) == (100, 0, 1)


def test_only_the_holder_on_the_licences_product(shop):
    shop.stored_file("alice-1", 100)
    shop.stored_file("bob-1", 100)
    licence = shop.entitlement("buyer", "alice-1")
    body = {"assets": [{"product_id": shop.products["alice-1"], "key": "data"}]}
    for who in ("other", "alice", "bob"):  # another buyer, the product's provider, another provider
        answer = shop.api("POST", links_path(licence), who, json=body)
        assert answer.status_code == 404, (who, answer.text)
    assert shop.api("POST", links_path(str(uuid.uuid4())), "buyer", json=body).status_code == 404
    wrong = shop.api("POST", links_path(licence), "buyer", json={"assets": [
        {"product_id": shop.products["alice-1"], "key": "data"}, {"product_id": shop.products["bob-1"], "key": "data"},
        {"product_id": shop.products["alice-1"], "key": "nope"}]})
    assert wrong.status_code == 422, wrong.text
    assert {e["field"] for e in wrong.json()["errors"]} == {"assets.1.product_id", "assets.2.key"}
    assert charged(shop, licence) == (0, 0, 0)
    assert events(shop, org_id=shop.orgs["other"]) == []


def test_an_expired_or_revoked_licence_is_refused_with_its_rule(shop):
    shop.stored_file("alice-1", 100)
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
    licence = shop.entitlement("buyer", "alice-1", valid_from=past - dt.timedelta(days=30), valid_until=past)
    answer = shop.api("POST", links_path(licence), "buyer",
                      json={"assets": [{"product_id": shop.products["alice-1"], "key": "data"}]})
    assert answer.status_code == 403 and answer.json()["rule"] == "license-expired", answer.text
    assert charged(shop, licence) == (0, 0, 0)


def test_bad_bodies_name_every_field_and_charge_nothing(shop):
    shop.stored_file("alice-1", 100)
    licence = shop.entitlement("buyer", "alice-1")
    product = shop.products["alice-1"]
    cases = [
        ({}, {"assets"}),
        ({"assets": []}, {"assets"}),
        ({"assets": [{}]}, {"assets.0.product_id", "assets.0.key"}),
        ({"assets": [{"product_id": "1", "key": 5}, {"product_id": -1, "key": ""}]},
         {"assets.0.product_id", "assets.0.key", "assets.1.product_id", "assets.1.key"}),
        ({"assets": [{"product_id": product, "key": "data"}] * 101}, {"assets"}),
        ({"assets": [{"product_id": product, "key": "data"}] * 2}, {"assets.1"}),
        ({"assets": "data", "extra": 1}, {"assets", "extra"}),
    ]
    for body, fields in cases:
        answer = shop.api("POST", links_path(licence), "buyer", json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.headers["Content-Type"].startswith("application/problem+json")
        assert {e["field"] for e in answer.json()["errors"]} == fields, body
    assert shop.api("POST", links_path(licence), "buyer", data="[").status_code in (400, 415)
    assert charged(shop, licence) == (0, 0, 0)
    assert events(shop, org_id=shop.orgs["buyer"]) == []


def test_an_idempotency_key_replays_the_first_answer_and_charges_once(shop):
    shop.stored_file("alice-1", 500)
    licence = shop.entitlement("buyer", "alice-1")
    body = {"assets": [{"product_id": shop.products["alice-1"], "key": "data"}]}
    headers = {"Idempotency-Key": "links-1"}
    first = shop.api("POST", links_path(licence), "buyer", json=body, headers=dict(headers))
    again = shop.api("POST", links_path(licence), "buyer", json=body, headers=dict(headers))
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert charged(shop, licence) == (500, 0, 1)
    other = shop.api("POST", links_path(licence), "buyer", json={"assets": body["assets"] * 1 + [
        {"product_id": shop.products["alice-1"], "key": "x"}]}, headers=dict(headers))
    assert other.status_code == 422


def test_the_same_key_sent_six_times_at_once_charges_once(shop):
    shop.stored_file("alice-1", 500)
    licence = shop.entitlement("buyer", "alice-1")
    body = {"assets": [{"product_id": shop.products["alice-1"], "key": "data"}]}

    def post(_):
        return shop.api("POST", links_path(licence), "buyer", json=body, headers={"Idempotency-Key": "at-once"})

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(post, range(6)))
    issued = [a for a in answers if a.status_code == 201]
    assert issued and all(a.status_code in (201, 409) for a in answers), [a.status_code for a in answers]
    assert all(a.json() == issued[0].json() for a in issued)  # the others are replays of the first
    assert all(a.headers["Retry-After"] for a in answers if a.status_code == 409)
    assert charged(shop, licence) == (500, 0, 1)


def test_a_licence_scoped_token_links_only_under_its_licence(shop):
    shop.stored_file("alice-1", 100)
    shop.stored_file("alice-2", 100)
    mine, other = shop.entitlement("buyer", "alice-1"), shop.entitlement("buyer", "alice-2")
    client_id, secret = shop.clients["buyer"]
    details = json.dumps([{"type": "sdx_license", "license_ids": [mine]}])
    minted = requests.post(shop.live.url + "/oauth/token", auth=(client_id, secret), timeout=10,
                           data={"grant_type": "client_credentials", "authorization_details": details})
    assert minted.status_code == 200, minted.text
    token = minted.json()["access_token"]
    refused = shop.live.api("POST", links_path(other), token,
                            json={"assets": [{"product_id": shop.products["alice-2"], "key": "data"}]})
    assert refused.status_code == 403 and refused.json()["rule"] == "license-scope"
    assert charged(shop, other) == (0, 0, 0)
    issued = shop.live.api("POST", links_path(mine), token,
                           json={"assets": [{"product_id": shop.products["alice-1"], "key": "data"}]})
    assert issued.status_code == 201 and charged(shop, mine) == (100, 0, 1)


def test_a_token_without_data_download_is_refused(shop):
    shop.stored_file("alice-1", 100)
    licence = shop.entitlement("buyer", "alice-1")
    client_id, _ = shop.clients["buyer"]
    token = shop.live.minted_token(client_id, "catalog:read usage:read")
    answer = shop.live.api("POST", links_path(licence), token,
                           json={"assets": [{"product_id": shop.products["alice-1"], "key": "data"}]})
    assert answer.status_code == 403
    assert charged(shop, licence) == (0, 0, 0)


def test_parallel_link_requests_never_pass_the_allowance(shop):
    """Ten requests at once, each for a 1000-byte object, against 2500 bytes: exactly two are issued."""
    shop.stored_file("alice-1", 1000)
    licence = shop.entitlement("buyer", "alice-1", bytes_allowed=2500, downloads_per_asset=None)
    body = {"assets": [{"product_id": shop.products["alice-1"], "key": "data"}]}
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: shop.api("POST", links_path(licence), "buyer", json=body), range(10)))
    assert sorted(a.status_code for a in answers) == [201] * 2 + [403] * 8, [a.text for a in answers]
    assert {a.json()["rule"] for a in answers if a.status_code == 403} == {"bytes-used-up"}
    used, reserved, _ = charged(shop, licence)
    assert (used, reserved) == (2000, 0)


def test_issued_links_are_in_the_usage_report(shop):
    shop.stored_file("alice-1", 1234)
    licence = shop.entitlement("buyer", "alice-1")
    body = {"assets": [{"product_id": shop.products["alice-1"], "key": "data"}]}
    assert shop.api("POST", links_path(licence), "buyer", json=body).status_code == 201
    for who in ("buyer", "alice", "admin"):
        report = shop.api("GET", "/api/v1/usage", who, params={"group_by": "product"}).json()
        assert [(i["item_id"], i["downloads"], i["bytes"]) for i in report["items"]] == [("alice-1", 1, 1234)], who
    assert shop.api("GET", "/api/v1/usage", "bob", params={"group_by": "product"}).json()["items"] == []


def test_a_refusal_under_an_idempotency_key_is_replayed_as_it_was(shop):
    shop.stored_file("alice-1", 2000)
    licence = shop.entitlement("buyer", "alice-1", bytes_allowed=1000)
    body = {"assets": [{"product_id": shop.products["alice-1"], "key": "data"}]}
    first = shop.api("POST", links_path(licence), "buyer", json=body, headers={"Idempotency-Key": "k"})
    again = shop.api("POST", links_path(licence), "buyer", json=body, headers={"Idempotency-Key": "k"})
    assert first.status_code == again.status_code == 403
    assert again.json() == first.json() and first.json()["rule"] == "bytes-used-up"
    assert again.headers["Content-Type"].startswith("application/problem+json")
    assert len(events(shop, org_id=shop.orgs["buyer"])) == 1  # the replay metered nothing new


def test_only_ready_data_assets_are_linked(shop):
    shop.stored_file("alice-1", 100, asset_key="thumbnail", filename="thumb.png", media_type="image/png",
                     roles=("thumbnail",))
    licence = shop.entitlement("buyer", "alice-1")
    answer = shop.api("POST", links_path(licence), "buyer",
                      json={"assets": [{"product_id": shop.products["alice-1"], "key": "thumbnail"}]})
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "assets.0.key"
