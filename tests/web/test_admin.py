"""The administrators' pages through the Flask test client, on both backends: organisations, licence
templates, the ledger and the audit log — each action through its service (and audited), bad input
named field by field with nothing written, and no page for buyers, providers or anonymous visitors."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from auth import service
from auth.models import OrgStatus
from exchange.core.db import db
from exchange.licensing.models import LicenseTemplate
from exchange.policy import SYSTEM
from exchange.sharing.models import AuditEntry
from exchange.trading import wallets
from exchange.trading.models import Transfer
from tests.web.test_pages import signed_in

SCRIPT = "<script>alert(1)</script>"
ADMIN_PATHS = ["/admin/orgs", "/admin/licenses", "/admin/licenses/open-cc-by-4.0", "/admin/ledger", "/admin/audit"]


@pytest.fixture
def admin(app):
    return signed_in(app, app.test_client(), "root@admin.example", ("admin",), "platform")


def csrf(client, path: str = "/admin/orgs") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def org_id(app, name: str):
    with app.app_context():
        return service.find_org(name).id


def audited(app, action: str) -> list[AuditEntry]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


# -- who may see the pages ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ADMIN_PATHS)
def test_anonymous_visitors_are_sent_to_sign_in(client, path):
    answer = client.get(path)
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login?next=")


def test_buyers_and_providers_get_403_on_every_page_and_action(app, admin):
    buyer = signed_in(app, app.test_client(), "b@buyer.example", ("buyer",), "buyer")
    provider = signed_in(app, app.test_client(), "p@provider.example", ("provider",), "provider")
    target = org_id(app, "Org of b@buyer.example")
    for client in (buyer, provider):
        for path in ADMIN_PATHS:
            assert client.get(path).status_code == 403, path
        token = csrf(client, "/account/clients")
        for path in (f"/admin/orgs/{target}/suspend", f"/admin/orgs/{target}/verify", "/admin/ledger",
                     "/admin/licenses"):
            assert client.post(path, data={"csrf_token": token}).status_code == 403, path
    assert audited(app, "org.suspended") == [] and count(app, Transfer) == 0


def test_a_post_without_its_csrf_token_is_refused(app, admin):
    with app.app_context():
        service.create_org(SYSTEM, {"name": "Waiting", "kind": "buyer"}, status=OrgStatus.pending)
    assert admin.post(f"/admin/orgs/{org_id(app, 'Waiting')}/approve").status_code == 400
    assert audited(app, "org.approved") == []


# -- organisations -----------------------------------------------------------------------------------------
def test_orgs_are_listed_filtered_and_searched(app, admin):
    with app.app_context():
        service.create_org(SYSTEM, {"name": "Pending Buyer Co", "kind": "buyer"}, status=OrgStatus.pending)
        service.create_org(SYSTEM, {"name": "Active Provider Co", "kind": "provider"})
        service.create_org(SYSTEM, {"name": SCRIPT, "kind": "research"})
    page = admin.get("/admin/orgs").text
    assert "Pending Buyer Co" in page and "Active Provider Co" in page
    assert SCRIPT not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    pending = admin.get("/admin/orgs?status=pending").text
    assert "Pending Buyer Co" in pending and "Active Provider Co" not in pending
    providers = admin.get("/admin/orgs?kind=provider").text
    assert "Active Provider Co" in providers and "Pending Buyer Co" not in providers
    searched = admin.get("/admin/orgs?q=buyer+co").text
    assert "Pending Buyer Co" in searched and "Active Provider Co" not in searched
    assert "No organisation matches" in admin.get("/admin/orgs?q=nothing-like-this").text


def test_orgs_are_paged(app, admin):
    with app.app_context():
        for n in range(27):
            service.create_org(SYSTEM, {"name": f"Paged {n:02d}", "kind": "buyer"})
    first = admin.get("/admin/orgs?q=paged").text
    assert "Paged 00" in first and "Paged 26" not in first
    next_url = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = admin.get(next_url).text
    assert "Paged 26" in second and "Paged 00" not in second
    assert admin.get("/admin/orgs?after=not-a-cursor").status_code == 200


def test_approve_verify_suspend_and_reactivate_are_audited(app, admin):
    with app.app_context():
        service.create_org(SYSTEM, {"name": "Newcomer", "kind": "buyer"}, status=OrgStatus.pending)
    target = org_id(app, "Newcomer")
    token = csrf(admin)
    answer = admin.post(f"/admin/orgs/{target}/approve", data={"csrf_token": token, "back": "/admin/orgs?status=pending"})
    assert answer.status_code == 302 and answer.headers["Location"] == "/admin/orgs?status=pending"
    assert "Newcomer is approved" in admin.get("/admin/orgs").text
    assert [e.object_id for e in audited(app, "org.approved")] == [str(target)]

    admin.post(f"/admin/orgs/{target}/verify", data={"csrf_token": token, "verified": "1"})
    assert audited(app, "org.verified")[-1].details["verified"] is True

    confirm = admin.get(f"/admin/orgs/{target}/suspend")
    assert confirm.status_code == 200 and "Suspend Newcomer?" in confirm.text
    assert audited(app, "org.suspended") == []  # asking is not doing
    admin.post(f"/admin/orgs/{target}/suspend", data={"csrf_token": token, "back": "//evil.example/"})
    assert len(audited(app, "org.suspended")) == 1
    admin.post(f"/admin/orgs/{target}/reactivate", data={"csrf_token": token})
    assert len(audited(app, "org.reactivated")) == 1
    with app.app_context():
        assert service.find_org("Newcomer").status is OrgStatus.active


def test_a_refused_action_says_why_and_an_unknown_org_is_404(app, admin):
    with app.app_context():
        service.create_org(SYSTEM, {"name": "Already Active", "kind": "buyer"})
    token = csrf(admin)
    answer = admin.post(f"/admin/orgs/{org_id(app, 'Already Active')}/approve", data={"csrf_token": token})
    assert answer.status_code == 302
    page = admin.get("/admin/orgs").text
    assert "only a pending organisation can be approved" in page and "flash-error" in page
    assert audited(app, "org.approved") == []
    unknown = "00000000-0000-4000-8000-000000000000"
    assert admin.post(f"/admin/orgs/{unknown}/approve", data={"csrf_token": token}).status_code == 404
    assert admin.get(f"/admin/orgs/{unknown}/suspend").status_code == 404


# -- licence templates -------------------------------------------------------------------------------------
TEMPLATE = {"code": "web-commercial", "title": "Web commercial", "terms": "Use it well.", "uses": ["commercial"],
            "derivatives": "1", "seats": "5", "duration_days": "", "downloads_per_asset": "3", "bytes_multiple": ""}


def test_a_template_is_created_shown_and_given_a_new_version(app, admin):
    token = csrf(admin, "/admin/licenses")
    answer = admin.post("/admin/licenses", data={**TEMPLATE, "csrf_token": token})
    assert answer.status_code == 302 and answer.headers["Location"] == "/admin/licenses/web-commercial"
    page = admin.get("/admin/licenses/web-commercial").text
    assert "web-commercial@1 is published" in page and "Use it well." in page and "Unlimited" in page
    assert "web-commercial" in admin.get("/admin/licenses").text
    answer = admin.post("/admin/licenses/web-commercial",
                        data={**TEMPLATE, "title": SCRIPT, "terms": SCRIPT, "csrf_token": token})
    assert answer.status_code == 302
    page = admin.get("/admin/licenses/web-commercial").text
    assert "Version 2" in page and "Version 1" in page and SCRIPT not in page
    assert SCRIPT not in admin.get("/admin/licenses").text
    with app.app_context():
        rows = list(db.session.scalars(select(LicenseTemplate).where(LicenseTemplate.code == "web-commercial")
                                       .order_by(LicenseTemplate.version)))
    assert [(t.version, t.seats, t.duration_days, t.downloads_per_asset) for t in rows] == [(1, 5, None, 3),
                                                                                           (2, 5, None, 3)]


def test_bad_template_input_names_every_field_and_writes_nothing(app, admin):
    before = count(app, LicenseTemplate)
    token = csrf(admin, "/admin/licenses")
    answer = admin.post("/admin/licenses", data={"csrf_token": token, "code": "Bad Code!", "title": " ", "terms": "",
                                                 "seats": "many", "duration_days": "-1"})
    assert answer.status_code == 422
    page = answer.text
    for name in ("code", "title", "terms", "uses", "seats", "duration_days"):
        assert f'id="e-{name}"' in page, name
    assert 'value="Bad Code!"' in page  # what was typed stays in the form
    assert count(app, LicenseTemplate) == before
    assert admin.get("/admin/licenses/no-such-template").status_code == 404
    assert admin.post("/admin/licenses/no-such-template", data={**TEMPLATE, "csrf_token": token}).status_code == 404
    assert count(app, LicenseTemplate) == before


# -- the ledger --------------------------------------------------------------------------------------------
def test_a_top_up_moves_money_is_audited_and_shows_on_the_ledger(app, admin):
    with app.app_context():
        service.create_org(SYSTEM, {"name": "Wallet Buyer", "kind": "buyer"})
    token = csrf(admin, "/admin/ledger")
    answer = admin.post("/admin/ledger", data={"csrf_token": token, "kind": "topup", "org": "wallet buyer",
                                               "currency": "CNY", "amount": "1,234.50", "reference": "bank 42"})
    assert answer.status_code == 302, answer.text
    page = admin.get("/admin/ledger").text
    assert "The wallet of Wallet Buyer is topped up by CN¥1,234.50" in page
    assert "bank 42" in page and "Wallet Buyer" in page and "The books balance" in page
    entry, = audited(app, "wallet.topup")
    assert entry.details["amount"] == 123450 and entry.details["currency"] == "CNY"


def test_bad_movement_input_names_every_field_and_moves_nothing(app, admin):
    token = csrf(admin, "/admin/ledger")
    answer = admin.post("/admin/ledger", data={"csrf_token": token, "kind": "gift", "org": "Nobody Ltd",
                                               "currency": "XXX", "amount": "1.234", "reference": " "})
    assert answer.status_code == 422
    for name in ("kind", "org", "currency", "amount", "reference"):
        assert f'id="e-{name}"' in answer.text, name
    assert "There is no organisation named Nobody Ltd" in answer.text
    assert count(app, Transfer) == 0 and audited(app, "wallet.topup") == []


def test_a_payout_beyond_the_receivable_is_refused_saying_why(app, admin):
    with app.app_context():
        service.create_org(SYSTEM, {"name": "Seller", "kind": "provider"})
    token = csrf(admin, "/admin/ledger")
    answer = admin.post("/admin/ledger", data={"csrf_token": token, "kind": "payout", "org": "Seller",
                                               "currency": "EUR", "amount": "10", "reference": "payout 1"})
    assert answer.status_code == 409 and "Nothing was paid out" in answer.text
    assert count(app, Transfer) == 0


def test_the_ledger_pages_its_top_ups(app, admin):
    with app.app_context():
        service.create_org(SYSTEM, {"name": "Busy", "kind": "buyer"})
        busy = service.find_org("Busy").id
        for n in range(26):
            wallets.top_up(SYSTEM, busy, {"amount": 100 + n, "currency": "USD", "reference": f"ref-{n:02d}"})
    first = admin.get("/admin/ledger").text
    assert "ref-25" in first and "ref-00" not in first
    next_url = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert "ref-00" in admin.get(next_url).text


# -- the audit log -----------------------------------------------------------------------------------------
def test_the_audit_log_shows_the_chain_and_filters_entries(app, admin):
    with app.app_context():
        service.create_org(SYSTEM, {"name": SCRIPT, "kind": "buyer"}, status=OrgStatus.pending)
    target = org_id(app, SCRIPT)
    token = csrf(admin)
    admin.post(f"/admin/orgs/{target}/approve", data={"csrf_token": token})
    admin.post(f"/admin/orgs/{target}/verify", data={"csrf_token": token})
    page = admin.get("/admin/audit").text
    assert "The chain is verified: all " in page
    assert SCRIPT not in page and "&lt;script&gt;" in page
    approved = admin.get("/admin/audit?action=org.approved").text
    assert "org.approved" in approved and "org.verified</code>" not in approved
    prefix = admin.get("/admin/audit?action=org.").text
    assert "org.approved" in prefix and "org.verified" in prefix
    by_email = admin.get("/admin/audit?actor=root@admin.example&from=2000-01-01").text
    assert "org.approved" in by_email
    assert "No entry matches" in admin.get("/admin/audit?action=wallet.").text
    by_org = admin.get(f"/admin/audit?org={target}").text
    assert "org.approved" in by_org


def test_bad_audit_filters_are_named(app, admin):
    answer = admin.get("/admin/audit?actor=nobody@nowhere.example&org=No+Such+Org&from=yesterday&to=2020-01-01")
    assert answer.status_code == 422
    for name in ("actor", "org", "from"):
        assert f'id="e-{name}"' in answer.text, name
    assert admin.get("/admin/audit?after=not-a-cursor").status_code == 422
    window = admin.get("/admin/audit?from=2021-01-01&to=2020-01-01")
    assert window.status_code == 422 and 'id="e-to"' in window.text


@pytest.mark.parametrize("path", ADMIN_PATHS)
def test_every_admin_page_reads_in_chinese(admin, path):
    page = admin.get(f"{path}?lang=zh-CN").text
    for english in ("Account status", "Permitted uses", "Trial balance", "Filter the audit log", "Cancel",
                    "Newest version"):
        assert english not in page, (path, english)
    assert any(chinese in page for chinese in ("账户状态", "允许的用途", "试算平衡", "筛选审计日志")), path


def test_the_ledger_shows_orders_and_the_platform_revenue(app, admin):
    """An order's transfer (buyer's wallet → provider's receivable and the platform's fee), made with the
    ledger's own ``transfer`` as an order does: listed with its postings, its fee counted as revenue."""
    from exchange.core.db import unit_of_work
    from exchange.trading import ledger
    from exchange.trading.models import AccountKind, TransferKind
    with app.app_context():
        service.create_org(SYSTEM, {"name": "Shopper", "kind": "buyer"})
        service.create_org(SYSTEM, {"name": "Maker", "kind": "provider"})
        shopper, maker = service.find_org("Shopper").id, service.find_org("Maker").id
        wallets.top_up(SYSTEM, shopper, {"amount": 10_000, "currency": "EUR", "reference": "seed"})
        with unit_of_work():
            ledger.transfer(TransferKind.order, [
                ledger.Leg(ledger.account(AccountKind.wallet, "EUR", shopper), -5_000),
                ledger.Leg(ledger.account(AccountKind.receivable, "EUR", maker), 4_500),
                ledger.Leg(ledger.account(AccountKind.revenue, "EUR"), 500)], reference="order 1")
    page = admin.get("/admin/ledger").text
    revenue = page[page.index('id="revenue"'):page.index('id="move"')]
    assert "€5.00" in revenue
    moves = page[page.index('id="moves"'):page.index('id="accounts"')]
    assert "Order" in moves and "order 1" in moves and "Maker · receivable · EUR: €45.00" in moves
    assert "Shopper · wallet · EUR: -€50.00" in moves and "The books balance" in page
