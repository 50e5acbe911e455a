"""The catalogue pages in a real browser: an anonymous visitor's walk from home through the bbox
search (results listed, footprints drawn) to a product; drawing the area of interest with the mouse;
the search page in Chinese and on a phone. A product titled with a script tag shows as text."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser.conftest import PHONE, assert_accessible, shot
from tests.web.test_search import XSS, seed_catalogue

FOOTPRINTS = '.leaflet-overlay-pane path[stroke="#1a5fb4"]'


@pytest.fixture
def catalogue(site):
    with site.app.app_context():
        return seed_catalogue()


def watched(page) -> list[str]:
    """What went wrong on the page: a script dialog (an injected script ran) or a CSP block."""
    problems: list[str] = []
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.on("console", lambda message: problems.append(message.text)
            if "Content Security Policy" in message.text else None)
    return problems


def test_anonymous_visitor_searches_by_bbox_and_opens_a_product(site, catalogue, browser_page):
    demo = Path(site.app.config["SDX_VAR_DIR"]) / "demo-accounts.json"  # as `make run` leaves it
    demo.parent.mkdir(parents=True, exist_ok=True)
    demo.write_text(json.dumps({"buyer@sdx.example": {"password": "not-on-the-page"}}))
    page = browser_page()
    problems = watched(page)
    page.goto(f"{site.url}/")
    assert page.get_by_role("link", name="Optical scenes").is_visible()
    assert page.get_by_role("heading", name="Try it").is_visible() and page.get_by_text("buyer@sdx.example").is_visible()
    assert "not-on-the-page" not in page.content()
    assert page.get_by_text(XSS, exact=True).count() == 1  # shown as text, not run
    assert_accessible(page)
    shot(page, "home")

    page.goto(f"{site.url}/search")
    for label, value in (("West", "9.5"), ("South", "-1"), ("East", "13.5"), ("North", "2")):
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name="Search", exact=True).click()
    page.wait_for_load_state()
    assert page.locator("#result-count").inner_text() == "2 products found"
    assert page.locator("#results li").count() == 2
    page.wait_for_function(f"document.querySelectorAll('{FOOTPRINTS}').length >= 2")
    assert page.locator(".leaflet-overlay-pane path").count() >= 2
    assert page.get_by_text(XSS, exact=True).count() == 1
    page.locator("#results li").first.hover()
    assert page.locator('.leaflet-overlay-pane path[stroke="#a51d2d"]').count() == 1  # its footprint highlighted
    assert_accessible(page)
    shot(page, "search")

    page.get_by_role("link", name=XSS).click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == XSS
    assert page.get_by_text("Sign in to buy").is_visible()
    assert page.get_by_text("open-cc-by-4.0").is_visible()
    page.wait_for_function(f"document.querySelectorAll('{FOOTPRINTS}').length == 1")
    assert_accessible(page)
    shot(page, "product")
    assert not problems, problems


def test_drawing_a_rectangle_or_a_polygon_fills_the_form(site, catalogue, browser_page):
    page = browser_page()
    problems = watched(page)
    page.goto(f"{site.url}/search")
    box = page.locator("#search-map").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.get_by_role("button", name="Rectangle").click()
    page.mouse.move(x - 60, y - 40)
    page.mouse.down()
    page.mouse.move(x, y, steps=5)
    page.mouse.move(x + 60, y + 40, steps=5)
    page.mouse.up()
    west, south, east, north = (float(page.get_by_label(name, exact=True).input_value())
                                for name in ("West", "South", "East", "North"))
    assert west < east and south < north

    page.get_by_role("button", name="Polygon").click()
    for dx, dy in ((-50, 30), (50, 30), (0, -40)):
        page.mouse.click(x + dx, y + dy)
    page.keyboard.press("Enter")
    assert '"Polygon"' in page.locator("#f-intersects").input_value()
    assert page.get_by_label("West", exact=True).input_value() == ""
    page.get_by_role("button", name="Search", exact=True).click()
    page.wait_for_load_state()
    assert page.locator("#result-count").is_visible()
    assert not problems, problems


def test_search_in_chinese_from_the_browser_language(site, catalogue, browser_page):
    page = browser_page(locale="zh-CN")
    page.goto(f"{site.url}/search")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.get_by_label("西", exact=True).is_visible() and page.get_by_label("北", exact=True).is_visible()
    assert page.get_by_role("button", name="搜索", exact=True).is_visible()
    assert "件产品" in page.locator("#result-count").inner_text()
    shot(page, "search-zh-CN")


def test_search_and_product_pages_fit_a_phone(site, catalogue, browser_page):
    page = browser_page(viewport=PHONE)
    page.goto(f"{site.url}/search")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "search-phone")
    page.goto(f"{site.url}/products/{catalogue['opt-1']}")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "product-phone")


def test_without_the_world_map_the_search_map_still_draws_and_says_why(site, catalogue, browser_page):
    """The offline basemap cannot be fetched: a short note on the map says so, and the results'
    footprints and drawing the area of interest still work."""
    page = browser_page()
    problems = watched(page)
    page.route("**/basemap/*.geojson", lambda route: route.abort("connectionreset"))
    page.goto(f"{site.url}/search?bbox=9.5,-1,13.5,2")
    note = page.locator("#basemap-note")
    assert note.wait_for() is None and note.inner_text() == \
        "The world map could not be loaded; the results and drawing still work."
    page.wait_for_function(f"document.querySelectorAll('{FOOTPRINTS}').length >= 1")
    box = page.locator("#search-map").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.get_by_role("button", name="Rectangle").click()
    page.mouse.move(x - 60, y - 40)
    page.mouse.down()
    page.mouse.move(x + 60, y + 40, steps=5)
    page.mouse.up()
    assert page.get_by_label("West", exact=True).input_value() != ""
    assert_accessible(page)
    assert not problems, problems
