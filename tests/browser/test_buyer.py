"""The buyer's main path in a real browser against a live SDX with real S3: search → product page →
"Add to cart" → cart → quote (its per-line numbers) → checkout by keyboard only → order → "Download"
(the browser receives the stored file) → the licence has one download less."""
from __future__ import annotations

import hashlib
import io
import re

from sqlalchemy import select

from auth import service
from exchange.catalog import batches, transactions
from exchange.catalog.models import Item, ItemStatus
from exchange.core.db import db, unit_of_work
from exchange.ingest.models import AssetState, ProductAsset
from exchange.licensing.models import LicenseTemplate, Offer, PricingModel
from exchange.policy import SYSTEM
from exchange.trading import wallets
from storage.objectstore import get_store
from tests.browser.conftest import PHONE, assert_accessible, shot, sign_in
from tests.trading.orders_world import item_doc

DATA = bytes(range(256)) * 4096  # 1 MiB: the product's stored file
BBOX = "-1,-1,2,2"


def market(site) -> int:
    """A provider's published product with a stored file, on sale at 120.00 CNY a scene (10 % off for
    buyer organisations) under a licence of 2 downloads per file; a buyer with 1,000.00 CNY."""
    site.user("seller@walk.example", roles=("provider",), org="Walk Sat", kind="provider")
    site.user("buyer@walk.example", roles=("buyer",), org="Walk Buyer", kind="buyer")
    with site.app.app_context():
        provider, buyer = service.find_org("Walk Sat").id, service.find_org("Walk Buyer").id
        transactions.create_collection(SYSTEM, {"id": "orders-test", "description": "Walk scenes"},
                                       owner_org_id=provider)
        doc = item_doc("walk-scene")
        doc["properties"]["title"] = "Walk scene"
        batches.bulk_write(SYSTEM, "orders-test", [doc], method="insert", status=ItemStatus.published)
        key = db.session.scalar(select(Item.key).where(Item.item_id == "walk-scene"))
        store = get_store()
        store.client.put_object(store.products_bucket, "orders-test/walk-scene/data.tif", io.BytesIO(DATA),
                                len(DATA), content_type="image/tiff")
        with unit_of_work():
            template = LicenseTemplate(code="walk-licence", version=1, title="Walk licence", terms="Use it inside.",
                                       uses=["commercial"], downloads_per_asset=2, bytes_multiple=3)
            db.session.add(template)
            db.session.flush()
            db.session.add(Offer(provider_org_id=provider, item_key=key, template_id=template.id,
                                 pricing_model=PricingModel.per_scene, price=12_000, currency="CNY",
                                 discounts={"buyer": 10}))
            db.session.add(ProductAsset(item_key=key, asset_key="data", state=AssetState.ready, filename="walk.tif",
                                        media_type="image/tiff", roles=["data"], size=len(DATA),
                                        sha256=hashlib.sha256(DATA).hexdigest(),
                                        object_key="orders-test/walk-scene/data.tif"))
        wallets.top_up(SYSTEM, buyer, {"amount": 100_000, "currency": "CNY", "reference": "walk"})
    return key


def focus_by_tab(page, matches: str, most: int = 60) -> None:
    """Press Tab until the focused element satisfies ``matches`` (a JS expression on ``el``)."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate(f"(() => {{ const el = document.activeElement; return !!el && ({matches}); }})()"):
            return
    raise AssertionError(f"Tab never reached {matches}")


def test_buyer_finds_orders_by_keyboard_and_downloads(site, browser_page):
    key = market(site)
    page = browser_page()
    sign_in(page, site.url, "buyer@walk.example")

    # Search → product page → "Add to cart".
    page.goto(f"{site.url}/search?bbox={BBOX}")
    page.locator(f"ul#results li[data-product-id='{key}'] a.result-link").click()
    page.get_by_role("button", name="Add to cart").first.click()
    row = page.locator(f"#cart-lines tr[data-product-id='{key}']")
    assert "Walk scene" in row.inner_text() and "Walk licence" in row.inner_text()
    assert_accessible(page)
    shot(page, "buyer-cart")

    # The quote: unit price, quantity, discount and the line's total.
    page.get_by_role("button", name="Get a quote").click()
    line = page.locator(f"#quote-lines tr[data-product-id='{key}']")
    cells = line.inner_text()
    assert "120.00" in cells and "10 %" in cells and "1 scene" in cells and "per scene" in cells
    assert "108.00" in line.locator(".line-total").inner_text()
    assert "108.00" in page.locator(".quote-total").inner_text()
    assert_accessible(page)
    shot(page, "buyer-quote")

    # Checkout by keyboard only: Tab to the licence's checkbox, Space; Tab to "Place order", Enter.
    page.locator("h1").focus()
    focus_by_tab(page, "el.name === 'accept_licenses'")
    page.keyboard.press("Space")
    assert page.locator("input[name=accept_licenses]").is_checked()
    focus_by_tab(page, "el.tagName === 'BUTTON' && el.textContent.trim() === 'Place order'")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/orders/[0-9a-f-]{36}$"))
    assert "Order placed" in page.content()
    assert page.locator("#order-status").inner_text() == "fulfilled"
    remaining = page.locator(f"#order-lines tr[data-product-id='{key}'] .downloads-remaining")
    assert "2" in remaining.inner_text()
    assert_accessible(page)
    shot(page, "buyer-order")

    # Download: the browser receives the stored bytes, and the licence has one download less.
    with page.expect_download() as received:
        page.get_by_role("button", name="Download").first.click()
    download = received.value
    assert download.suggested_filename == "walk.tif"
    with open(download.path(), "rb") as fh:
        assert fh.read() == DATA
    page.reload()
    assert "1" in remaining.inner_text() and "2" not in remaining.inner_text()

    page.goto(f"{site.url}/orders")
    assert page.locator("#orders tbody tr").count() == 1 and "108.00" in page.locator("#orders").inner_text()
    assert_accessible(page)

    # On a 390 px phone the order's table reads as stacked cards: no sideways scrolling.
    order_url = page.locator("#orders a").first.get_attribute("href")
    phone = browser_page(viewport=PHONE)
    sign_in(phone, site.url, "buyer@walk.example")
    for path in (order_url, "/orders", "/cart"):
        phone.goto(f"{site.url}{path}")
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
    phone.goto(f"{site.url}{order_url}")
    shot(phone, "buyer-order-phone")
