"""The provider's main path in a real browser: their products, pricing one (an offer made in the
form, then on the offers page), their sales, and approving a buyer's access request — with a
screenshot and an axe-core check of each page.

The product page ``/products/<id>`` is the search pages' (another branch until they merge): the new
offer is asserted on the provider's own pages here."""
from __future__ import annotations

from auth import service
from auth.policies import identity_of
from exchange.core.db import utcnow
from exchange.sharing import access
from exchange.sharing import service as sharing
from exchange.core.db import db, unit_of_work
from exchange.metering.models import MeterEvent
from tests.browser.conftest import PHONE, assert_accessible, shot, sign_in
from tests.trading import money

ALICE = "alice@walk.example"


def _market(site) -> dict:
    """Alice's collection of two published products, one sold to Shop; a require_approval policy on
    the collection and Shop's pending request for the first product."""
    site.user(ALICE, roles=("provider",), org="Alice Imaging", kind="provider")
    site.user("buyer@shop.example", roles=("buyer",), org="Shop")
    site.user("admin@walk.example", roles=("admin",), org="Platform", kind="platform")
    with site.app.app_context():
        p1, p2 = money.products("Alice Imaging", "alice-scenes", 2)
        shop = service.find_org("Shop").id
        money.top_up(shop, 100000)
        alice = service.find_org("Alice Imaging").id
        money.sell(shop, alice, [(p1, 25000)], utcnow())
        with unit_of_work():  # a download by Shop, as the gateway records one
            db.session.add(MeterEvent(at=utcnow(), org_id=shop, provider_org_id=alice, item_key=p1,
                                      collection_id="alice-scenes", item_id="alice-scenes-0", asset_key="data",
                                      bytes_sent=5_000_000, status=200, counted=True))
        sharing.create_policy(identity_of(service.find_user("admin@walk.example")), {
            "name": "approval first", "target": {"collections": ["alice-scenes"]},
            "actions": ["license", "download"], "effect": "require_approval"}, own=False)
        request_id = access.create_request(identity_of(service.find_user("buyer@shop.example")), {
            "product_id": p1, "purpose": "research", "message": "For a flood study"})[1]["id"]
    return {"p1": p1, "p2": p2, "request": request_id}


def test_the_provider_prices_a_product_reviews_sales_and_approves_a_request(site, browser_page):
    market = _market(site)
    page = browser_page()
    sign_in(page, site.url, ALICE)

    page.goto(f"{site.url}/provider/products")
    rows = page.locator("table.stack tbody tr")
    assert rows.count() == 2 and "alice-scenes-1" in rows.first.inner_text()
    assert_accessible(page)
    shot(page, "provider-products")

    # price the second product from its row: the offer form comes with the product filled in
    rows.first.get_by_role("link", name="Price it").click()
    assert page.get_by_label("Product id").input_value() == str(market["p2"])
    page.get_by_label("Licence", exact=True).select_option("commercial-single-org@1")
    page.get_by_label("Price model").select_option("free")
    assert not page.get_by_label("Price per unit, in the currency's main unit").is_visible()  # provider.js
    page.get_by_label("Price model").select_option("per_scene")
    page.get_by_label("Price per unit, in the currency's main unit").fill("99.90")
    page.get_by_label("Currency", exact=True).select_option("EUR")
    page.get_by_role("button", name="Put on sale").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Offer"
    assert "The offer is on sale." in page.inner_text("main") and "€99.90" in page.inner_text("main")

    page.goto(f"{site.url}/provider/offers")
    offers = page.locator("table.stack tbody tr")
    assert offers.count() == 1 and "€99.90" in offers.first.inner_text()
    assert "alice-scenes/alice-scenes-1" in offers.first.inner_text()
    assert_accessible(page)
    shot(page, "provider-offers")

    page.get_by_role("link", name="Sales", exact=True).click()
    sale = page.locator("table.stack tbody tr")
    assert sale.count() == 1 and "Shop" in sale.first.inner_text() and "250.00" in sale.first.inner_text()
    assert_accessible(page)
    shot(page, "provider-sales")

    page.get_by_role("link", name="Requests to review").click()
    pending = page.locator("table.stack tbody tr")
    assert pending.count() == 1 and "Shop" in pending.first.inner_text()
    assert_accessible(page)
    shot(page, "provider-requests")
    pending.first.get_by_role("link", name="Open").click()
    assert "For a flood study" in page.inner_text("main")
    assert_accessible(page)
    shot(page, "provider-request")
    page.get_by_label("Access lasts (days)").fill("30")
    page.get_by_label("Downloads of each file").fill("3")
    page.get_by_role("button", name="Approve").click()
    assert "The request is approved" in page.inner_text("main")
    assert "approved" in page.locator("dl.facts").inner_text()
    assert_accessible(page)

    page.get_by_role("link", name="Product usage").click()
    assert page.get_by_role("img", name="Downloads by buyer organisation").is_visible()
    assert "Shop" in page.locator("table.stack tbody").inner_text()
    assert_accessible(page)
    shot(page, "provider-usage")


def test_the_provider_pages_fit_a_phone(site, browser_page):
    _market(site)
    page = browser_page(viewport=PHONE)
    sign_in(page, site.url, ALICE)
    for path in ("/provider/products", "/provider/offers", "/provider/sales", "/provider/requests", "/provider/usage"):
        page.goto(f"{site.url}{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
    shot(page, "provider-usage-phone")
