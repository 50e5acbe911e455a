"""OAuth fixtures: a live server on loopback driven by a real OAuth client library (Authlib's
requests client), and factories for organisations, users and clients."""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from werkzeug.serving import make_server

from auth import clients, service
from auth.models import OrgStatus
from auth.policy import SYSTEM
from storage.embedded import free_ports

PASSWORD = "a long test password"
CALLBACK = "https://app.example/callback"


@dataclass
class Live:
    app: object
    url: str

    def user(self, email: str, roles=("buyer",), org: str | None = None, kind: str = "buyer",
             status: OrgStatus = OrgStatus.active):
        org = org or f"Org of {email}"
        with self.app.app_context():
            if service.find_org(org) is None:
                service.create_org(SYSTEM, {"name": org, "kind": kind}, status=status)
            user = service.create_user(SYSTEM, {"org": org, "email": email, "password": PASSWORD,
                                                "roles": list(roles)})
            return user.id

    def client(self, email: str, scope: str, *, public: bool = False, redirect_uris=(CALLBACK,),
               grant_types=None) -> tuple[str, str | None]:
        if grant_types is None:
            grant_types = ["authorization_code", "refresh_token"] + ([] if public else ["client_credentials"])
        with self.app.app_context():
            owner = service.find_user(email)
            client, secret = clients.create_client(SYSTEM, {
                "name": f"client of {email}", "grant_types": grant_types, "redirect_uris": list(redirect_uris),
                "scope": scope, "public": public}, owner=owner)
            return client.client_id, secret

    def client_credentials_token(self, client_id: str, secret: str, scope: str | None = None) -> dict:
        session = OAuth2Session(client_id, secret, scope=scope)
        return session.fetch_token(f"{self.url}/oauth/token", grant_type="client_credentials")

    def api(self, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=10, **kwargs)


@pytest.fixture
def live(make_app):
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}"
    app = make_app(PUBLIC_BASE_URL=url, LOGIN_LOCK_AFTER=3, LOGIN_LOCK_SECONDS=2)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Live(app, url)
    server.shutdown()
    thread.join(5)


# -- a person in a browser -----------------------------------------------------------------------
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(browser: requests.Session, url: str, email: str, password: str = PASSWORD, next_path: str = "") \
        -> requests.Response:
    form = browser.get(f"{url}/login", timeout=10)
    return browser.post(f"{url}/login", data={"email": email, "password": password, "next": next_path,
                                              "csrf_token": csrf_of(form.text)},
                        allow_redirects=False, timeout=10)


def consent(browser: requests.Session, authorize_url: str, confirm: str = "yes") -> requests.Response:
    """Open the authorization URL as the signed-in user and answer the consent form."""
    page = browser.get(authorize_url, allow_redirects=False, timeout=10)
    assert page.status_code == 200, page.text
    return browser.post(authorize_url, data={"confirm": confirm, "csrf_token": csrf_of(page.text)},
                        allow_redirects=False, timeout=10)


def code_flow(live: Live, email: str, client_id: str, secret: str | None, scope: str,
              redirect_uri: str = CALLBACK) -> tuple[OAuth2Session, dict]:
    """The whole authorization-code + PKCE flow as a standard client does it; returns the session and token."""
    oauth = OAuth2Session(client_id, secret, scope=scope, redirect_uri=redirect_uri, code_challenge_method="S256",
                          token_endpoint_auth_method="client_secret_basic" if secret else "none")
    verifier = generate_token(48)
    authorize_url, state = oauth.create_authorization_url(f"{live.url}/oauth/authorize", code_verifier=verifier)
    browser = requests.Session()
    assert sign_in(browser, live.url, email).status_code == 302
    answer = consent(browser, authorize_url)
    assert answer.status_code == 302, answer.text
    token = oauth.fetch_token(f"{live.url}/oauth/token", authorization_response=answer.headers["Location"],
                              code_verifier=verifier)
    return oauth, token
