"""Issue 8 items 4 and 5: sessions end at sign-out; sign-in and sign-up reveal no accounts."""
from __future__ import annotations

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from tests.auth.conftest import CALLBACK, csrf_of, sign_in


def _authorize_url(live, client_id: str) -> str:
    oauth = OAuth2Session(client_id, scope="catalog:read", redirect_uri=CALLBACK, code_challenge_method="S256")
    url, _ = oauth.create_authorization_url(f"{live.url}/oauth/authorize", code_verifier=generate_token(48))
    return url


def test_a_cookie_copied_before_sign_out_no_longer_reaches_the_consent_page(live):
    live.user("victim@sess.example")
    client_id, _ = live.client("victim@sess.example", "catalog:read")
    browser = requests.Session()
    assert sign_in(browser, live.url, "victim@sess.example").status_code == 302
    thief = requests.Session()
    thief.cookies.update(browser.cookies)
    authorize = _authorize_url(live, client_id)
    assert thief.get(authorize, allow_redirects=False, timeout=10).status_code == 200  # the copy works

    home = browser.get(f"{live.url}/login", timeout=10)
    assert browser.post(f"{live.url}/logout", data={"csrf_token": csrf_of(home.text)},
                        allow_redirects=False, timeout=10).status_code == 302

    answer = thief.get(authorize, allow_redirects=False, timeout=10)
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login?next=")
    # Signing in again gives a working session.
    assert sign_in(browser, live.url, "victim@sess.example").status_code == 302
    assert browser.get(authorize, allow_redirects=False, timeout=10).status_code == 200


def test_sign_out_without_its_csrf_token_ends_nothing(live):
    live.user("keep@sess.example")
    client_id, _ = live.client("keep@sess.example", "catalog:read")
    browser = requests.Session()
    assert sign_in(browser, live.url, "keep@sess.example").status_code == 302
    requests.post(f"{live.url}/logout", cookies=browser.cookies, allow_redirects=False, timeout=10)
    assert browser.get(_authorize_url(live, client_id), allow_redirects=False, timeout=10).status_code == 200
