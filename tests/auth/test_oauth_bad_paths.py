"""Every way an OAuth request can be wrong, refused with the standard error and nothing issued."""
from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from auth import keys
from auth.keys import peek
from tests.auth.conftest import CALLBACK, consent, csrf_of, sign_in


def authorize_url(live, client_id, **params) -> str:
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK, "scope": "catalog:read",
             "state": "s1", **params}
    return f"{live.url}/oauth/authorize?{urlencode({k: v for k, v in query.items() if v is not None})}"


def signed_in(live, email) -> requests.Session:
    browser = requests.Session()
    assert sign_in(browser, live.url, email).status_code == 302
    return browser


def get_code(live, browser, client_id, verifier) -> str:
    answer = consent(browser, authorize_url(live, client_id, code_challenge=create_s256_code_challenge(verifier),
                                            code_challenge_method="S256"))
    return parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]


def exchange(live, client_id, secret, code, verifier=None, redirect_uri=CALLBACK) -> requests.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier is not None:
        data["code_verifier"] = verifier
    return requests.post(f"{live.url}/oauth/token", data=data, auth=(client_id, secret), timeout=10)


def error_of(response: requests.Response) -> str:
    """The OAuth error of a redirect (query) or of a JSON answer."""
    if response.status_code == 302:
        return parse_qs(urlsplit(response.headers["Location"]).query)["error"][0]
    return response.json()["error"]


# -- PKCE -----------------------------------------------------------------------------------------
def test_plain_and_missing_code_challenge_are_refused(live):
    live.user("pkce@bad.example")
    client_id, _ = live.client("pkce@bad.example", "catalog:read")
    browser = signed_in(live, "pkce@bad.example")
    for params in ({"code_challenge": "a" * 43, "code_challenge_method": "plain"},
                   {"code_challenge": "a" * 43},  # method omitted means plain (RFC 7636)
                   {}):
        answer = browser.get(authorize_url(live, client_id, **params), allow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text
        query = parse_qs(urlsplit(answer.headers["Location"]).query)
        assert query["error"] == ["invalid_request"] and "code" not in query and query["iss"] == [live.url]


def test_missing_and_wrong_verifier_are_refused(live):
    live.user("verifier@bad.example")
    client_id, secret = live.client("verifier@bad.example", "catalog:read")
    browser = signed_in(live, "verifier@bad.example")
    verifier = generate_token(48)
    missing = exchange(live, client_id, secret, get_code(live, browser, client_id, verifier))
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    wrong = exchange(live, client_id, secret, get_code(live, browser, client_id, verifier), verifier=generate_token(48))
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert "access_token" not in wrong.json()


def insert_code(live, client_id, email, *, challenge="", method="", expires_in=timedelta(minutes=10)) -> str:
    """Put an authorization code straight into the database, as if issued earlier."""
    from auth.oauth_models import AuthorizationCode, digest
    from auth.service import find_user
    from exchange.core.db import db, utcnow

    code = generate_token(32)
    with live.app.app_context():
        db.session.add(AuthorizationCode(code_hash=digest(code), client_id=client_id, user_id=find_user(email).id,
                                         redirect_uri=CALLBACK, scope="catalog:read", code_challenge=challenge,
                                         code_challenge_method=method, expires_at=utcnow() + expires_in))
        db.session.commit()
    return code


def test_verifier_without_challenge_is_refused(live):
    """RFC 9700 §4.8.2: a code_verifier for a code that had no code_challenge is an attack signal."""
    live.user("alone@bad.example")
    client_id, secret = live.client("alone@bad.example", "catalog:read")
    code = insert_code(live, client_id, "alone@bad.example")
    answer = exchange(live, client_id, secret, code, verifier=generate_token(48))
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
    assert "access_token" not in answer.json()


def test_expired_code_is_refused(live):
    live.user("late@bad.example")
    client_id, secret = live.client("late@bad.example", "catalog:read")
    verifier = generate_token(48)
    code = insert_code(live, client_id, "late@bad.example", challenge=create_s256_code_challenge(verifier),
                       method="S256", expires_in=timedelta(seconds=-1))
    answer = exchange(live, client_id, secret, code, verifier)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    fresh = insert_code(live, client_id, "late@bad.example", challenge=create_s256_code_challenge(verifier),
                        method="S256")
    assert exchange(live, client_id, secret, fresh, verifier).status_code == 200  # the same path, in time


# -- redirect URIs and codes ------------------------------------------------------------------------
def test_redirect_uri_with_trailing_slash_is_not_redirected_to(live):
    live.user("slash@bad.example")
    client_id, _ = live.client("slash@bad.example", "catalog:read")
    browser = signed_in(live, "slash@bad.example")
    verifier = generate_token(48)
    answer = browser.get(authorize_url(live, client_id, redirect_uri=CALLBACK + "/",
                                       code_challenge=create_s256_code_challenge(verifier),
                                       code_challenge_method="S256"), allow_redirects=False, timeout=10)
    assert answer.status_code == 400
    assert "Location" not in answer.headers
    assert "cannot be served" in answer.text


def test_code_replay_is_refused_and_revokes_what_it_issued(live):
    live.user("replay@bad.example")
    client_id, secret = live.client("replay@bad.example", "catalog:read")
    browser = signed_in(live, "replay@bad.example")
    verifier = generate_token(48)
    code = get_code(live, browser, client_id, verifier)
    first = exchange(live, client_id, secret, code, verifier)
    assert first.status_code == 200
    token = first.json()
    assert live.api("GET", "/api/v1/clients", token["access_token"]).status_code == 200
    replay = exchange(live, client_id, secret, code, verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert live.api("GET", "/api/v1/clients", token["access_token"]).status_code == 401
    refresh = requests.post(f"{live.url}/oauth/token", data={"grant_type": "refresh_token",
                                                             "refresh_token": token["refresh_token"]},
                            auth=(client_id, secret), timeout=10)
    assert refresh.json()["error"] == "invalid_grant"


def test_code_of_another_client_is_refused(live):
    live.user("codeowner@bad.example")
    client_a, _ = live.client("codeowner@bad.example", "catalog:read")
    client_b, secret_b = live.client("codeowner@bad.example", "catalog:read")
    browser = signed_in(live, "codeowner@bad.example")
    verifier = generate_token(48)
    code = get_code(live, browser, client_a, verifier)
    assert exchange(live, client_b, secret_b, code, verifier).json()["error"] == "invalid_grant"


# -- tokens the resource server must refuse ---------------------------------------------------------
def forge(live, *, key=None, alg="RS256", **claim_overrides) -> str:
    """A token like ours, signed with ``key`` (default: our real signing key) and with changed claims."""
    now = int(time.time())
    with live.app.app_context():
        real_key = keys.signing_key()
    claims = {"iss": live.url, "aud": live.url, "sub": "x", "client_id": "x", "iat": now, "exp": now + 300,
              "jti": generate_token(16), "scope": "catalog:read", **claim_overrides}
    return jwt.encode({"alg": alg, "typ": "at+jwt", "kid": (key or real_key).kid}, claims, KeySet([key or real_key]))


def real_token(live, email="victim@bad.example") -> tuple[str, dict]:
    live.user(email)
    client_id, secret = live.client(email, "catalog:read")
    token = live.client_credentials_token(client_id, secret)["access_token"]
    return token, peek(token)[1]


def assert_invalid_token(live, token: str) -> None:
    answer = live.api("GET", "/api/v1/clients", token)
    assert answer.status_code == 401, answer.text
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


def test_expired_token_is_refused(live):
    _, claims = real_token(live)
    # The same jti and claims, correctly signed, but past its expiry (and the clock-skew leeway).
    expired = forge(live, **{**claims, "iat": int(time.time()) - 3600, "exp": int(time.time()) - 600})
    assert_invalid_token(live, expired)


def test_a_token_used_before_stops_working_when_it_expires(live, monkeypatch):
    """Verified signatures are remembered; the expiry is still checked on every call."""
    token, claims = real_token(live)
    assert live.api("GET", "/api/v1/clients", token).status_code == 200
    assert live.api("GET", "/api/v1/clients", token).status_code == 200
    later = claims["exp"] + 60
    monkeypatch.setattr("auth.tokens.time.time", lambda: later)
    assert_invalid_token(live, token)


def test_token_from_an_unknown_key_is_refused(live):
    _, claims = real_token(live)
    stranger = RSAKey.generate_key(2048, {"kid": "not-ours"})
    assert_invalid_token(live, forge(live, key=stranger, **claims))


def test_alg_none_is_refused(live):
    token, _ = real_token(live)
    header, payload, _ = token.split(".")
    import base64
    import json

    none_header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "at+jwt"}).encode()).rstrip(b"=")
    assert_invalid_token(live, f"{none_header.decode()}.{payload}.")


def test_token_for_another_audience_is_refused(live):
    _, claims = real_token(live)
    assert_invalid_token(live, forge(live, **{**claims, "aud": "https://other-api.example"}))


def test_tampered_and_garbage_tokens_are_refused(live):
    token, _ = real_token(live)
    head, payload, signature = token.split(".")
    assert_invalid_token(live, f"{head}.{payload}.{signature[:-4]}AAAA")
    assert_invalid_token(live, "not-a-jwt")
    missing = live.api("GET", "/api/v1/clients")
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")


def test_unrecorded_jti_is_refused(live):
    """A correctly signed token we never issued (e.g. minted with a leaked key) is unknown."""
    _, claims = real_token(live)
    assert_invalid_token(live, forge(live, **{**claims, "jti": generate_token(16)}))


# -- scopes ---------------------------------------------------------------------------------------
def test_token_cannot_ask_for_more_than_the_client_holds(live):
    live.user("narrow@bad.example")
    client_id, secret = live.client("narrow@bad.example", "catalog:read")
    answer = requests.post(f"{live.url}/oauth/token", data={"grant_type": "client_credentials",
                                                            "scope": "catalog:read orders:write"},
                           auth=(client_id, secret), timeout=10)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_scope"
    unknown = requests.post(f"{live.url}/oauth/token", data={"grant_type": "client_credentials",
                                                             "scope": "admin:everything"},
                            auth=(client_id, secret), timeout=10)
    assert unknown.json()["error"] == "invalid_scope"


def test_consent_never_grants_more_than_the_role_allows(live):
    """An admin-owned app asks a buyer for admin scopes: the buyer's token leaves them out."""
    live.user("appadmin@bad.example", roles=("admin",), kind="platform")
    client_id, secret = live.client("appadmin@bad.example", "catalog:read admin:accounts")
    live.user("plainbuyer@bad.example")
    browser = signed_in(live, "plainbuyer@bad.example")
    oauth = OAuth2Session(client_id, secret, scope="catalog:read admin:accounts", redirect_uri=CALLBACK,
                          code_challenge_method="S256")
    verifier = generate_token(48)
    url, _ = oauth.create_authorization_url(f"{live.url}/oauth/authorize", code_verifier=verifier)
    page = browser.get(url, timeout=10)
    assert "will not be granted" in page.text and "admin:accounts" in page.text
    answer = browser.post(url, data={"confirm": "yes", "csrf_token": csrf_of(page.text)}, allow_redirects=False,
                          timeout=10)
    token = oauth.fetch_token(f"{live.url}/oauth/token", authorization_response=answer.headers["Location"],
                              code_verifier=verifier)
    assert token["scope"] == "catalog:read"
    assert live.api("GET", "/api/v1/admin/clients", token["access_token"]).status_code == 403


def test_wrong_client_secret_gets_nothing(live):
    live.user("secret@bad.example")
    client_id, _ = live.client("secret@bad.example", "catalog:read")
    answer = requests.post(f"{live.url}/oauth/token", data={"grant_type": "client_credentials"},
                           auth=(client_id, "wrong"), timeout=10)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"


def test_unsupported_grants_are_refused(live):
    live.user("grants@bad.example")
    client_id, secret = live.client("grants@bad.example", "catalog:read")
    password = requests.post(f"{live.url}/oauth/token", data={"grant_type": "password", "username": "grants@bad.example",
                                                              "password": "x"}, auth=(client_id, secret), timeout=10)
    assert password.json()["error"] == "unsupported_grant_type"
    browser = signed_in(live, "grants@bad.example")
    implicit = browser.get(authorize_url(live, client_id, response_type="token"), allow_redirects=False, timeout=10)
    assert implicit.status_code in (302, 400)
    assert "access_token" not in implicit.headers.get("Location", "")
    assert error_of(implicit) == "unsupported_response_type"
