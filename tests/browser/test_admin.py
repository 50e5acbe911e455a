"""The administrator's main path in a real browser: approve an organisation that signed up (its user
can then sign in), top up a buyer's wallet (the ledger shows it), filter the audit log by action, and
look at the licence templates — each page screenshotted and checked with axe-core."""
from __future__ import annotations

from auth import service
from exchange.policy import ANONYMOUS
from tests.browser.conftest import PHONE, assert_accessible, shot, sign_in
from tests.conftest import PASSWORD


def test_admin_approves_tops_up_and_reads_the_audit_log(site, browser_page):
    site.user("root@admin.example", roles=("admin",), org="Exchange Operators", kind="platform")
    with site.app.app_context():
        service.signup(ANONYMOUS, {"organisation": {"name": "Fresh Buyers", "kind": "buyer"},
                                   "user": {"email": "fresh@buyer.example", "password": PASSWORD}})
    admin = browser_page()
    sign_in(admin, site.url, "root@admin.example")

    admin.goto(f"{site.url}/admin/orgs")
    admin.get_by_label("Account status").select_option("pending")
    admin.get_by_role("button", name="Filter").click()
    rows = admin.locator("table tbody tr")
    assert rows.count() == 1 and "Fresh Buyers" in rows.first.inner_text()
    assert_accessible(admin)
    shot(admin, "admin-orgs")
    admin.get_by_role("button", name="Approve Fresh Buyers").click()
    assert "Fresh Buyers is approved" in admin.get_by_role("status").first.inner_text()
    assert admin.locator("table tbody tr").count() == 0  # back on the pending list, now empty

    person = browser_page()
    sign_in(person, site.url, "fresh@buyer.example")
    assert "fresh@buyer.example" in person.get_by_role("banner").inner_text()  # signed in

    admin.get_by_role("navigation", name="Main").get_by_role("link", name="Ledger").click()
    admin.get_by_label("Movement").select_option("topup")
    admin.get_by_label("Organisation (name)").fill("Fresh Buyers")
    admin.get_by_label("Currency").select_option("CNY")
    admin.get_by_label("Amount").fill("500")
    admin.get_by_label("Reference").fill("bank transfer 7")
    admin.get_by_role("button", name="Move the money").click()
    assert "The wallet of Fresh Buyers is topped up by CN¥500.00" in admin.get_by_role("status").first.inner_text()
    moves = admin.locator("section[aria-labelledby=moves] tbody tr")
    assert moves.count() == 1
    assert "Fresh Buyers" in moves.first.inner_text() and "bank transfer 7" in moves.first.inner_text()
    assert admin.get_by_text("The books balance").is_visible()
    assert_accessible(admin)
    shot(admin, "admin-ledger")

    admin.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    assert admin.get_by_text("The chain is verified").is_visible()
    admin.get_by_label("Action, or a prefix ending in “.”").fill("org.approved")
    admin.get_by_role("button", name="Filter").click()
    entries = admin.locator("table tbody tr")
    assert entries.count() == 1 and "org.approved" in entries.first.inner_text()
    assert "Fresh Buyers" in entries.first.inner_text()
    assert_accessible(admin)
    shot(admin, "admin-audit")

    admin.get_by_role("navigation", name="Main").get_by_role("link", name="Licence templates").click()
    assert admin.get_by_role("link", name="open-cc-by-4.0").is_visible()
    assert_accessible(admin)
    shot(admin, "admin-licenses")


def test_admin_pages_fit_a_phone(site, browser_page):
    site.user("phone@admin.example", roles=("admin",), org="Exchange Operators", kind="platform")
    page = browser_page(viewport=PHONE)
    sign_in(page, site.url, "phone@admin.example")
    for path in ("/admin/orgs", "/admin/licenses", "/admin/ledger", "/admin/audit"):
        page.goto(f"{site.url}{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
    page.goto(f"{site.url}/admin/orgs")
    shot(page, "admin-orgs-phone")
