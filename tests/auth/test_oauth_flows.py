"""The OAuth 2.0 flows driven by Authlib's standard client against a live SDX."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session

from auth.keys import peek
from tests.auth.conftest import CALLBACK, code_flow


def test_metadata_lists_exactly_what_is_supported(live):
    meta = requests.get(f"{live.url}/.well-known/oauth-authorization-server", timeout=5).json()
    assert meta["issuer"] == live.url
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert set(meta["grant_types_supported"]) == {"authorization_code", "client_credentials", "refresh_token"}
    assert meta["response_types_supported"] == ["code"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    for endpoint in ("token_endpoint", "revocation_endpoint", "introspection_endpoint", "jwks_uri"):
        assert meta[endpoint].startswith(live.url)
    jwks = requests.get(meta["jwks_uri"], timeout=5).json()
    assert jwks["keys"] and all("d" not in key for key in jwks["keys"])  # public parts only


def test_authorization_code_with_pkce_issues_a_jwt_access_token(live):
    live.user("buyer@flow.example")
    client_id, secret = live.client("buyer@flow.example", "catalog:read orders:read")
    oauth, token = code_flow(live, "buyer@flow.example", client_id, secret, "catalog:read")
    header, claims = peek(token["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256" and header["kid"]
    assert claims["iss"] == live.url and claims["aud"] == live.url and claims["client_id"] == client_id
    assert claims["scope"] == "catalog:read"
    assert claims["exp"] - claims["iat"] <= 900
    assert token["refresh_token"]
    me = live.api("GET", "/api/v1/clients", token["access_token"])
    assert me.status_code == 200 and [c["client_id"] for c in me.json()["items"]] == [client_id]


def test_authorization_response_carries_iss_and_state(live):
    live.user("iss@flow.example")
    client_id, secret = live.client("iss@flow.example", "catalog:read")
    from authlib.common.security import generate_token

    from tests.auth.conftest import consent, sign_in

    oauth = OAuth2Session(client_id, secret, scope="catalog:read", redirect_uri=CALLBACK, code_challenge_method="S256")
    url, state = oauth.create_authorization_url(f"{live.url}/oauth/authorize", code_verifier=generate_token(48))
    browser = requests.Session()
    sign_in(browser, live.url, "iss@flow.example")
    answer = consent(browser, url)
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["iss"] == [live.url] and query["state"] == [state] and query["code"]
    denied = consent(browser, oauth.create_authorization_url(f"{live.url}/oauth/authorize",
                                                             code_verifier=generate_token(48))[0], confirm="no")
    denied_query = parse_qs(urlsplit(denied.headers["Location"]).query)
    assert denied_query["error"] == ["access_denied"] and denied_query["iss"] == [live.url]


def test_public_client_uses_pkce_without_secret(live):
    live.user("native@flow.example")
    client_id, secret = live.client("native@flow.example", "catalog:read", public=True)
    assert secret is None
    _, token = code_flow(live, "native@flow.example", client_id, None, "catalog:read")
    assert live.api("GET", "/api/v1/clients", token["access_token"]).status_code == 200


def test_client_credentials_act_as_the_owner(live):
    user_id = live.user("machine@flow.example", roles=("provider",), kind="provider")
    client_id, secret = live.client("machine@flow.example", "catalog:read catalog:write")
    token = live.client_credentials_token(client_id, secret, scope="catalog:write")
    _, claims = peek(token["access_token"])
    assert claims["sub"] == str(user_id) and claims["scope"] == "catalog:write"
    assert "refresh_token" not in token


def test_refresh_rotates_and_reuse_revokes_the_family(live):
    live.user("rotate@flow.example")
    client_id, secret = live.client("rotate@flow.example", "catalog:read")
    oauth, first = code_flow(live, "rotate@flow.example", client_id, secret, "catalog:read")
    second = oauth.refresh_token(f"{live.url}/oauth/token", refresh_token=first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert live.api("GET", "/api/v1/clients", second["access_token"]).status_code == 200
    # Presenting the rotated (used) refresh token again: refused, and the whole family is revoked.
    replay = requests.post(f"{live.url}/oauth/token", data={"grant_type": "refresh_token",
                                                            "refresh_token": first["refresh_token"]},
                           auth=(client_id, secret), timeout=10)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert live.api("GET", "/api/v1/clients", second["access_token"]).status_code == 401
    after = requests.post(f"{live.url}/oauth/token", data={"grant_type": "refresh_token",
                                                           "refresh_token": second["refresh_token"]},
                          auth=(client_id, secret), timeout=10)
    assert after.json()["error"] == "invalid_grant"


def test_revoked_access_token_stops_working_at_once(live):
    live.user("revoke@flow.example")
    client_id, secret = live.client("revoke@flow.example", "catalog:read")
    token = live.client_credentials_token(client_id, secret)
    assert live.api("GET", "/api/v1/clients", token["access_token"]).status_code == 200
    revoked = requests.post(f"{live.url}/oauth/revoke", data={"token": token["access_token"],
                                                              "token_type_hint": "access_token"},
                            auth=(client_id, secret), timeout=10)
    assert revoked.status_code == 200
    answer = live.api("GET", "/api/v1/clients", token["access_token"])
    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


def test_introspection_needs_client_authentication(live):
    live.user("intro@flow.example")
    client_id, secret = live.client("intro@flow.example", "catalog:read")
    token = live.client_credentials_token(client_id, secret)
    anonymous = requests.post(f"{live.url}/oauth/introspect", data={"token": token["access_token"]}, timeout=10)
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"
    active = requests.post(f"{live.url}/oauth/introspect", data={"token": token["access_token"]},
                           auth=(client_id, secret), timeout=10).json()
    assert active["active"] is True and active["client_id"] == client_id and active["scope"] == "catalog:read"
    requests.post(f"{live.url}/oauth/revoke", data={"token": token["access_token"]}, auth=(client_id, secret),
                  timeout=10)
    inactive = requests.post(f"{live.url}/oauth/introspect", data={"token": token["access_token"]},
                             auth=(client_id, secret), timeout=10).json()
    assert inactive == {"active": False}
