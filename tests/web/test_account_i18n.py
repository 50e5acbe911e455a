"""The sign-in, consent and API-client pages in Simplified Chinese (``?lang=zh-CN``), through the Flask
test client on both backends: the key words are Chinese, no English label is left, and a form error
(from the view and from the service's redirect-URI check) is worded in Chinese too."""
from __future__ import annotations

import re
from urllib.parse import urlencode

from auth import clients, service
from exchange.policy import SYSTEM
from tests.conftest import PASSWORD, add_user
from tests.web.test_pages import signed_in

EMAIL = "reader@buyer.example"


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _chinese_client(app):
    client = signed_in(app, app.test_client(), EMAIL, ("buyer",), "buyer")
    client.get("/?lang=zh-CN")  # the language is remembered in the session
    return client


def test_the_sign_in_page_is_in_chinese(client):
    page = client.get("/login?lang=zh-CN").text
    for text in ("登录", "电子邮件", "密码", "还没有账户？"):
        assert text in page
    for english in ("Password", "Email<", "No account yet", "an administrator approves"):
        assert english not in page


def test_a_failed_sign_in_and_an_expired_form_say_why_in_chinese(app, client):
    with app.app_context():
        add_user(EMAIL)
    token = _csrf(client.get("/login?lang=zh-CN").text)
    wrong = client.post("/login", data={"email": EMAIL, "password": "not-it", "csrf_token": token})
    assert wrong.status_code == 401 and "电子邮件或密码错误。" in wrong.text and "Wrong email" not in wrong.text
    expired = client.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": "stale"})
    assert expired.status_code == 400 and "表单已过期；请重试。" in expired.text


def test_a_pending_organisation_is_told_why_in_chinese(app, client):
    from auth.models import OrgStatus
    with app.app_context():
        add_user(EMAIL, status=OrgStatus.pending)
    token = _csrf(client.get("/login?lang=zh-CN").text)
    answer = client.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 401 and "您的组织正在等待审批" in answer.text


def test_english_stays_as_it_was(app, client):
    with app.app_context():
        add_user(EMAIL)
    page = client.get("/login?lang=en").text
    assert "Password" in page and "密码" not in page
    answer = client.post("/login", data={"email": EMAIL, "password": "not-it", "csrf_token": _csrf(page)})
    assert "Wrong email or password." in answer.text


def test_the_clients_page_and_its_form_errors_are_in_chinese(app):
    client = _chinese_client(app)
    page = client.get("/account/clients").text
    for text in ("您的 API 客户端", "新建 API 客户端", "创建客户端", "搜索和查看目录", "当前登录："):
        assert text in page
    for english in ("Your API clients", "Create client", "Search and read the catalogue", ">Name<"):
        assert english not in page
    answer = client.post("/account/clients", data={"csrf_token": _csrf(page), "name": " ", "kind": "nope"})
    assert answer.status_code == 422
    for error in ("请输入名称。", "请选择机器客户端或授权码。", "请至少选择一个权限范围。"):
        assert error in answer.text
    assert "Enter a name." not in answer.text
    bad_uri = client.post("/account/clients", data={"csrf_token": _csrf(page), "name": "app", "kind": "authorization_code",
                                                    "redirect_uri": "ftp://example.com/cb", "scope": "catalog:read"})
    assert bad_uri.status_code == 422 and "必须是 https://" in bad_uri.text


def test_the_delete_confirmation_and_an_unknown_client_are_in_chinese(app):
    client = _chinese_client(app)
    with app.app_context():
        made, _ = clients.create_client(SYSTEM, {"name": "nightly sync", "grant_types": ["client_credentials"],
                                                 "scope": "catalog:read"}, owner=service.find_user(EMAIL))
        client_id = made.client_id
    page = client.get(f"/account/clients/{client_id}/delete").text
    for text in ("删除 API 客户端“nightly sync”？", "此操作无法撤销", "取消"):
        assert text in page
    assert "cannot be undone" not in page and ">Cancel<" not in page
    missing = client.get("/account/clients/no-such-client/delete")
    assert missing.status_code == 404 and "您没有这个 API 客户端。" in missing.text


def test_the_consent_page_is_in_chinese(app):
    client = _chinese_client(app)
    with app.app_context():
        owner = add_user("owner@platform.example", roles=("admin",), kind="platform")
        made, _ = clients.create_client(SYSTEM, {
            "name": "<b>Map app</b>", "grant_types": ["authorization_code", "refresh_token"],
            "redirect_uris": ["https://app.example/callback"], "scope": "catalog:read admin:accounts", "public": True},
            owner=owner)
        client_id = made.client_id
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": "https://app.example/callback",
             "scope": "catalog:read admin:accounts", "state": "s1", "code_challenge_method": "S256",
             "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}
    answer = client.get(f"/oauth/authorize?{urlencode(query)}")
    assert answer.status_code == 200, answer.text
    page = answer.text
    for text in ("允许访问？", "代表您操作？", "搜索和查看目录", "不会授予", "拒绝", "&lt;b&gt;Map app&lt;/b&gt;"):
        assert text in page
    for english in ("Allow access?", "Search and read the catalogue", "will not be granted", ">Deny<", "<b>Map app"):
        assert english not in page


def test_who_is_signed_in_on_the_home_page_is_in_chinese(app):
    page = _chinese_client(app).get("/").text
    section = page[page.index('<section aria-label="您的账户">'):]
    section = section[:section.index("</section>")]
    for text in ("当前登录：", "(买方)", "组织状态：", "有效", "退出登录"):
        assert text in section
    for english in ("Signed in as", "status:", "active", "(buyer)"):
        assert english not in section


def test_who_is_signed_in_reads_as_before_in_english(app):
    client = signed_in(app, app.test_client(), EMAIL, ("buyer",), "buyer")
    page = client.get("/?lang=en").text
    assert "Signed in as <strong>reader@buyer.example</strong> (buyer)" in page
    assert "organisation status: <strong>active</strong>." in page
