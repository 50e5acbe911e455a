"""Who may call what: clients API, admin routes, organisation status, sign-in throttling, CSRF."""
from __future__ import annotations

import json
import re

import requests

from auth.keys import peek
from tests.auth.conftest import PASSWORD, csrf_of, sign_in


def admin_token(live, email="root@ctl.example") -> str:
    live.user(email, roles=("admin",), kind="platform", org="Platform Ops")
    client_id, secret = live.client(email, "admin:accounts catalog:read")
    return live.client_credentials_token(client_id, secret)["access_token"]


def buyer_token(live, email="buyer@ctl.example", scope="catalog:read orders:read") -> str:
    live.user(email)
    client_id, secret = live.client(email, scope)
    return live.client_credentials_token(client_id, secret)["access_token"]


# -- every API route is protected ------------------------------------------------------------------
#: What anyone may read without a token: the licence templates and the offers (what is for sale and on
#: which terms, as every STAC item shows). Adding to this list is a decision, not an accident.
PUBLIC_READS = {"/api/v1/licenses/templates", "/api/v1/licenses/templates/<code>",
                "/api/v1/licenses/templates/<code>/versions", "/api/v1/licenses/templates/<code>/versions/<int:n>",
                "/api/v1/offers", "/api/v1/offers/<uuid:offer_id>"}


def test_every_api_route_declares_its_scopes(live):
    """Anything under /api/v1 other than sign-up must go through require_scopes; only the public reads
    answer a request without a token, and only to GET."""
    public = {"/api/v1/signup"}
    for rule in live.app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1") and rule.rule not in public:
            view = live.app.view_functions[rule.endpoint]
            assert hasattr(view, "required_scopes"), f"{rule.rule} is not protected"
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                path = re.sub(r"<uuid:\w+>", "00000000-0000-0000-0000-000000000000", rule.rule)
                path = re.sub(r"<int:\w+>", "1", path)
                path = re.sub(r"<\w+>", "x", path)
                answer = live.api(method, path)
                if view.allows_anonymous:
                    assert method == "GET" and rule.rule in PUBLIC_READS, f"{method} {rule.rule} is open to anyone"
                    assert answer.status_code in (200, 404), f"{method} {path} answered {answer.status_code}"
                else:
                    assert answer.status_code == 401, f"{method} {path} answered {answer.status_code} anonymously"
    assert {rule.rule for rule in live.app.url_map.iter_rules()} >= PUBLIC_READS


# -- clients API -----------------------------------------------------------------------------------
def test_create_client_shows_secret_once_and_stores_only_its_hash(live):
    token = buyer_token(live)
    created = live.api("POST", "/api/v1/clients", token, json={
        "name": "my script", "grant_types": ["client_credentials"], "scope": "catalog:read"})
    assert created.status_code == 201, created.text
    body = {**created.json()["client"], "client_secret": created.json()["client_secret"]}
    assert body["client_secret"] and body["scope"] == "catalog:read"
    listed = live.api("GET", "/api/v1/clients", token).json()["items"]
    assert all("client_secret" not in c for c in listed)
    with live.app.app_context():
        from auth.oauth_models import OAuthClient
        from exchange.core.db import db

        row = db.session.query(OAuthClient).filter_by(client_id=body["client_id"]).one()
        assert body["client_secret"] not in (row.secret_hash or "")
    # The new client works with its secret.
    assert live.client_credentials_token(body["client_id"], body["client_secret"])["access_token"]


def test_client_scope_escalation_is_refused(live):
    token = buyer_token(live, scope="catalog:read")
    beyond_role = live.api("POST", "/api/v1/clients", token, json={
        "name": "sneaky", "grant_types": ["client_credentials"], "scope": "catalog:read admin:policies"})
    assert beyond_role.status_code == 422
    assert any("role does not allow: admin:policies" in e["message"] for e in beyond_role.json()["errors"])
    beyond_token = live.api("POST", "/api/v1/clients", token, json={
        "name": "wider", "grant_types": ["client_credentials"], "scope": "orders:write"})
    assert beyond_token.status_code == 422
    assert any("token does not carry: orders:write" in e["message"] for e in beyond_token.json()["errors"])
    assert len(live.api("GET", "/api/v1/clients", token).json()["items"]) == 1  # only the one from the fixture


def test_client_input_errors_name_every_field(live):
    token = buyer_token(live)
    answer = live.api("POST", "/api/v1/clients", token, json={
        "name": "", "grant_types": ["implicit"], "scope": "catalog:read", "redirect_uris": ["http://evil.example/cb"]})
    assert answer.status_code == 422
    fields = {e["field"] for e in answer.json()["errors"]}
    assert {"name", "grant_types.0"} <= fields
    bad_uri = live.api("POST", "/api/v1/clients", token, json={
        "name": "web", "grant_types": ["authorization_code"], "scope": "catalog:read",
        "redirect_uris": ["http://evil.example/cb", "https://ok.example/cb#frag"], "public": True})
    assert {e["field"] for e in bad_uri.json()["errors"]} == {"redirect_uris.0", "redirect_uris.1"}


def test_a_user_cannot_see_or_delete_another_users_client(live):
    alice = buyer_token(live, "alice@ctl.example")
    bob = buyer_token(live, "bob@ctl.example")
    alice_client = live.api("GET", "/api/v1/clients", alice).json()["items"][0]["client_id"]
    assert alice_client not in [c["client_id"] for c in live.api("GET", "/api/v1/clients", bob).json()["items"]]
    stolen = live.api("DELETE", f"/api/v1/clients/{alice_client}", bob)
    assert stolen.status_code == 404
    assert live.api("GET", "/api/v1/clients", alice).status_code == 200  # still alive
    own = live.api("DELETE", f"/api/v1/clients/{alice_client}", alice)
    assert own.status_code == 204
    assert live.api("GET", "/api/v1/clients", alice).status_code == 401  # its tokens died with it


def test_client_list_is_paginated(live):
    token = buyer_token(live)
    for i in range(4):
        live.api("POST", "/api/v1/clients", token, json={"name": f"c{i}", "grant_types": ["client_credentials"],
                                                        "scope": "catalog:read"})
    seen, after = [], None
    while True:
        page = live.api("GET", "/api/v1/clients", token, params={"limit": 2, **({"after": after} if after else {})})
        assert page.status_code == 200
        seen += [c["client_id"] for c in page.json()["items"]]
        after = page.json()["next"]
        if after is None:
            break
    assert len(seen) == len(set(seen)) == 5
    assert live.api("GET", "/api/v1/clients", token, params={"limit": 0}).status_code == 422


# -- admin routes ----------------------------------------------------------------------------------
def test_buyer_calling_admin_routes_is_refused(live):
    token = buyer_token(live)
    for method, path in (("GET", "/api/v1/admin/clients"), ("POST", "/api/v1/admin/clients/x/disable"),
                         ("POST", "/api/v1/admin/orgs/00000000-0000-0000-0000-000000000000/approve")):
        answer = live.api(method, path, token)
        assert answer.status_code == 403
        assert 'error="insufficient_scope"' in answer.headers["WWW-Authenticate"]
        assert answer.json()["missing_scopes"] == ["admin:accounts"]


def test_admin_approves_a_signed_up_organisation(live):
    signup = live.api("POST", "/api/v1/signup", json={"organisation": {"name": "Newcomer Sat", "kind": "provider"},
                                                      "user": {"email": "new@sat.example", "password": PASSWORD}})
    assert signup.status_code == 202
    admin = admin_token(live)
    pending = live.api("GET", "/api/v1/admin/orgs?status=pending", admin).json()["items"]
    assert [org["name"] for org in pending] == ["Newcomer Sat"]
    org_id = pending[0]["id"]
    browser = requests.Session()
    refused = sign_in(browser, live.url, "new@sat.example")
    assert refused.status_code == 401 and "pending" in refused.text
    approved = live.api("POST", f"/api/v1/admin/orgs/{org_id}/approve", admin)
    assert approved.status_code == 200 and approved.json()["status"] == "active"
    assert sign_in(browser, live.url, "new@sat.example").status_code == 302
    missing = live.api("POST", "/api/v1/admin/orgs/00000000-0000-0000-0000-000000000001/approve", admin_token(live, "r2@ctl.example"))
    assert missing.status_code == 404 and missing.headers["Content-Type"] == "application/problem+json"


def test_admin_lists_and_disables_any_client(live):
    victim = buyer_token(live, "disabled@ctl.example")
    _, claims = peek(victim)
    admin = admin_token(live)
    listed = live.api("GET", "/api/v1/admin/clients", admin).json()["items"]
    assert claims["client_id"] in [c["client_id"] for c in listed]
    disabled = live.api("POST", f"/api/v1/admin/clients/{claims['client_id']}/disable", admin)
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    assert live.api("GET", "/api/v1/clients", victim).status_code == 401


def test_garbage_page_cursor_is_a_problem_naming_after(live):
    admin = admin_token(live)
    for path in ("/api/v1/admin/clients", "/api/v1/clients"):
        answer = live.api("GET", path, admin, params={"after": "garbage"})
        assert answer.status_code == 422 and answer.headers["Content-Type"] == "application/problem+json"
        assert [e["field"] for e in answer.json()["errors"]] == ["after"]
    first = live.api("GET", "/api/v1/admin/clients", admin, params={"limit": 1}).json()
    assert live.api("GET", "/api/v1/admin/clients", admin, params={"after": first["next"]}).status_code == 200


def test_admin_token_without_admin_scope_is_refused(live):
    live.user("halfadmin@ctl.example", roles=("admin",), kind="platform", org="Ops Two")
    client_id, secret = live.client("halfadmin@ctl.example", "catalog:read")
    token = live.client_credentials_token(client_id, secret)["access_token"]
    assert live.api("GET", "/api/v1/admin/clients", token).status_code == 403


# -- organisation status -----------------------------------------------------------------------------
def test_suspended_organisation_loses_its_tokens_and_gets_no_new_ones(live):
    live.user("suspend@ctl.example", org="Soon Suspended")
    client_id, secret = live.client("suspend@ctl.example", "catalog:read")
    token = live.client_credentials_token(client_id, secret)["access_token"]
    with live.app.app_context():
        from auth.service import find_org
        org_id = find_org("Soon Suspended").id
    assert live.api("POST", f"/api/v1/admin/orgs/{org_id}/suspend", admin_token(live)).status_code == 200
    assert live.api("GET", "/api/v1/clients", token).status_code == 401
    again = requests.post(f"{live.url}/oauth/token", data={"grant_type": "client_credentials"},
                          auth=(client_id, secret), timeout=10)
    assert again.status_code == 400 and again.json()["error"] == "unauthorized_client"
    assert sign_in(requests.Session(), live.url, "suspend@ctl.example").status_code == 401


# -- sign-in -----------------------------------------------------------------------------------------
def test_login_needs_csrf_token_and_refuses_open_redirects(live):
    live.user("csrf@ctl.example")
    no_token = requests.post(f"{live.url}/login", data={"email": "csrf@ctl.example", "password": PASSWORD},
                             allow_redirects=False, timeout=10)
    assert no_token.status_code == 400
    browser = requests.Session()
    answer = sign_in(browser, live.url, "csrf@ctl.example", next_path="https://evil.example/steal")
    assert answer.status_code == 302 and answer.headers["Location"] == "/"
    inside = sign_in(requests.Session(), live.url, "csrf@ctl.example", next_path="/oauth/authorize?x=1")
    assert inside.headers["Location"] == "/oauth/authorize?x=1"


def test_login_is_rate_limited_per_address(make_app):
    app = make_app(RATELIMIT_LOGIN="3 per minute")
    client = app.test_client()
    statuses = [client.post("/login", data={"email": "x@y.example", "password": "z"}).status_code for _ in range(5)]
    assert statuses[:3] == [400, 400, 400]  # no CSRF token: refused, but counted
    assert statuses[3:] == [429, 429]


def test_authorize_sends_anonymous_users_to_sign_in(live):
    answer = requests.get(f"{live.url}/oauth/authorize?client_id=x", allow_redirects=False, timeout=10)
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login?next=")


# -- console ------------------------------------------------------------------------------------------
def test_create_client_command_prints_credentials_that_work(live):
    live.user("cli@ctl.example", roles=("provider",), kind="provider")
    runner = live.app.test_cli_runner()
    result = runner.invoke(args=["sdx", "create-client", "--user", "cli@ctl.example", "--scopes",
                                 "catalog:read catalog:write", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    token = live.client_credentials_token(printed["client_id"], printed["client_secret"])
    assert peek(token["access_token"])[1]["scope"] == "catalog:read catalog:write"
    escalate = runner.invoke(args=["sdx", "create-client", "--user", "cli@ctl.example", "--scopes", "admin:audit"])
    assert escalate.exit_code == 2 and "admin:audit" in escalate.stderr
    nobody = runner.invoke(args=["sdx", "create-client", "--user", "nobody@ctl.example", "--scopes", "catalog:read"])
    assert nobody.exit_code == 2


def test_key_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key(live):
    old_token = buyer_token(live, "rotate@ctl.example")
    old_kid = peek(old_token)[0]["kid"]
    result = live.app.test_cli_runner().invoke(args=["sdx", "rotate-signing-key"])
    new_kid = json.loads(result.stdout)["kid"]
    assert new_kid != old_kid
    kids = [k["kid"] for k in requests.get(f"{live.url}/oauth/jwks", timeout=5).json()["keys"]]
    assert old_kid in kids and new_kid in kids
    assert live.api("GET", "/api/v1/clients", old_token).status_code == 200
    new_token = buyer_token(live, "rotate2@ctl.example")
    assert peek(new_token)[0]["kid"] == new_kid
    assert live.api("GET", "/api/v1/clients", new_token).status_code == 200
