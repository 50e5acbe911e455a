"""The provider's upload page and the JSON endpoints its script calls (Flask test client, both
backends): creating a draft product (good and bad forms), who may see what (404/403/redirect), the
upload endpoints acting through the same services as the API, escaping, and the bucket's CORS rule."""
from __future__ import annotations

import hashlib
import logging
import re
import urllib.error
import urllib.request

import pytest
from sqlalchemy import func, select

from auth.models import User
from auth.policies import identity_of
from exchange.catalog import transactions
from exchange.catalog.models import Item
from exchange.core.db import db
from storage.objectstore import get_store
from tests.conftest import add_user
from tests.web.test_pages import signed_in

XSS = "<script>alert(1)</script>"
BODY = {"filename": "scene.tif", "size": 1000, "sha256": hashlib.sha256(b"x").hexdigest(),
        "media_type": "image/tiff; application=geotiff"}


def _collection(app, email: str, org: str, collection: str) -> None:
    with app.app_context():
        user = add_user(email, roles=("provider",), org=org, kind="provider")
        transactions.create_collection(identity_of(user), {"id": collection, "description": org,
                                                           "title": f"{org} scenes"})


def _product(app, email: str, collection: str, item_id: str, title: str = "A scene") -> int:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        doc = {"type": "Feature", "stac_version": "1.0.0", "id": item_id, "links": [], "assets": {},
               "geometry": {"type": "Point", "coordinates": [0.0, 0.0]}, "bbox": [0.0, 0.0, 0.0, 0.0],
               "properties": {"datetime": "2026-06-01T10:00:00Z", "title": title}}
        return transactions.create_item(identity_of(user), collection, doc).key


@pytest.fixture
def provider(app):
    """A signed-in provider of Acme with a collection, and Other Co's collection and draft product."""
    client = signed_in(app, app.test_client(), "up@acme.example", ("provider",), "provider")
    _collection(app, "owner@acme.example", "Org of up@acme.example", "acme-scenes")
    _collection(app, "other@other.example", "Other Co", "other-scenes")
    client.other_product = _product(app, "other@other.example", "other-scenes", "theirs-1")
    return client


def _csrf(client, product: int) -> str:
    page = client.get(f"/provider/upload?product={product}").get_data(as_text=True)
    return re.search(r'data-csrf="([^"]+)"', page).group(1)


def _count(app, **where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Item).filter_by(**where))


# -- the page --------------------------------------------------------------------------------------------
def test_the_page_offers_only_the_providers_own_collections_and_drafts(app, provider):
    mine = _product(app, "owner@acme.example", "acme-scenes", "mine-1", title="My draft")
    page = provider.get("/provider/upload")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'value="acme-scenes"' in html and "other-scenes" not in html
    assert "My draft" in html and f"/provider/upload?product={mine}" in html and "theirs-1" not in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_creating_a_product_makes_a_draft_and_leads_to_its_files(app, provider):
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', provider.get("/provider/upload").get_data(as_text=True)).group(1)
    answer = provider.post("/provider/upload", data={
        "csrf_token": csrf, "collection": "acme-scenes", "item_id": "S2-20260601", "title": "Morning pass",
        "datetime": "2026-06-01T10:30", "platform": "sentinel-2a"})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    with app.app_context():
        item = db.session.scalar(select(Item).where(Item.item_id == "S2-20260601"))
        assert item.status.value == "draft" and item.collection_id == "acme-scenes"
        assert item.data["properties"]["datetime"] == "2026-06-01T10:30:00Z"
        assert item.data["properties"]["sdx:footprint_from_data"] is True
        key = item.key
    assert answer.headers["Location"] == f"/provider/upload?product={key}"
    page = provider.get(answer.headers["Location"]).get_data(as_text=True)
    assert "S2-20260601" in page and "Morning pass" in page and 'id="upload-files"' in page
    assert f'data-product="{key}"' in page and "upload.js" in page


def _post_form(provider, **fields):
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', provider.get("/provider/upload").get_data(as_text=True)).group(1)
    data = {"csrf_token": csrf, "collection": "acme-scenes", "item_id": "ok-1", "title": "",
            "datetime": "2026-06-01T10:30", "platform": "", **fields}
    return provider.post("/provider/upload", data=data)


def _error_of(html: str, name: str) -> str | None:
    found = re.search(rf'id="e-{name}"[^>]*>([^<]*)<', html)
    return found.group(1) if found else None


def test_a_form_missing_fields_names_each_and_writes_nothing(app, provider):
    before = _count(app)
    answer = _post_form(provider, collection="", item_id=" ", datetime="")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert _error_of(html, "collection") and _error_of(html, "item_id") and _error_of(html, "datetime")
    assert _count(app) == before


def test_the_catalogues_refusals_are_shown_next_to_their_fields(app, provider):
    before = _count(app)
    answer = _post_form(provider, item_id="bad id/with slash", datetime="yesterday")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert _error_of(html, "item_id") and _error_of(html, "datetime")
    assert 'value="bad id/with slash"' in html  # the form keeps what was typed
    assert _count(app) == before


def test_another_organisations_collection_is_refused_as_unknown(app, provider):
    answer = _post_form(provider, collection="other-scenes")
    assert answer.status_code == 422 and _error_of(answer.get_data(as_text=True), "collection")
    assert _count(app, collection_id="other-scenes") == 1  # only their own product


def test_an_id_taken_in_the_collection_is_named(app, provider):
    _product(app, "owner@acme.example", "acme-scenes", "taken-1")
    answer = _post_form(provider, item_id="taken-1")
    assert answer.status_code == 409 and "already exists" in (_error_of(answer.get_data(as_text=True), "item_id") or "")
    assert _count(app, item_id="taken-1") == 1


def test_who_may_open_a_products_upload_page(app, provider):
    assert provider.get(f"/provider/upload?product={provider.other_product}").status_code == 404
    assert provider.get("/provider/upload?product=987654").status_code == 404
    buyer = signed_in(app, app.test_client(), "up@buyer.example", ("buyer",), "buyer")
    assert buyer.get("/provider/upload").status_code == 403
    anonymous = app.test_client().get("/provider/upload?product=1")
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login?next=")


def test_provider_text_is_escaped_on_both_views(app, provider):
    key = _product(app, "owner@acme.example", "acme-scenes", "xss-1", title=XSS)
    for path in ("/provider/upload", f"/provider/upload?product={key}"):
        html = provider.get(path).get_data(as_text=True)
        assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path


def test_the_page_speaks_chinese(app, provider):
    html = provider.get("/provider/upload?lang=zh-CN").get_data(as_text=True)
    assert "上传产品" in html and "新产品" in html


# -- the JSON endpoints ---------------------------------------------------------------------------------
def test_the_upload_endpoints_act_through_the_upload_services(app, provider):
    key = _product(app, "owner@acme.example", "acme-scenes", "json-1")
    headers = {"X-CSRFToken": _csrf(provider, key)}
    started = provider.post(f"/provider/upload/products/{key}/assets/data/uploads", json=BODY, headers=headers)
    assert started.status_code == 201, started.get_data(as_text=True)
    upload = started.json
    assert upload["multipart"] is False and upload["url"].startswith("http") and upload["asset"]["state"] == "uploading"
    uid = upload["id"]
    again = provider.post(f"/provider/upload/products/{key}/assets/data/uploads", json=BODY, headers=headers)
    assert again.status_code == 409 and again.json["upload_id"] == uid  # the open one, to resume
    got = provider.get(f"/provider/upload/uploads/{uid}")
    assert got.status_code == 200 and got.json["received_parts"] == [] and got.json["received_bytes"] == 0
    fresh = provider.post(f"/provider/upload/uploads/{uid}/parts", json={"part_numbers": [1]}, headers=headers)
    assert fresh.status_code == 200 and fresh.json["url"]
    early = provider.post(f"/provider/upload/uploads/{uid}/complete", headers=headers)
    assert early.status_code == 409 and early.mimetype == "application/problem+json"
    status = provider.get(f"/provider/upload/products/{key}/status")
    assert status.status_code == 200 and status.json["status"] == "draft"
    assert [a["key"] for a in status.json["assets"]] == ["data"]
    assert provider.delete(f"/provider/upload/uploads/{uid}", headers=headers).status_code == 204
    assert provider.get(f"/provider/upload/uploads/{uid}").status_code == 404


def test_bad_bodies_name_every_field(app, provider):
    key = _product(app, "owner@acme.example", "acme-scenes", "json-2")
    headers = {"X-CSRFToken": _csrf(provider, key)}
    answer = provider.post(f"/provider/upload/products/{key}/assets/data/uploads", headers=headers,
                           json={"filename": "../x.tif", "size": 0, "sha256": "nope", "media_type": "text/html"})
    assert answer.status_code == 422 and answer.mimetype == "application/problem+json"
    assert {e["field"] for e in answer.json["errors"]} == {"filename", "size", "sha256", "media_type"}
    parts = provider.post("/provider/upload/uploads/00000000-0000-0000-0000-000000000000/parts",
                          json={"part_numbers": [0]}, headers=headers)
    assert parts.status_code == 422


def test_without_the_csrf_header_nothing_is_started(app, provider):
    key = _product(app, "owner@acme.example", "acme-scenes", "json-3")
    answer = provider.post(f"/provider/upload/products/{key}/assets/data/uploads", json=BODY)
    assert answer.status_code == 400 and answer.mimetype == "application/problem+json"
    assert provider.get(f"/provider/upload/products/{key}/status").json["assets"] == []


def test_another_providers_product_and_upload_read_as_absent(app, provider):
    mine = _product(app, "owner@acme.example", "acme-scenes", "json-4")
    headers = {"X-CSRFToken": _csrf(provider, mine)}
    other = provider.other_product
    assert provider.post(f"/provider/upload/products/{other}/assets/data/uploads", json=BODY,
                         headers=headers).status_code == 404
    assert provider.get(f"/provider/upload/products/{other}/status").status_code == 404
    assert provider.get(f"/provider/upload/products/{other}/thumbnail").status_code == 404
    theirs = signed_in(app, app.test_client(), "up@other.example", ("provider",), "provider")  # another provider
    started = provider.post(f"/provider/upload/products/{mine}/assets/data/uploads", json=BODY, headers=headers)
    uid = started.json["id"]
    assert theirs.get(f"/provider/upload/uploads/{uid}").status_code == 404
    other_headers = {"X-CSRFToken": re.search(r'name="csrf_token" value="([^"]+)"',
                                              theirs.get("/provider/upload").get_data(as_text=True)).group(1)}
    assert theirs.post(f"/provider/upload/uploads/{uid}/complete", headers=other_headers).status_code == 404
    assert theirs.delete(f"/provider/upload/uploads/{uid}", headers=other_headers).status_code == 404
    assert provider.get(f"/provider/upload/uploads/{uid}").status_code == 200  # still there


def test_the_endpoints_refuse_buyers_and_anonymous_callers_in_json(app, provider):
    key = _product(app, "owner@acme.example", "acme-scenes", "json-5")
    buyer = signed_in(app, app.test_client(), "json@buyer.example", ("buyer",), "buyer")
    refused = buyer.get(f"/provider/upload/products/{key}/status")
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    anonymous = app.test_client().get(f"/provider/upload/products/{key}/status")
    assert anonymous.status_code == 401 and anonymous.mimetype == "application/problem+json"
    assert "reload the page" in anonymous.json["detail"]


def test_the_json_refusals_speak_the_callers_language(app, provider):
    """The 401 and 403 texts a script may show are in the page's language."""
    key = _product(app, "owner@acme.example", "acme-scenes", "json-6")
    chinese = {"Accept-Language": "zh-CN"}
    anonymous = app.test_client().get(f"/provider/upload/products/{key}/status", headers=chinese)
    assert anonymous.status_code == 401
    assert anonymous.json["title"] == "未登录" and "重新加载页面" in anonymous.json["detail"]
    buyer = signed_in(app, app.test_client(), "zh@buyer.example", ("buyer",), "buyer")
    refused = buyer.get(f"/provider/upload/products/{key}/status", headers=chinese)
    assert refused.status_code == 403
    assert refused.json["title"] == "无权访问" and refused.json["detail"] == "只有提供方可以上传产品。"


def test_the_page_links_to_a_sign_in_that_comes_back_to_it(app, provider):
    key = _product(app, "owner@acme.example", "acme-scenes", "json-7")
    html = provider.get(f"/provider/upload?product={key}").get_data(as_text=True)
    login = re.search(r'data-login="([^"]+)"', html).group(1)
    assert login == f"/login?next=/provider/upload?product%3D{key}"


# -- CORS on the products bucket ------------------------------------------------------------------------
def _preflight(endpoint: str, bucket: str, origin: str) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://{endpoint}/{bucket}/c/i/data/x.tif?uploadId=u&partNumber=1",
                                     method="OPTIONS", headers={"Origin": origin,
                                                                "Access-Control-Request-Method": "PUT"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def test_the_products_bucket_lets_the_platforms_pages_put_parts(app):
    with app.app_context():
        store = get_store()
        store.ensure_buckets()
        endpoint, bucket = app.config["S3_ENDPOINT"], store.products_bucket
        origin = app.config["PUBLIC_BASE_URL"]
    status, headers = _preflight(endpoint, bucket, origin)
    assert status == 200 and headers["Access-Control-Allow-Origin"] == origin
    assert "PUT" in headers["Access-Control-Allow-Methods"]
    status, headers = _preflight(endpoint, bucket, "http://evil.example")
    assert "Access-Control-Allow-Origin" not in headers


def test_a_store_without_bucket_cors_is_logged_not_fatal(app, caplog):
    """MinIO's community edition answers PutBucketCors with NotImplemented: its global setting applies."""
    from minio.error import S3Error

    from storage.objectstore import ObjectStore

    class NoBucketCors:
        def _execute(self, *args, **kwargs):
            raise S3Error(None, "NotImplemented", "A header you provided implies functionality that is not implemented",
                          "/sdx-products", "r", None)

    store = ObjectStore(NoBucketCors(), "sdx-products", "sdx-public", None, cors_origins=("https://sdx.example.org",))
    with caplog.at_level(logging.WARNING, logger="storage.objectstore"):  # whatever level earlier tests left
        assert store.ensure_cors() is False
    assert "MINIO_API_CORS_ALLOW_ORIGIN" in caplog.text and "https://sdx.example.org" in caplog.text
    assert b"<AllowedOrigin>https://sdx.example.org</AllowedOrigin>" in store.cors_configuration()
    assert ObjectStore(NoBucketCors(), "a", "b", None).ensure_cors() is False  # no origin: nothing asked


def test_the_products_waiting_for_files_come_a_page_at_a_time(app, provider):
    from exchange.web.upload import PAGE_SIZE

    keys = [_product(app, "owner@acme.example", "acme-scenes", f"wait-{n:02d}") for n in range(PAGE_SIZE + 1)]
    first = provider.get("/provider/upload").get_data(as_text=True)
    assert f"?product={keys[-1]}" in first and f"?product={keys[0]}\"" not in first  # newest first
    next_url = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = provider.get(next_url).get_data(as_text=True)
    assert f"?product={keys[0]}\"" in second and 'rel="next"' not in second and 'rel="prev"' in second
