"""A person who signed up gets API credentials in the browser: sign in, the home page, the API
clients page (create, list, delete), all through the real forms with their CSRF tokens."""
from __future__ import annotations

import re

import requests

from tests.auth.conftest import PASSWORD, csrf_of, sign_in
from tests.auth.test_access_control import admin_token

ERROR = re.compile(r'<span class="error"[^>]*>([^<]+)</span>')


def signed_up_and_approved(live, email: str, kind: str = "buyer", org: str | None = None) -> requests.Session:
    """Sign up through the API, have an administrator approve it, sign in: a browser session."""
    name = org or f"Org {email}"
    answer = live.api("POST", "/api/v1/signup", json={"organisation": {"name": name, "kind": kind},
                                                      "user": {"email": email, "password": PASSWORD}})
    assert answer.status_code == 202, answer.text
    admin = admin_token(live, f"root-{email}")
    pending = live.api("GET", "/api/v1/admin/orgs", admin, params={"status": "pending"}).json()["items"]
    (org_id,) = [o["id"] for o in pending if o["name"] == name]
    approved = live.api("POST", f"/api/v1/admin/orgs/{org_id}/approve", admin)
    assert approved.status_code == 200, approved.text
    browser = requests.Session()
    assert sign_in(browser, live.url, email).status_code == 302
    return browser


def clients_page(live, browser) -> requests.Response:
    page = browser.get(f"{live.url}/account/clients", allow_redirects=False, timeout=10)
    assert page.status_code == 200, page.text
    return page


def create(live, browser, **form) -> requests.Response:
    page = clients_page(live, browser)
    data = {"csrf_token": csrf_of(page.text), "name": "my script", "kind": "machine", "scope": ["catalog:read"]}
    data.update(form)
    return browser.post(f"{live.url}/account/clients", data=data, allow_redirects=False, timeout=10)


def created_ids(page: str) -> tuple[str, str | None]:
    client_id = re.search(r'<code id="client-id">([^<]+)</code>', page).group(1)
    secret = re.search(r'<code id="client-secret">([^<]+)</code>', page)
    return client_id, (secret.group(1) if secret else None)


def own_client_ids(live, email: str) -> list[str]:
    from auth.oauth_models import OAuthClient
    from auth.service import find_user
    from exchange.core.db import db

    with live.app.app_context():
        user = find_user(email)
        return [c.client_id for c in db.session.query(OAuthClient).filter_by(owner_id=user.id)]


# -- home page ---------------------------------------------------------------------------------------
def test_home_shows_who_is_signed_in_links_clients_and_signs_out(live):
    anonymous = requests.get(f"{live.url}/", timeout=10).text
    assert 'href="/login"' in anonymous and "Sign out" not in anonymous
    browser = signed_up_and_approved(live, "ada@home.example", org="Ada's Lab")
    home = browser.get(f"{live.url}/", timeout=10).text
    assert "ada@home.example" in home and "Ada&#39;s Lab" in home and "<strong>active</strong>" in home
    assert 'href="/account/clients"' in home
    assert 'action="/logout"' in home
    browser.post(f"{live.url}/logout", data={"csrf_token": csrf_of(home)}, timeout=10)
    home = browser.get(f"{live.url}/", timeout=10).text
    assert "ada@home.example" not in home and 'href="/login"' in home
    assert browser.get(f"{live.url}/account/clients", allow_redirects=False, timeout=10).status_code == 302


# -- creating, listing, deleting ---------------------------------------------------------------------
def test_machine_client_secret_is_shown_once_and_gets_a_token(live):
    browser = signed_up_and_approved(live, "bo@machine.example")
    created = create(live, browser, name="nightly sync", scope=["catalog:read", "orders:read"])
    assert created.status_code == 201, created.text
    assert "no-store" in created.headers["Cache-Control"]
    client_id, secret = created_ids(created.text)
    assert secret and "shown only this once" in created.text
    token = live.client_credentials_token(client_id, secret)
    assert set(token["scope"].split()) == {"catalog:read", "orders:read"}
    assert live.api("GET", "/api/v1/clients", token["access_token"]).json()["items"][0]["client_id"] == client_id
    listing = clients_page(live, browser).text
    assert client_id in listing and "nightly sync" in listing and secret not in listing


def test_authorization_code_client_with_its_redirect_uri(live):
    browser = signed_up_and_approved(live, "cy@app.example")
    created = create(live, browser, name="web app", kind="authorization_code",
                     redirect_uri="https://app.example/callback", scope=["catalog:read"])
    assert created.status_code == 201, created.text
    client_id, secret = created_ids(created.text)
    assert secret
    with live.app.app_context():
        from auth.clients import _get

        client = _get(client_id)
        assert client.grant_types == ["authorization_code", "refresh_token"]
        assert client.redirect_uris == ["https://app.example/callback"]


def test_bad_form_names_every_field_and_creates_nothing(live):
    browser = signed_up_and_approved(live, "di@bad.example")
    answer = create(live, browser, name="", kind="authorization_code", redirect_uri="http://evil.example/cb",
                    scope=[])
    assert answer.status_code == 422
    messages = ERROR.findall(answer.text)
    assert len(messages) >= 3, messages  # name, scope and redirect URI each get their own message
    assert "must be https://" in answer.text
    assert own_client_ids(live, "di@bad.example") == []
    answer = create(live, browser, kind="authorization_code", redirect_uri="")
    assert answer.status_code == 422 and "needs the redirect URI" in answer.text
    answer = create(live, browser, kind="password")
    assert answer.status_code == 422 and "Choose machine or authorization code" in answer.text
    assert own_client_ids(live, "di@bad.example") == []


def test_scopes_offered_are_those_of_the_role_and_others_are_refused(live):
    buyer = signed_up_and_approved(live, "eve@buyer.example")
    page = clients_page(live, buyer).text
    offered = set(re.findall(r'name="scope" value="([^"]+)"', page))
    assert "catalog:read" in offered and "orders:write" in offered
    assert not offered & {"catalog:write", "uploads:write", "admin:accounts"}
    forged = create(live, buyer, scope=["catalog:read", "admin:accounts"])
    assert forged.status_code == 422 and "your role does not allow: admin:accounts" in forged.text
    assert own_client_ids(live, "eve@buyer.example") == []
    provider = signed_up_and_approved(live, "fay@provider.example", kind="provider")
    offered = set(re.findall(r'name="scope" value="([^"]+)"', clients_page(live, provider).text))
    assert {"catalog:write", "uploads:write"} <= offered and "admin:accounts" not in offered


def test_forms_without_a_csrf_token_change_nothing(live):
    browser = signed_up_and_approved(live, "gus@csrf.example")
    refused = browser.post(f"{live.url}/account/clients", data={"name": "x", "kind": "machine",
                                                                "scope": "catalog:read"}, timeout=10)
    assert refused.status_code == 400 and "form expired" in refused.text
    assert own_client_ids(live, "gus@csrf.example") == []
    client_id, _ = created_ids(create(live, browser).text)
    refused = browser.post(f"{live.url}/account/clients/{client_id}/delete", data={"csrf_token": "forged"},
                           timeout=10)
    assert refused.status_code == 400
    assert own_client_ids(live, "gus@csrf.example") == [client_id]


def test_delete_asks_for_confirmation_then_the_client_and_its_tokens_stop(live):
    browser = signed_up_and_approved(live, "hal@delete.example")
    client_id, secret = created_ids(create(live, browser).text)
    token = live.client_credentials_token(client_id, secret)["access_token"]
    confirm = browser.get(f"{live.url}/account/clients/{client_id}/delete", timeout=10)
    assert confirm.status_code == 200 and client_id in confirm.text
    assert own_client_ids(live, "hal@delete.example") == [client_id]  # asking changed nothing
    done = browser.post(f"{live.url}/account/clients/{client_id}/delete",
                        data={"csrf_token": csrf_of(confirm.text)}, allow_redirects=False, timeout=10)
    assert done.status_code == 302 and done.headers["Location"].endswith("/account/clients")
    assert own_client_ids(live, "hal@delete.example") == []
    assert client_id not in clients_page(live, browser).text
    assert live.api("GET", "/api/v1/clients", token).status_code == 401


def test_another_user_can_neither_see_nor_delete_my_clients(live):
    owner = signed_up_and_approved(live, "ivy@owner.example")
    client_id, _ = created_ids(create(live, owner, name="ivy's secret thing").text)
    other = signed_up_and_approved(live, "jon@other.example")
    listing = clients_page(live, other).text
    assert client_id not in listing and "secret thing" not in listing
    assert other.get(f"{live.url}/account/clients/{client_id}/delete", timeout=10).status_code == 404
    form = clients_page(live, other).text
    stolen = other.post(f"{live.url}/account/clients/{client_id}/delete", data={"csrf_token": csrf_of(form)},
                        timeout=10)
    assert stolen.status_code == 404 and client_id not in stolen.text
    assert own_client_ids(live, "ivy@owner.example") == [client_id]
    # Nor through the API with a token of their own.
    their_id, their_secret = created_ids(create(live, other).text)
    token = live.client_credentials_token(their_id, their_secret)["access_token"]
    assert live.api("GET", f"/api/v1/clients/{client_id}", token).status_code == 404
    assert live.api("DELETE", f"/api/v1/clients/{client_id}", token).status_code == 404


def test_names_are_html_escaped(live):
    browser = signed_up_and_approved(live, "kim@xss.example")
    created = create(live, browser, name='<script>alert("x")</script>')
    assert created.status_code == 201
    for page in (created.text, clients_page(live, browser).text):
        assert "<script>alert" not in page and "&lt;script&gt;alert" in page


def test_the_list_comes_a_page_at_a_time(live, monkeypatch):
    from exchange.web import account

    monkeypatch.setattr(account, "PAGE_SIZE", 2)
    browser = signed_up_and_approved(live, "lea@pages.example")
    for n in range(3):
        assert create(live, browser, name=f"client {n}").status_code == 201
    first = clients_page(live, browser).text
    assert first.count("Delete…") == 2
    next_link = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = browser.get(f"{live.url}{next_link}", timeout=10).text
    assert second.count("Delete…") == 1 and 'rel="next"' not in second
    seen = set(re.findall(r"<code>([^<]+)</code></td>", first + second))
    assert seen == set(own_client_ids(live, "lea@pages.example"))


# -- organisations that are not active ---------------------------------------------------------------
def test_pending_organisation_user_is_told_and_cannot_create_clients(live):
    answer = live.api("POST", "/api/v1/signup", json={"organisation": {"name": "Waiting Ltd", "kind": "buyer"},
                                                      "user": {"email": "max@pending.example", "password": PASSWORD}})
    assert answer.status_code == 202
    browser = requests.Session()
    refused = sign_in(browser, live.url, "max@pending.example")
    assert refused.status_code == 401 and "pending" in refused.text
    assert browser.get(f"{live.url}/account/clients", allow_redirects=False, timeout=10).status_code == 302
    posted = browser.post(f"{live.url}/account/clients", data={"name": "x", "kind": "machine",
                                                               "scope": "catalog:read"}, allow_redirects=False,
                          timeout=10)
    assert posted.status_code == 302 and "/login" in posted.headers["Location"]
    assert own_client_ids(live, "max@pending.example") == []


def test_suspended_while_signed_in_is_signed_out_told_why_and_cannot_create_clients(live):
    browser = signed_up_and_approved(live, "ned@suspended.example", org="Soon Suspended")
    form = clients_page(live, browser).text
    with live.app.app_context():
        from exchange.policy import SYSTEM
        from auth.service import find_org, suspend_org

        suspend_org(SYSTEM, find_org("Soon Suspended").id)
    page = browser.get(f"{live.url}/account/clients", allow_redirects=False, timeout=10)
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    assert "ned@suspended.example" not in browser.get(f"{live.url}/", timeout=10).text
    posted = browser.post(f"{live.url}/account/clients", data={
        "csrf_token": csrf_of(form), "name": "x", "kind": "machine", "scope": "catalog:read"},
        allow_redirects=False, timeout=10)
    assert posted.status_code == 302 and "/login" in posted.headers["Location"]
    assert own_client_ids(live, "ned@suspended.example") == []
    again = sign_in(requests.Session(), live.url, "ned@suspended.example")
    assert again.status_code == 401 and "suspended" in again.text
