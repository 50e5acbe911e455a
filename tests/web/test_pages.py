"""Every Contract page: an anonymous visitor is sent to sign in (and back), a signed-in user without
the page's role gets 403, one with it gets the page — with the page CSP and in either language."""
from __future__ import annotations

import re

import pytest

from tests.conftest import PASSWORD, add_user

BUYER_PAGES = ["/cart", "/orders", "/licenses", "/wallet", "/usage", "/access-requests", "/account/clients"]
PROVIDER_PAGES = ["/provider/products", "/provider/upload", "/provider/offers", "/provider/sales"]
ADMIN_PAGES = ["/admin/orgs", "/admin/policies", "/admin/licenses", "/admin/requests", "/admin/ledger",
               "/admin/audit"]
PUBLIC_PAGES = ["/", "/search"]


def signed_in(app, client, email: str, roles: tuple[str, ...], kind: str):
    with app.app_context():
        add_user(email, roles=roles, kind=kind)
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return client


@pytest.mark.parametrize("path", BUYER_PAGES + PROVIDER_PAGES + ADMIN_PAGES)
def test_anonymous_visitor_is_sent_to_sign_in_and_back(client, path):
    answer = client.get(path)
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"/login?next={path}"


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_public_pages_need_no_sign_in_and_send_the_page_policy(client, path):
    answer = client.get(path)
    assert answer.status_code == 200
    csp = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert answer.headers["X-Frame-Options"] == "DENY"


def test_each_role_gets_its_pages_and_403_on_the_others(app, client):
    buyer = signed_in(app, app.test_client(), "pages@buyer.example", ("buyer",), "buyer")
    provider = signed_in(app, app.test_client(), "pages@provider.example", ("provider",), "provider")
    admin = signed_in(app, app.test_client(), "pages@admin.example", ("admin",), "platform")
    for path in BUYER_PAGES:
        assert buyer.get(path).status_code == 200, path
        assert provider.get(path).status_code == 200, path
    for path in PROVIDER_PAGES:
        assert provider.get(path).status_code == 200, path
        refused = buyer.get(path)
        assert refused.status_code == 403 and "not for your role" in refused.get_data(as_text=True), path
        assert admin.get(path).status_code == 403, path
    for path in ADMIN_PAGES:
        assert admin.get(path).status_code == 200, path
        assert buyer.get(path).status_code == 403, path
        assert provider.get(path).status_code == 403, path


def test_lang_switches_the_language_and_is_remembered(client):
    chinese = client.get("/?lang=zh-CN").get_data(as_text=True)
    assert '<html lang="zh-CN">' in chinese and "卫星数据交易平台" in chinese and "Satellite Data" not in chinese
    assert '<html lang="zh-CN">' in client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in client.get("/?lang=en").get_data(as_text=True)


def test_browser_language_is_the_default(client):
    page = client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="zh-CN">' in page


def test_a_form_without_its_csrf_token_is_refused(app, client):
    signed_in(app, client, "csrf@buyer.example", ("buyer",), "buyer")
    refused = client.post("/cart/add", data={"product_id": "1", "offer_id": "x"})
    assert refused.status_code == 400 and "The form expired" in refused.get_data(as_text=True)
    chinese = client.post("/cart/add?lang=zh-CN", data={"product_id": "1"})
    assert chinese.status_code == 400 and "The form expired" not in chinese.get_data(as_text=True)


def test_a_wrong_role_is_told_so_in_the_page_language(app, client):
    signed_in(app, client, "role@buyer.example", ("buyer",), "buyer")
    refused = client.get("/admin/orgs?lang=zh-CN")
    assert refused.status_code == 403 and "This page is not for your role." not in refused.get_data(as_text=True)
    assert "无权访问" in refused.get_data(as_text=True)


def test_compiled_catalogues_match_their_sources():
    """The committed .mo files are what ``make translations`` compiles from the .po files."""
    from babel.messages.mofile import read_mo
    from babel.messages.pofile import read_po

    from exchange.web.i18n import TRANSLATIONS
    sources = sorted(TRANSLATIONS.glob("*/*/LC_MESSAGES/messages.po"))
    assert sources
    for source in sources:
        with source.open("rb") as po, source.with_suffix(".mo").open("rb") as mo:
            written, compiled = read_po(po), read_mo(mo)
        expected = {_key(m.id): _key(m.string) for m in written if m.id and any(_key(m.string)) and not m.fuzzy}
        assert {_key(m.id): _key(m.string) for m in compiled if m.id} == expected, f"{source}: run make translations"


def _key(text):
    """A message's id or string, hashable (plural messages are tuples)."""
    return tuple(text) if isinstance(text, (list, tuple)) else text


def test_one_message_has_one_translation_in_every_area():
    """The areas' catalogues are merged, so a message translated two ways would show one of them at
    random: a message that means different things needs a context (``pgettext``)."""
    from babel.messages.pofile import read_po

    from exchange.web.i18n import TRANSLATIONS
    seen: dict = {}
    for source in sorted(TRANSLATIONS.glob("*/*/LC_MESSAGES/messages.po")):
        with source.open("rb") as po:
            for message in read_po(po):
                if message.id and message.string:
                    key = (message.context, _key(message.id))
                    seen.setdefault(key, {}).setdefault(_key(message.string), []).append(source.parts[-4])
    assert not {key: areas for key, areas in seen.items() if len(areas) > 1}
