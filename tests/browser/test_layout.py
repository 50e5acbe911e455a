"""The layout every page shares, in a real browser: signing in, the language switch, the phone width,
and no script or style the Content-Security-Policy had to block."""
from __future__ import annotations

from tests.browser.conftest import PHONE, assert_accessible, shot, sign_in


def test_home_signs_in_switches_language_and_breaks_no_policy(site, browser_page):
    site.user("layout@buyer.example", roles=("buyer",))
    page = browser_page()
    blocked = []
    page.on("console", lambda message: blocked.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.goto(f"{site.url}/")
    assert page.get_by_role("heading", level=1).inner_text() == "Satellite Data Exchange"
    assert_accessible(page)
    shot(page, "home-anonymous")

    sign_in(page, site.url, "layout@buyer.example")
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="My licences").is_visible()
    page.get_by_role("link", name="简体中文").click()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.get_by_role("link", name="English").is_visible()
    assert not blocked, blocked


def test_phone_width_has_no_sideways_scrolling(site, browser_page):
    page = browser_page(viewport=PHONE)
    page.goto(f"{site.url}/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "home-phone")
