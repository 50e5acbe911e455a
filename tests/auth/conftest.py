"""OAuth helpers: a person in a browser (sign-in, consent) and the code flow as Authlib's client runs it."""
from __future__ import annotations

import re

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from tests.conftest import CALLBACK, PASSWORD, Live


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
