"""A buyer's holdings in a real browser: the licence held with what is left of it, the wallet, the
usage chart after downloads the metering gateway recorded, and an access request asked and withdrawn
on a product a require_approval policy holds back. A screenshot and an axe check of each page."""
from __future__ import annotations

from tests.browser.conftest import PHONE, assert_accessible, shot, sign_in
from tests.web.holdings_world import DATA, build, download, hold_back, license_product, top_up

BUYER = "analyst@holdings-browser.example"


def test_buyer_sees_licences_wallet_usage_and_asks_for_access(site, browser_page):
    site.user(BUYER, roles=("buyer",), org="Harbour Analytics")
    with site.app.app_context():
        world = build("hb", BUYER, {"scene-1": "Harbour at dawn"})
        held = build("hq", BUYER, {"secret-1": "Restricted port"})
        top_up(BUYER, 20_000)
        licence = license_product(world, "scene-1", price=2500)
        assert download(world, "scene-1") == len(DATA)
        hold_back(held)
    page = browser_page()
    blocked = []
    page.on("console", lambda message: blocked.append(message.text)
            if "Content Security Policy" in message.text else None)
    sign_in(page, site.url, BUYER)

    page.goto(f"{site.url}/licenses")
    row = page.locator(f'tr[data-licence="{licence}"]')
    assert row.get_by_role("link", name="Harbour at dawn", exact=True).is_visible()
    # The commercial template allows 3 downloads per file and 3× the product's bytes; one was taken.
    assert "2 of 3 per file" in row.locator('td[data-label="Downloads left"]').inner_text()
    assert "of 3.3 kB" in row.locator('td[data-label="Bytes left"]').inner_text()
    assert row.get_by_role("button", name="Download Harbour at dawn data").is_visible()
    assert_accessible(page)
    shot(page, "holdings-licenses")

    page.goto(f"{site.url}/wallet")
    assert "€175.00" in page.locator(".balances").inner_text()
    assert page.locator("table tbody tr").count() == 2
    assert_accessible(page)
    shot(page, "holdings-wallet")

    page.goto(f"{site.url}/usage")
    charts = page.locator("svg[role=img]")
    assert charts.count() == 2
    assert charts.first.locator("rect.bar").count() == 30
    assert page.evaluate("Math.max(...[...document.querySelectorAll('svg.chart-downloads rect.bar')]"
                         ".map(bar => bar.getBBox().height))") > 0
    assert "Downloads in all: 1 " in page.locator(".totals").inner_text()
    assert_accessible(page)
    shot(page, "holdings-usage")

    secret = held.products["secret-1"]
    page.goto(f"{site.url}/access-requests?product_id={secret}")
    assert page.get_by_label("Product id").input_value() == str(secret)
    page.get_by_label("Purpose").select_option("research")
    page.get_by_label("Message to the provider").fill("Port congestion study")
    page.get_by_role("button", name="Send the request").click()
    assert page.get_by_role("status").inner_text() == "Your access request was sent to the provider."
    assert page.locator("tr.request-pending").count() == 1
    assert_accessible(page)
    shot(page, "holdings-access-requests")
    page.locator("tr.request-pending").get_by_role("button", name="Withdraw").click()
    assert page.get_by_role("status").inner_text() == "The access request was withdrawn."
    assert page.locator("tr.request-withdrawn").count() == 1 and page.locator("tr.request-pending").count() == 0
    assert not blocked, blocked


def test_licences_and_usage_read_on_a_phone(site, browser_page):
    site.user(BUYER, roles=("buyer",))
    with site.app.app_context():
        world = build("hp", BUYER, {"scene-1": "Delta in flood"})
        top_up(BUYER, 5_000)
        license_product(world, "scene-1")
    page = browser_page(viewport=PHONE)
    sign_in(page, site.url, BUYER)
    for path in ("/licenses?lang=zh-CN", "/usage"):
        page.goto(f"{site.url}{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
    shot(page, "holdings-usage-phone-zh")
    page.goto(f"{site.url}/licenses")
    assert "每个文件剩余 3 / 共 3 次" in page.locator("table.licences").inner_text()
    shot(page, "holdings-licenses-phone-zh")
