"""Issue 8 items 4 and 5: sessions end at sign-out; sign-in and sign-up reveal no accounts."""
from __future__ import annotations

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from tests.auth.conftest import CALLBACK, CSRF, PASSWORD, csrf_of, sign_in


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


# -- sign-in: the same answer for every account, slow-down per address, never a locked-out owner ----
def _sign_in_from(live, address: str, email: str, password: str) -> tuple[int, str]:
    """Sign in as a browser at ``address`` (the test client sets the remote address)."""
    client = live.app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    form = client.get("/login")
    answer = client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_of(form.text)})
    body = answer.get_data(as_text=True).replace(email, "EMAIL")
    return answer.status_code, CSRF.sub("CSRF", body)


def test_wrong_password_and_unknown_account_get_the_same_answer(live):
    live.user("known@sess.example")
    known = [_sign_in_from(live, "10.0.0.1", "known@sess.example", "wrong password!") for _ in range(12)]
    unknown = [_sign_in_from(live, "10.0.0.2", "nobody@sess.example", "wrong password!") for _ in range(12)]
    assert [status for status, _ in known] == [status for status, _ in unknown]
    assert [body for _, body in known] == [body for _, body in unknown]
    assert known[0][0] == 401 and "Wrong email or password." in known[0][1]
    assert known[-1][0] == 429  # the guessing address is slowed down…
    assert "for this account" not in known[-1][1]


def test_an_attacker_cannot_lock_the_owner_out(live):
    live.user("admin@sess.example", roles=("admin",), kind="platform", org="Sess Ops")
    for _ in range(15):
        _sign_in_from(live, "10.6.6.6", "admin@sess.example", "wrong password!")
    assert _sign_in_from(live, "10.6.6.6", "admin@sess.example", "wrong password!")[0] == 429
    # …while the owner, from their own address and with the right password, gets in at once.
    assert _sign_in_from(live, "10.1.1.1", "admin@sess.example", PASSWORD)[0] == 302


def test_failed_sign_ins_are_counted_per_address_not_successes(make_app):
    app = make_app(RATELIMIT_LOGIN_FAILURES="2 per minute")
    with app.app_context():
        from auth import service
        from exchange.policy import SYSTEM
        service.create_org(SYSTEM, {"name": "Counted", "kind": "buyer"})
        service.create_user(SYSTEM, {"org": "Counted", "email": "ok@sess.example", "password": PASSWORD,
                                     "roles": ["buyer"]})
    live = type("L", (), {"app": app})
    assert [_sign_in_from(live, "10.0.0.9", "ok@sess.example", PASSWORD)[0] for _ in range(4)] == [302] * 4
    statuses = [_sign_in_from(live, "10.0.0.9", "ok@sess.example", "wrong password!")[0] for _ in range(3)]
    assert statuses == [401, 401, 429]


# -- sign-up: no "already registered", rate-limited ---------------------------------------------------
def test_signup_does_not_reveal_a_registered_email_and_changes_nothing(live):
    live.user("taken@sess.example", org="First Org")
    fresh = live.api("POST", "/api/v1/signup", json={"organisation": {"name": "Second Org", "kind": "buyer"},
                                                     "user": {"email": "new@sess.example", "password": PASSWORD}})
    taken = live.api("POST", "/api/v1/signup", json={"organisation": {"name": "Third Org", "kind": "buyer"},
                                                     "user": {"email": "taken@sess.example", "password": "another pass"}})
    assert fresh.status_code == taken.status_code == 202
    assert fresh.json()["detail"] == taken.json()["detail"]
    assert set(fresh.json()) == set(taken.json()) and "id" not in fresh.json()["organisation"]
    with live.app.app_context():
        from auth.service import find_org, find_user
        assert find_org("Third Org") is None and find_org("Second Org") is not None
        assert find_user("taken@sess.example").organisation.name == "First Org"
    # The owner of the registered email still signs in with their own password.
    assert sign_in(requests.Session(), live.url, "taken@sess.example").status_code == 302


def test_signup_is_rate_limited_per_address(make_app):
    client = make_app(RATELIMIT_SIGNUP="3 per hour").test_client()
    statuses = [client.post("/api/v1/signup", json={"organisation": {"name": f"Org {i}", "kind": "buyer"},
                                                    "user": {"email": f"u{i}@rate.example", "password": PASSWORD}}
                            ).status_code for i in range(5)]
    assert statuses == [202, 202, 202, 429, 429]


def test_revocation_and_introspection_are_rate_limited(make_app):
    client = make_app(RATELIMIT_TOKEN="2 per minute").test_client()
    for path in ("/oauth/revoke", "/oauth/introspect"):
        statuses = [client.post(path, data={"token": "x"}).status_code for _ in range(3)]
        assert statuses[:2] != [429, 429] and statuses[2] == 429, (path, statuses)
