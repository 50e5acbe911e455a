"""Issue 8 item 6: a refused token request changes nothing; introspection and suspension tell the truth."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from tests.auth.conftest import CALLBACK, code_flow, consent, sign_in
from tests.auth.test_access_control import admin_token


def _token(live, **form) -> requests.Response:
    auth = form.pop("auth", None)
    return requests.post(f"{live.url}/oauth/token", data=form, auth=auth, timeout=10)


def _introspect(live, client_id, secret, token) -> dict:
    answer = requests.post(f"{live.url}/oauth/introspect", data={"token": token}, auth=(client_id, secret), timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_refused_refresh_leaves_the_refresh_token_and_its_family_working(live):
    live.user("r@oauth-sec.example")
    client_id, secret = live.client("r@oauth-sec.example", "catalog:read orders:read")
    _, token = code_flow(live, "r@oauth-sec.example", client_id, secret, "catalog:read")
    wider = _token(live, grant_type="refresh_token", refresh_token=token["refresh_token"],
                   scope="catalog:read orders:read", auth=(client_id, secret))
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    assert live.api("GET", "/api/v1/clients", token["access_token"]).status_code == 200
    again = _token(live, grant_type="refresh_token", refresh_token=token["refresh_token"], auth=(client_id, secret))
    assert again.status_code == 200, again.text
    assert live.api("GET", "/api/v1/clients", again.json()["access_token"]).status_code == 200


def test_a_wrong_code_verifier_does_not_consume_the_code(live):
    live.user("c@oauth-sec.example")
    client_id, secret = live.client("c@oauth-sec.example", "catalog:read")
    oauth = OAuth2Session(client_id, secret, scope="catalog:read", redirect_uri=CALLBACK, code_challenge_method="S256")
    verifier = generate_token(48)
    url, _ = oauth.create_authorization_url(f"{live.url}/oauth/authorize", code_verifier=verifier)
    browser = requests.Session()
    assert sign_in(browser, live.url, "c@oauth-sec.example").status_code == 302
    code = parse_qs(urlsplit(consent(browser, url).headers["Location"]).query)["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "auth": (client_id, secret)}
    wrong = _token(live, **form, code_verifier=generate_token(48))
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    right = _token(live, **form, code_verifier=verifier)
    assert right.status_code == 200, right.text
    replay = _token(live, **form, code_verifier=verifier)  # a used code still works only once
    assert replay.status_code == 400
    assert live.api("GET", "/api/v1/clients", right.json()["access_token"]).status_code == 401  # family revoked


def test_introspection_says_inactive_for_a_rotated_refresh_token(live):
    live.user("i@oauth-sec.example")
    client_id, secret = live.client("i@oauth-sec.example", "catalog:read")
    _, token = code_flow(live, "i@oauth-sec.example", client_id, secret, "catalog:read")
    assert _introspect(live, client_id, secret, token["refresh_token"])["active"] is True
    rotated = _token(live, grant_type="refresh_token", refresh_token=token["refresh_token"], auth=(client_id, secret))
    assert rotated.status_code == 200
    assert _introspect(live, client_id, secret, token["refresh_token"]) == {"active": False}
    assert _introspect(live, client_id, secret, rotated.json()["refresh_token"])["active"] is True


def _org_id(live, name):
    with live.app.app_context():
        from auth.service import find_org
        return find_org(name).id


def test_suspension_kills_tokens_for_good_and_reactivation_is_its_own_action(live):
    live.user("s@oauth-sec.example", org="Suspended Sat")
    client_id, secret = live.client("s@oauth-sec.example", "catalog:read")
    _, token = code_flow(live, "s@oauth-sec.example", client_id, secret, "catalog:read")
    org_id = _org_id(live, "Suspended Sat")
    admin = admin_token(live)
    assert live.api("POST", f"/api/v1/admin/orgs/{org_id}/suspend", admin).status_code == 200
    assert _introspect(live, client_id, secret, token["access_token"]) == {"active": False}

    approve = live.api("POST", f"/api/v1/admin/orgs/{org_id}/approve", admin)
    assert approve.status_code == 409 and approve.headers["Content-Type"] == "application/problem+json"
    reactivated = live.api("POST", f"/api/v1/admin/orgs/{org_id}/reactivate", admin)
    assert reactivated.status_code == 200 and reactivated.json()["status"] == "active"
    assert live.api("POST", f"/api/v1/admin/orgs/{org_id}/reactivate", admin).status_code == 409

    # The old tokens stay dead…
    assert live.api("GET", "/api/v1/clients", token["access_token"]).status_code == 401
    assert _introspect(live, client_id, secret, token["access_token"]) == {"active": False}
    old_refresh = _token(live, grant_type="refresh_token", refresh_token=token["refresh_token"],
                         auth=(client_id, secret))
    assert old_refresh.status_code == 400 and old_refresh.json()["error"] == "invalid_grant"
    # …while new ones work.
    fresh = live.client_credentials_token(client_id, secret)["access_token"]
    assert live.api("GET", "/api/v1/clients", fresh).status_code == 200


def test_introspection_says_inactive_for_a_token_of_a_suspended_organisation(live):
    live.user("t@oauth-sec.example", org="Paused Sat")
    client_id, secret = live.client("t@oauth-sec.example", "catalog:read")
    token = live.client_credentials_token(client_id, secret)["access_token"]
    with live.app.app_context():
        from auth.models import Organisation, OrgStatus
        from exchange.core.db import db
        db.session.get(Organisation, _org_id(live, "Paused Sat")).status = OrgStatus.suspended  # e.g. by SQL
        db.session.commit()
    assert _introspect(live, client_id, secret, token) == {"active": False}


def test_token_endpoints_take_parameters_from_the_form_body_only(live):
    live.user("q@oauth-sec.example")
    client_id, secret = live.client("q@oauth-sec.example", "catalog:read")
    answer = requests.post(f"{live.url}/oauth/token?grant_type=client_credentials", auth=(client_id, secret),
                           timeout=10)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
    assert "access_token" not in answer.json()
    both = requests.post(f"{live.url}/oauth/token?scope=catalog:read", data={"grant_type": "client_credentials"},
                         auth=(client_id, secret), timeout=10)
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"
    token = live.client_credentials_token(client_id, secret)["access_token"]
    for endpoint in ("revoke", "introspect"):
        refused = requests.post(f"{live.url}/oauth/{endpoint}?token={token}", auth=(client_id, secret), timeout=10)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_request", endpoint
    assert live.api("GET", "/api/v1/clients", token).status_code == 200  # the refused revocation did nothing
