"""The holdings pages through the Flask test client, on both backends: my licences (what is left of
each, a download link per file), the wallet, the usage chart and its table, access requests (asking,
every bad field named, the service's refusals shown, withdrawing) and notifications."""
from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from sqlalchemy import func, select

from auth import service
from auth.policies import identity_of
from exchange.core.db import db, unit_of_work, utcnow
from exchange.licensing.models import Entitlement
from exchange.sharing import access
from exchange.sharing.models import AccessRequest, Notification
from tests.conftest import PASSWORD
from tests.web.holdings_world import SCRIPT_TITLE, DATA, build, download, hold_back, license_product, top_up
from tests.web.test_pages import signed_in

BUYER = "analyst@holdings.example"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


@pytest.fixture
def buyer(app, client):
    return signed_in(app, client, BUYER, ("buyer",), "buyer")


@pytest.fixture
def world(app, buyer):
    with app.app_context():
        return build("hold", BUYER, {"scene-1": SCRIPT_TITLE, "scene-2": "Harbour at dawn"})


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


# -- licences -----------------------------------------------------------------------------------------
def test_licences_show_what_is_left_and_a_download_link_per_file(app, buyer, world):
    with app.app_context():
        top_up(BUYER, 10_000)
        licence = license_product(world, "scene-1")
        download(world, "scene-1")
    page = buyer.get("/licenses").get_data(as_text=True)
    assert ESCAPED in page and SCRIPT_TITLE not in page
    assert "Commercial use within one organisation" in page and "version 1" in page
    assert "© hold Sat, licensed through SDX" in page  # the template's attribution, its provider named
    row = page[page.index(f'data-licence="{licence}"'):]
    assert re.search(r"\d+ of \d+ per file", row), row[:2000]  # downloads left of the template's allowance
    assert "active" in row
    assert f'/licenses/{licence}/download/{world.products["scene-1"]}/data' in row
    assert "/thumbnail" not in row  # a public preview is not a licensed file
    assert f'href="/products/{world.products["scene-1"]}"' in row
    detail = buyer.get(f"/licenses/{licence}")
    assert detail.status_code == 200 and ESCAPED in detail.get_data(as_text=True)


def test_an_expired_licence_reads_as_expired_with_no_download(app, buyer, world):
    with app.app_context():
        top_up(BUYER, 10_000)
        licence = license_product(world, "scene-2")
        with unit_of_work():
            db.session.get(Entitlement, uuid.UUID(licence)).valid_until = utcnow() - dt.timedelta(days=1)
    page = buyer.get("/licenses").get_data(as_text=True)
    assert "licence-expired" in page and "this licence is expired" in page
    assert "/download/" not in page


def test_another_organisations_licence_is_not_found(app, buyer, world):
    other = signed_in(app, app.test_client(), "other@elsewhere.example", ("buyer",), "buyer")
    with app.app_context():
        top_up(BUYER, 10_000)
        licence = license_product(world, "scene-1")
    assert other.get(f"/licenses/{licence}").status_code == 404
    assert other.get(f"/licenses/{uuid.uuid4()}").status_code == 404
    assert licence not in other.get("/licenses").get_data(as_text=True)
    # The provider reads the licence through the API (a sale), but it is not one of its holdings.
    seller = app.test_client()
    token = csrf_of(seller.get("/login").get_data(as_text=True))
    assert seller.post("/login", data={"email": world.provider, "password": PASSWORD, "csrf_token": token}
                       ).status_code == 302
    assert licence not in seller.get("/licenses").get_data(as_text=True)
    assert seller.get(f"/licenses/{licence}").status_code == 404


def test_no_licences_says_so(buyer):
    page = buyer.get("/licenses").get_data(as_text=True)
    assert "holds no licences yet" in page


# -- wallet -------------------------------------------------------------------------------------------
def test_wallet_shows_balance_and_transactions_newest_first(app, buyer, world):
    with app.app_context():
        top_up(BUYER, 10_000, reference="Invoice <b>7</b>")
        license_product(world, "scene-1", price=1500)
    page = buyer.get("/wallet").get_data(as_text=True)
    assert "€85.00" in page  # 100.00 topped up, 15.00 paid
    assert page.index("order") < page.index("top-up")  # newest first
    assert "Invoice &lt;b&gt;7&lt;/b&gt;" in page
    assert "administrator" in page  # where to ask for a top-up
    assert 'data-label="Amount"' in page


def test_wallet_pages(app, buyer, world):
    with app.app_context():
        for n in range(21):
            top_up(BUYER, 100 + n, reference=f"top-up {n}")
    first = buyer.get("/wallet").get_data(as_text=True)
    assert "top-up 20" in first and not re.search(r"top-up 0\s*<", first)
    following = re.search(r'href="(/wallet\?after=[^"]+)" rel="next"', first).group(1)
    second = buyer.get(following.replace("&amp;", "&")).get_data(as_text=True)
    assert re.search(r"top-up 0\s*<", second)


# -- usage --------------------------------------------------------------------------------------------
def test_usage_chart_and_table_count_recorded_downloads(app, buyer, world):
    with app.app_context():
        top_up(BUYER, 10_000)
        license_product(world, "scene-2")
        assert download(world, "scene-2") == len(DATA)
    page = buyer.get("/usage").get_data(as_text=True)
    assert page.count('role="img"') == 2 and "<title id=\"chart-downloads-title\">" in page
    assert page.count('class="bar"') == 60  # 30 days, two charts
    assert "Downloads in all: 1 " in page and f"({len(DATA)})" in page
    assert 'text-anchor="end">1</text>' in page  # the downloads axis tops at the most in a day
    assert "hold-scenes / scene-2" in page


def test_usage_periods_and_bad_ranges(buyer):
    monthly = buyer.get("/usage?period=12m").get_data(as_text=True)
    assert monthly.count('class="bar"') == 24 and "Month (UTC)" in monthly
    custom = buyer.get("/usage?period=custom&from=2026-01-01&to=2026-01-10").get_data(as_text=True)
    assert custom.count('class="bar"') == 20 and "2026-01-10" in custom
    backwards = buyer.get("/usage?period=custom&from=2026-02-01&to=2026-01-01")
    assert backwards.status_code == 422
    assert 'id="e-from"' in backwards.get_data(as_text=True)
    missing = buyer.get("/usage?period=custom").get_data(as_text=True)
    assert 'id="e-from"' in missing and 'id="e-to"' in missing
    assert buyer.get("/usage?period=custom&from=2020-01-01&to=2026-01-01").status_code == 422
    assert buyer.get("/usage?period=custom&from=soon&to=2026-01-01").status_code == 422
    assert buyer.get("/usage?period=forever").status_code == 422


# -- access requests ----------------------------------------------------------------------------------
def ask(client, **fields):
    page = client.get("/access-requests").get_data(as_text=True)
    return client.post("/access-requests", data={"csrf_token": csrf_of(page), "purpose": "research",
                                                 "message": "for a flood study", **fields})


def test_ask_for_a_held_back_product_then_withdraw(app, buyer, world):
    with app.app_context():
        hold_back(world)
    product = world.products["scene-1"]
    prefilled = buyer.get(f"/access-requests?product_id={product}").get_data(as_text=True)
    assert f'name="product_id" type="text" value="{product}"' in prefilled
    asked = ask(buyer, product_id=str(product))
    assert asked.status_code == 302
    page = buyer.get("/access-requests").get_data(as_text=True)
    assert "was sent to the provider" in page and "pending" in page and "for a flood study" in page
    request_id = re.search(r'/access-requests/([0-9a-f-]{36})/withdraw', page).group(1)
    again = ask(buyer, product_id=str(product))
    assert again.status_code == 409 and "already has a pending request" in again.get_data(as_text=True)
    withdrawn = buyer.post(f"/access-requests/{request_id}/withdraw", data={"csrf_token": csrf_of(page)})
    assert withdrawn.status_code == 302
    page = buyer.get("/access-requests").get_data(as_text=True)
    assert "withdrawn" in page and "/withdraw" not in page
    twice = buyer.post(f"/access-requests/{request_id}/withdraw", data={"csrf_token": csrf_of(page)})
    assert twice.status_code == 302
    assert "only a pending one can change" in buyer.get("/access-requests").get_data(as_text=True)


def test_nothing_to_ask_is_a_409_with_the_reason(app, buyer, world):
    before = count(app, AccessRequest)
    answer = ask(buyer, product_id=str(world.products["scene-1"]))
    assert answer.status_code == 409
    assert "no sharing policy holds this back" in answer.get_data(as_text=True)
    assert count(app, AccessRequest) == before


def test_bad_fields_are_each_named_and_nothing_is_written(app, buyer, world):
    with app.app_context():
        hold_back(world)
    before = count(app, AccessRequest)
    neither = ask(buyer, purpose="fun", message="x" * 2001)
    body = neither.get_data(as_text=True)
    assert neither.status_code == 422
    for name in ("product_id", "purpose", "message"):
        assert f'id="e-{name}"' in body, name
    both = ask(buyer, product_id="abc", collection_id=world.collection).get_data(as_text=True)
    assert 'id="e-product_id"' in both and 'id="e-collection_id"' in both
    hidden = ask(buyer, product_id="999999")
    assert hidden.status_code == 422 and "that you may see" in hidden.get_data(as_text=True)
    assert count(app, AccessRequest) == before


def test_another_organisations_request_cannot_be_withdrawn(app, buyer, world):
    with app.app_context():
        hold_back(world)
    ask(buyer, collection_id=world.collection)
    page = buyer.get("/access-requests").get_data(as_text=True)
    request_id = re.search(r'/access-requests/([0-9a-f-]{36})/withdraw', page).group(1)
    other = signed_in(app, app.test_client(), "other@elsewhere.example", ("buyer",), "buyer")
    token = csrf_of(other.get("/access-requests").get_data(as_text=True))
    assert request_id not in other.get("/access-requests").get_data(as_text=True)
    assert other.post(f"/access-requests/{request_id}/withdraw", data={"csrf_token": token}).status_code == 404
    assert other.post(f"/access-requests/{uuid.uuid4()}/withdraw", data={"csrf_token": token}).status_code == 404
    assert "pending" in buyer.get("/access-requests").get_data(as_text=True)


def test_unread_notifications_are_shown_and_marked_read(app, buyer, world):
    with app.app_context():
        hold_back(world)
    ask(buyer, product_id=str(world.products["scene-1"]))
    page = buyer.get("/access-requests").get_data(as_text=True)
    request_id = re.search(r'/access-requests/([0-9a-f-]{36})/withdraw', page).group(1)
    other = signed_in(app, app.test_client(), "other@elsewhere.example", ("buyer",), "buyer")
    with app.app_context():
        access.reject(identity_of(service.find_user(world.provider)), uuid.UUID(request_id), {"reason": "Embargo <b>"})
    page = buyer.get("/access-requests").get_data(as_text=True)
    assert "New notifications" in page and "was rejected" in page and "Embargo &lt;b&gt;" in page
    notice = re.search(r'/notifications/([0-9a-f-]{36})/read', page).group(1)
    assert other.post(f"/notifications/{notice}/read",
                      data={"csrf_token": csrf_of(other.get("/access-requests").get_data(as_text=True))}
                      ).status_code == 404  # another organisation's notification
    assert buyer.post(f"/notifications/{notice}/read", data={"csrf_token": csrf_of(page)}).status_code == 302
    assert "New notifications" not in buyer.get("/access-requests").get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Notification, uuid.UUID(notice)).read_at is not None


# -- who may open the pages -----------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/licenses", "/wallet", "/usage", "/access-requests",
                                  f"/licenses/{uuid.UUID(int=1)}"])
def test_anonymous_is_sent_to_sign_in(client, path):
    answer = client.get(path)
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login?next=")


def test_forms_need_their_csrf_token(app, buyer, world):
    before = count(app, AccessRequest)
    assert buyer.post("/access-requests", data={"product_id": "1", "purpose": "research"}).status_code == 400
    assert count(app, AccessRequest) == before


def test_pages_in_chinese(app, buyer):
    for path, words in (("/licenses", "贵机构尚未持有任何许可"), ("/wallet", "交易记录"), ("/usage", "每日下载"),
                        ("/access-requests", "向提供方申请访问")):
        page = buyer.get(f"{path}?lang=zh-CN").get_data(as_text=True)
        assert '<html lang="zh-CN">' in page and words in page, path
    assert "我的许可" in buyer.get("/licenses").get_data(as_text=True)


def test_every_string_of_the_pages_has_its_chinese():
    """Each message of holdings.py and the holdings templates is in this area's catalogue (or, for
    the navigation's words, in the common one)."""
    from babel.messages.extract import extract_from_dir, extract_from_file
    from babel.messages.pofile import read_po

    from exchange.web.i18n import TRANSLATIONS
    web = TRANSLATIONS.parent
    found = {message for _line, message, _comments, _context in extract_from_file("python", web / "holdings.py")}
    found |= {message for _file, _line, message, _comments, _context in extract_from_dir(
        web / "templates" / "holdings", method_map=[("**.html", "jinja2")],
        options_map={"**.html": {"extensions": "jinja2.ext.i18n"}})}
    translated = set()
    for area in ("holdings", "common"):
        with (TRANSLATIONS / area / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po").open("rb") as po:
            translated |= {m.id for m in read_po(po) if m.id and m.string}
    assert found and not found - translated, sorted(found - translated)


@pytest.mark.parametrize("path", ["/licenses", "/wallet", "/access-requests"])
def test_a_forged_page_cursor_is_a_422_page_not_a_500(buyer, path):
    answer = buyer.get(f"{path}?after=not-a-cursor")
    assert answer.status_code == 422 and "<html" in answer.get_data(as_text=True)
