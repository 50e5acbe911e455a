"""A provider uploads a real GeoTIFF from the browser: straight to S3 in presigned parts (multipart
forced by small part settings), progress to 100 %, and ingest publishes the product with a preview.
Then a dropped connection: one part's PUT fails until the page gives up, the page is reloaded, the
same file chosen again, and only the missing part is sent."""
from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from auth.models import User
from auth.policies import identity_of
from exchange.catalog import transactions
from exchange.catalog.models import Item
from exchange.core.db import db
from exchange.ingest import service
from exchange.ingest.schemas import UploadRequestSchema
from tests.browser.conftest import PHONE, assert_accessible, shot, sign_in
from tests.conftest import PASSWORD, serving
from tests.ingest.conftest import UPLOAD_SETTINGS, write_geotiff

EMAIL = "seller@acme.example"
PART = re.compile(r"[?&]partNumber=(\d+)(&|$)")


@pytest.fixture
def upload_site(make_app):
    """A live SDX whose uploads use 5 MiB parts from 6 MiB on, so a 12 MB GeoTIFF goes in three parts."""
    with serving(make_app, **UPLOAD_SETTINGS) as live:
        live.user(EMAIL, roles=("provider",), org="Acme Imaging", kind="provider")
        with live.app.app_context():
            user = db.session.scalar(select(User).where(User.email == EMAIL))
            transactions.create_collection(identity_of(user), {"id": "acme-web", "description": "Acme",
                                                               "title": "Acme scenes"})
        yield live


@pytest.fixture
def geotiff(tmp_path):
    """A real GeoTIFF of about 12.5 MB (incompressible pixels): three parts of at most 5 MiB."""
    return write_geotiff(tmp_path / "scene.tif", width=2600, height=2400, noise=True)


def _item(site, item_id: str) -> Item:
    return db.session.scalar(select(Item).where(Item.item_id == item_id))


def _draft(site, item_id: str) -> int:
    """A draft product of the provider's, made through the catalogue service."""
    with site.app.app_context():
        user = db.session.scalar(select(User).where(User.email == EMAIL))
        doc = {"type": "Feature", "stac_version": "1.0.0", "id": item_id, "links": [], "assets": {},
               "geometry": {"type": "Point", "coordinates": [0.0, 0.0]}, "bbox": [0.0, 0.0, 0.0, 0.0],
               "properties": {"datetime": "2026-06-02T10:00:00Z", "sdx:footprint_from_data": True}}
        return transactions.create_item(identity_of(user), "acme-web", doc).key


def _received(site, upload_id: str) -> list[int]:
    with site.app.app_context():
        user = db.session.scalar(select(User).where(User.email == EMAIL))
        return [p.number for p in service.get_upload(identity_of(user), uuid.UUID(upload_id))["received_parts"]]


def _upload_id(page) -> str:
    return page.evaluate("Object.entries(localStorage).find(([k]) => k.startsWith('sdx-upload'))[1]")


def _requests(page, method: str, pattern) -> list[str]:
    """The URLs of the page's requests of that method whose URL matches, as they are made."""
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if r.method == method and re.search(pattern, r.url) else None)
    return seen


def test_a_provider_uploads_a_geotiff_and_it_is_published_with_a_preview(upload_site, browser_page, geotiff):
    page = browser_page()
    sign_in(page, upload_site.url, EMAIL)
    page.goto(f"{upload_site.url}/provider/upload")
    expect(page.get_by_role("heading", name="Upload a product")).to_be_visible()
    page.get_by_label("Collection").select_option("acme-web")
    page.get_by_label("Product id").fill("web-scene-1")
    page.get_by_label("Title").fill("Morning pass over the lake")
    page.get_by_label("Acquired at (UTC)").fill("2026-06-01T10:30")
    assert_accessible(page)
    page.get_by_role("button", name="Create and choose files").click()
    expect(page.get_by_role("heading", name=re.compile("Morning pass over the lake"))).to_be_visible()
    expect(page.get_by_role("button", name="Upload", exact=True)).to_be_enabled()  # the page's script runs

    page.get_by_label("Files", exact=True).set_input_files(str(geotiff))
    expect(page.get_by_label("Asset name for scene.tif")).to_have_value("data")
    expect(page.get_by_role("button", name="Resume")).to_be_hidden()
    shot(page, "upload")
    assert_accessible(page)
    puts = []
    page.on("request", lambda r: puts.append(r.url) if r.method == "PUT" and PART.search(r.url) else None)
    page.get_by_role("button", name="Upload", exact=True).click()

    expect(page.locator("#upload-outcome")).to_have_text("Published: the product is in the catalogue.",
                                                         timeout=60_000)
    expect(page.locator(".upload-bytes")).to_contain_text("100 %")
    assert page.get_by_label("Upload progress of scene.tif").evaluate("bar => bar.value") == 100
    thumbnail = page.get_by_role("img", name="Preview of the product")
    expect(thumbnail).to_be_visible()
    assert thumbnail.evaluate("img => img.complete && img.naturalWidth > 0")
    assert sorted(int(PART.search(url).group(1)) for url in puts) == [1, 2, 3]
    assert not page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('sdx-upload'))")
    shot(page, "upload-done")
    assert_accessible(page)

    with upload_site.app.app_context():
        item = _item(upload_site, "web-scene-1")
        assert item.status.value == "published"
        assert item.data["assets"]["thumbnail"]["roles"] == ["thumbnail"]
        assert item.data["assets"]["data"]["file:size"] == geotiff.stat().st_size
        assert item.geometry.geom_type == "Polygon"  # the footprint came from the data
        key = item.key

    # The published product's own page shows the preview ingest made, as a buyer would see it.
    page.goto(f"{upload_site.url}/products/{key}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Morning pass over the lake")
    preview = page.get_by_role("img", name="Preview of Morning pass over the lake")
    expect(preview).to_be_visible()
    assert preview.evaluate("img => img.complete && img.naturalWidth > 0")


def test_after_a_dropped_part_and_a_reload_only_the_missing_part_is_sent(upload_site, browser_page, geotiff):
    with upload_site.app.app_context():
        user = db.session.scalar(select(User).where(User.email == EMAIL))
        doc = {"type": "Feature", "stac_version": "1.0.0", "id": "web-scene-2", "links": [], "assets": {},
               "geometry": {"type": "Point", "coordinates": [0.0, 0.0]}, "bbox": [0.0, 0.0, 0.0, 0.0],
               "properties": {"datetime": "2026-06-02T10:00:00Z", "sdx:footprint_from_data": True}}
        product = transactions.create_item(identity_of(user), "acme-web", doc).key
    page = browser_page()
    sign_in(page, upload_site.url, EMAIL)
    page.goto(f"{upload_site.url}/provider/upload?product={product}")

    dropped = []

    def drop(route):  # the network drops every PUT of part 2
        dropped.append(route.request.url)
        route.abort("connectionreset")

    page.route(lambda url: PART.search(url) is not None and PART.search(url).group(1) == "2", drop)
    fresh_urls = _requests(page, "POST", r"/provider/upload/uploads/[^/]+/parts$")
    page.get_by_label("Files", exact=True).set_input_files(str(geotiff))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#upload-status")).to_contain_text("Interrupted", timeout=30_000)
    expect(page.get_by_role("button", name="Resume")).to_be_visible()
    expect(page.get_by_role("button", name="Abort the upload of scene.tif")).to_be_visible()
    assert len(dropped) == 4  # retried with back-off before giving up
    # A dropped PUT reads as status 0 (as a 403 without CORS headers does): each retry asks for a fresh URL.
    assert len(fresh_urls) == 3

    upload_id = page.evaluate("Object.entries(localStorage).find(([k]) => k.startsWith('sdx-upload'))[1]")
    with upload_site.app.app_context():
        user = db.session.scalar(select(User).where(User.email == EMAIL))
        for _ in range(50):  # parts 1 and 3 were sent meanwhile
            received = [p.number for p in service.get_upload(identity_of(user), uuid.UUID(upload_id))["received_parts"]]
            if received == [1, 3]:
                break
            page.wait_for_timeout(100)
        assert received == [1, 3]

    page.unroute_all()
    page.reload()
    puts = []
    page.on("request", lambda r: puts.append(r.url) if r.method == "PUT" and PART.search(r.url) else None)
    page.get_by_label("Files", exact=True).set_input_files(str(geotiff))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#upload-outcome")).to_have_text("Published: the product is in the catalogue.",
                                                         timeout=60_000)
    assert [int(PART.search(url).group(1)) for url in puts] == [2]
    expect(page.locator(".upload-bytes")).to_contain_text("100 %")
    with upload_site.app.app_context():
        assert _item(upload_site, "web-scene-2").status.value == "published"


def test_the_upload_page_reads_on_a_phone_in_chinese(upload_site, browser_page, geotiff):
    with upload_site.app.app_context():
        user = db.session.scalar(select(User).where(User.email == EMAIL))
        doc = {"type": "Feature", "stac_version": "1.0.0", "id": "web-scene-3", "links": [], "assets": {},
               "geometry": {"type": "Point", "coordinates": [0.0, 0.0]}, "bbox": [0.0, 0.0, 0.0, 0.0],
               "properties": {"datetime": "2026-06-03T10:00:00Z", "title": "湖区晨间影像"}}
        product = transactions.create_item(identity_of(user), "acme-web", doc).key
    page = browser_page(viewport=PHONE, locale="zh-CN")
    sign_in(page, upload_site.url, EMAIL)
    page.goto(f"{upload_site.url}/provider/upload?product={product}&lang=zh-CN")
    expect(page.get_by_role("heading", name="上传文件: 湖区晨间影像")).to_be_visible()
    page.get_by_label("文件", exact=True).set_input_files(str(geotiff))
    expect(page.get_by_label("scene.tif 的资产名称")).to_have_value("data")
    expect(page.locator("#upload-table tbody td").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    shot(page, "upload-phone-zh")
    assert_accessible(page)


def test_resume_in_the_same_page_sends_only_the_failed_part_once(upload_site, browser_page, geotiff):
    """S3 refuses part 2 (a readable 500) until the page gives up, while part 3 is held in flight.
    Resume shows only once part 3 has landed (no part in flight to send twice); Resume asks for fresh part URLs (they may have
    expired meanwhile) and sends part 2 alone. The start's URLs are said to have expired already, so
    the first part asks for fresh ones before any PUT."""
    product = _draft(upload_site, "web-scene-4")
    page = browser_page()
    sign_in(page, upload_site.url, EMAIL)
    page.goto(f"{upload_site.url}/provider/upload?product={product}")

    def expired(route):  # the upload's URLs expire before the first part is sent (a sleeping laptop)
        answer = route.fetch()
        body = answer.json()
        body["expires_at"] = "2000-01-01T00:00:00+00:00"
        route.fulfill(response=answer, json=body)

    refused, held = [], []

    def refuse(route):
        refused.append(route.request.url)
        route.fulfill(status=500, body="busy", headers={"Access-Control-Allow-Origin": "*"})

    page.route("**/provider/upload/products/*/assets/*/uploads", expired)
    page.route(lambda url: PART.search(url) is not None and PART.search(url).group(1) == "2", refuse)
    page.route(lambda url: PART.search(url) is not None and PART.search(url).group(1) == "3", lambda route: held.append(route))
    order = []
    page.on("request", lambda r: order.append("put" if r.method == "PUT" else "urls")
            if (r.method == "PUT" and PART.search(r.url)) or (r.method == "POST" and r.url.endswith("/parts")) else None)
    page.get_by_label("Files", exact=True).set_input_files(str(geotiff))
    page.get_by_role("button", name="Upload", exact=True).click()
    for _ in range(300):  # part 2 is tried four times, with back-off
        if len(refused) == 4:
            break
        page.wait_for_timeout(100)
    page.wait_for_timeout(500)
    assert len(refused) == 4 and len(held) == 1
    expect(page.get_by_role("button", name="Resume")).to_be_hidden()  # part 3 is still being sent
    held[0].continue_()
    expect(page.get_by_role("button", name="Resume")).to_be_visible(timeout=30_000)
    assert order[0] == "urls"  # the expired URLs were not used
    assert _received(upload_site, _upload_id(page)) == [1, 3]  # no worker was still sending
    expect(page.locator("#upload-status")).to_contain_text("part 2 could not be sent (HTTP 500)")

    page.unroute_all()
    puts = _requests(page, "PUT", PART)
    fresh = _requests(page, "POST", r"/parts$")
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#upload-outcome")).to_have_text("Published: the product is in the catalogue.",
                                                         timeout=60_000)
    assert [int(PART.search(url).group(1)) for url in puts] == [2]
    assert len(fresh) == 1  # the URLs held before Resume were dropped
    expect(page.locator(".upload-bytes")).to_contain_text("100 %")
    assert page.get_by_label("Upload progress of scene.tif").evaluate("bar => bar.value") == 100


def test_a_session_ended_before_completing_leads_to_sign_in_and_back(upload_site, browser_page, geotiff):
    """Completing is refused with a 401: the page says to sign in and reload (not Resume), links to a
    sign-in that comes back to this page, and after it the same file completes with nothing resent."""
    product = _draft(upload_site, "web-scene-5")
    page = browser_page()
    sign_in(page, upload_site.url, EMAIL)
    page.goto(f"{upload_site.url}/provider/upload?product={product}")
    page.route("**/provider/upload/uploads/*/complete", lambda route: route.fulfill(
        status=401, content_type="application/problem+json",
        body='{"title": "Unauthorized", "status": 401, "detail": "Your session has ended."}'))
    page.get_by_label("Files", exact=True).set_input_files(str(geotiff))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#upload-status")).to_contain_text("sign in, then reload this page", timeout=30_000)
    expect(page.get_by_role("button", name="Resume")).to_be_hidden()
    shot(page, "upload-signed-out")
    assert_accessible(page)

    page.unroute_all()
    page.context.clear_cookies()  # the session really is gone
    page.get_by_role("link", name="Sign in and come back to this page").click()
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{upload_site.url}/provider/upload?product={product}")
    puts = _requests(page, "PUT", PART)
    page.get_by_label("Files", exact=True).set_input_files(str(geotiff))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#upload-outcome")).to_have_text("Published: the product is in the catalogue.",
                                                         timeout=60_000)
    assert puts == []  # every part had been received before the session ended


def test_a_401_while_checking_says_to_sign_in_rather_than_waiting_silently(upload_site, browser_page, geotiff):
    product = _draft(upload_site, "web-scene-6")
    page = browser_page()
    sign_in(page, upload_site.url, EMAIL)
    page.goto(f"{upload_site.url}/provider/upload?product={product}")
    page.route("**/provider/upload/products/*/status", lambda route: route.fulfill(
        status=401, content_type="application/problem+json", body='{"title": "Unauthorized", "status": 401}'))
    page.get_by_label("Files", exact=True).set_input_files(str(geotiff))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#upload-status")).to_contain_text("sign in, then reload this page", timeout=30_000)
    link = page.get_by_role("link", name="Sign in and come back to this page")
    assert link.get_attribute("href") == f"/login?next=/provider/upload?product%3D{product}"


def test_another_assets_abandoned_upload_does_not_keep_the_page_waiting(upload_site, browser_page, geotiff):
    """An upload of asset "other" was started elsewhere and left open: the page reports on the file it
    sent and says the product waits for the other one."""
    product = _draft(upload_site, "web-scene-7")
    with upload_site.app.app_context():
        user = db.session.scalar(select(User).where(User.email == EMAIL))
        service.start_upload(identity_of(user), product, "other", UploadRequestSchema().load({
            "filename": "other.tif", "size": 1000, "sha256": "0" * 64, "media_type": "image/tiff; application=geotiff"}))
    page = browser_page()
    sign_in(page, upload_site.url, EMAIL)
    page.goto(f"{upload_site.url}/provider/upload?product={product}")
    page.get_by_label("Files", exact=True).set_input_files(str(geotiff))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#upload-outcome")).to_have_text(
        "Your files are checked; the product waits for its other files:", timeout=60_000)
    expect(page.locator("#upload-reasons li")).to_have_text(["other: uploading"])
    expect(page.locator("#upload-table tbody")).to_contain_text("ready")
