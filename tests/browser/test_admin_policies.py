"""The admin's main path in a real browser: a policy change that hides a product from the buyer's next
search. The buyer (own browser context) finds the product; the administrator (another context) writes
a deny-discover policy for the buyer's organisation in the editor, previews it (the dry-run shows the
buyer losing the product), saves it; the buyer's next search no longer lists it. Then the access
requests page. Screenshots and an axe check of each page."""
from __future__ import annotations

import uuid
from datetime import timedelta

from playwright.sync_api import expect
from sqlalchemy import select

from auth import service as accounts
from exchange.catalog.batches import bulk_write
from exchange.catalog.models import Item, ItemStatus
from exchange.catalog.transactions import create_collection
from exchange.core.db import db, unit_of_work, utcnow
from exchange.policy import SYSTEM
from exchange.sharing.models import AccessRequest
from tests.browser.conftest import PHONE, assert_accessible, shot, sign_in
from tests.licensing.conftest import item_doc

BBOX = "9,-1,13,2"


def _catalogue(site) -> int:
    """Alice Sat's collection with one published product (10–11°E, 0–1°N) and a pending access request
    from the buyer's organisation; the product's id."""
    site.user("admin@walk.example", roles=("admin",), org="Exchange", kind="platform")
    site.user("alice@walk.example", roles=("provider",), org="Alice Sat", kind="provider")
    buyer = site.user("buyer@walk.example", roles=("buyer",), org="Buyer Co", kind="buyer")
    with site.app.app_context():
        create_collection(SYSTEM, {"id": "alice", "description": "Alice's scenes"},
                          owner_org_id=accounts.find_org("Alice Sat").id)
        bulk_write(SYSTEM, "alice", [item_doc("alice-1", "alice", 10.0)], method="insert",
                   status=ItemStatus.published)
        item = db.session.scalar(select(Item).where(Item.item_id == "alice-1"))
        with unit_of_work():
            db.session.add(AccessRequest(id=uuid.uuid4(), org_id=accounts.find_org("Buyer Co").id,
                                         provider_org_id=item.provider_org_id, item_key=item.key, purpose="research",
                                         message="For a flood study", requested_by=buyer,
                                         expires_at=utcnow() + timedelta(days=30)))
        return item.key


def _buyer_finds(site, page, product_id: int) -> bool:
    """Whether the buyer's search of the area on the search page lists the product."""
    page.goto(f"{site.url}/search?bbox={BBOX}")
    expect(page.locator("#result-count")).to_be_visible()
    return page.locator(f'ul#results li[data-product-id="{product_id}"]').count() == 1


def test_the_admins_policy_change_hides_a_product_from_the_buyers_next_search(site, browser_page):
    product_id = _catalogue(site)
    buyer = browser_page()
    sign_in(buyer, site.url, "buyer@walk.example")
    assert _buyer_finds(site, buyer, product_id)

    admin = browser_page()
    blocked = []
    admin.on("console", lambda message: blocked.append(message.text)
             if "Content Security Policy" in message.text else None)
    sign_in(admin, site.url, "admin@walk.example")
    admin.goto(f"{site.url}/admin/policies")
    assert admin.get_by_role("heading", level=1).inner_text() == "Sharing policies"
    assert "No policies here." in admin.inner_text("main")
    shot(admin, "admin-policies")
    assert_accessible(admin)

    admin.get_by_role("link", name="New policy").click()
    admin.get_by_role("textbox", name="Name", exact=True).fill("Hide Alice's scenes from Buyer Co")
    admin.get_by_label("Deny", exact=True).check()
    admin.get_by_label("Discover", exact=True).check()
    admin.get_by_label("Collections", exact=True).select_option(["alice"])
    admin.get_by_label("Named organisations").select_option(label="Buyer Co")
    shot(admin, "admin-policy-editor")
    assert_accessible(admin)

    # an invalid draft is posted the plain way: its error shows next to the field, the draft kept
    admin.get_by_label("Minimum age (days)").fill("ten")
    admin.get_by_role("button", name="Preview").click()
    admin.wait_for_selector("#e-min_age_days")
    assert admin.locator("#e-min_age_days").inner_text() == "Not a valid integer."
    assert admin.get_by_label("Named organisations").evaluate("s => [...s.selectedOptions].map(o => o.text)") == \
        ["Buyer Co"]
    # a valid one is previewed in place (the script's fetch: the page is not reloaded)
    admin.get_by_label("Minimum age (days)").fill("")
    admin.evaluate("window.stillHere = true")
    admin.get_by_role("button", name="Preview").click()
    preview = admin.locator("#preview")
    preview.wait_for()
    assert admin.evaluate("window.stillHere === true") and admin.locator(".field-error").count() == 0
    assert "Decisions that would change: 4." in preview.inner_text()  # discover, and so every use
    lost = admin.locator(f'#preview-changes tr[data-product-id="{product_id}"][data-use="discover"]')
    assert lost.locator("td").first.inner_text() == "Buyer Co" and "loses" in lost.inner_text()
    shot(admin, "admin-policy-preview")
    assert_accessible(admin)
    assert _buyer_finds(site, buyer, product_id)  # a preview changes nothing

    admin.get_by_role("button", name="Create policy").click()
    assert "Policy created (version 1)." in admin.inner_text("main")
    policy_url = admin.url
    shot(admin, "admin-policy")
    assert_accessible(admin)
    assert not _buyer_finds(site, buyer, product_id)

    admin.get_by_role("navigation", name="Main").get_by_role("link", name="Requests", exact=True).click()
    assert admin.locator("#requests tbody tr").count() == 1
    assert "Buyer Co" in admin.inner_text("#requests")
    shot(admin, "admin-requests")
    assert_accessible(admin)
    assert not blocked, blocked

    phone = browser_page(viewport=PHONE)
    sign_in(phone, site.url, "admin@walk.example")
    for url in (f"{site.url}/admin/policies", policy_url, f"{site.url}/admin/policies/new", f"{site.url}/admin/requests"):
        phone.goto(url)
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], url
    shot(phone, "admin-policy-phone")
