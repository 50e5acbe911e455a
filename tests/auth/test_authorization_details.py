"""Licence-scoped tokens (RFC 9396 ``sdx_license`` authorization details), with Authlib's own client
against a live SDX: issued, carried, introspected, refreshed, refused — and what such a token may
download. The shop (tests/metering/conftest.py) gives the organisations, products, stored files and
entitlements."""
from __future__ import annotations

import json
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from sqlalchemy import func, select

from auth.keys import peek
from auth.models import OrgStatus, Role
from auth.oauth_models import AccessToken, AuthorizationCode, RefreshToken
from exchange.catalog.models import Item
from exchange.core.db import db
from exchange.policy import Identity, decide
from tests.auth.conftest import code_flow, consent, sign_in
from tests.conftest import CALLBACK
from tests.metering.conftest import open_shop
from tests.metering.meter import settled


@pytest.fixture
def shop(live):
    shop = open_shop(live)
    yield shop
    settled(shop)


def details(*license_ids: str, actions=("download",)) -> str:
    return json.dumps([{"type": "sdx_license", "license_ids": list(license_ids), "actions": list(actions)}])


def normalised(*license_ids: str) -> list[dict]:
    return [{"type": "sdx_license", "license_ids": sorted(license_ids), "actions": ["download"]}]


def scoped_token(shop, who: str, license_details: str, scope: str | None = None) -> dict:
    """A client-credentials token asked for with ``authorization_details``, by Authlib's client."""
    client_id, secret = shop.clients[who]
    return OAuth2Session(client_id, secret, scope=scope).fetch_token(
        f"{shop.live.url}/oauth/token", grant_type="client_credentials", authorization_details=license_details)


def refused_token(live, client: tuple[str, str], **form) -> requests.Response:
    return requests.post(f"{live.url}/oauth/token", data={"grant_type": "client_credentials", **form},
                         auth=client, timeout=10)


def token_rows(live) -> int:
    with live.app.app_context():
        return db.session.scalar(select(func.count()).select_from(AccessToken))


def introspect(shop, who: str, token: str) -> dict:
    answer = requests.post(f"{shop.live.url}/oauth/introspect", data={"token": token}, auth=shop.clients[who],
                           timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_metadata_advertises_the_sdx_license_type(live):
    meta = requests.get(f"{live.url}/.well-known/oauth-authorization-server", timeout=5).json()
    assert meta["authorization_details_types_supported"] == ["sdx_license"]


def test_client_credentials_token_carries_the_details_and_introspection_returns_them(shop):
    first, second = shop.entitlement("buyer", "alice-1"), shop.entitlement("buyer", "bob-1")
    token = scoped_token(shop, "buyer", details(second, first, first))
    assert token["authorization_details"] == normalised(first, second)  # RFC 9396 §7, sorted and unique
    assert token["scope"] == "catalog:read data:download"  # cut to what a licence-scoped token may hold
    _, claims = peek(token["access_token"])
    assert claims["authorization_details"] == normalised(first, second)
    assert claims["scope"] == "catalog:read data:download"
    answer = introspect(shop, "buyer", token["access_token"])
    assert answer["active"] is True and answer["authorization_details"] == normalised(first, second)
    plain = shop.live.client_credentials_token(*shop.clients["buyer"])
    assert "authorization_details" not in introspect(shop, "buyer", plain["access_token"])


def _authorize_url(shop, who: str, license_details: str, verifier: str) -> tuple[OAuth2Session, str]:
    client_id, secret = shop.clients[who]
    oauth = OAuth2Session(client_id, secret, redirect_uri=CALLBACK, code_challenge_method="S256")
    url, _ = oauth.create_authorization_url(f"{shop.live.url}/oauth/authorize", code_verifier=verifier,
                                            authorization_details=license_details)
    return oauth, url


def test_code_flow_keeps_the_details_through_refresh_and_a_widening_refresh_is_refused(shop):
    licence, not_asked = shop.entitlement("buyer", "alice-1"), shop.entitlement("buyer", "bob-1")
    verifier = generate_token(48)
    oauth, url = _authorize_url(shop, "buyer", details(licence), verifier)
    browser = requests.Session()
    assert sign_in(browser, shop.live.url, "buyer@meter.example").status_code == 302
    page = browser.get(url, timeout=10)
    assert licence in page.text and not_asked not in page.text  # the consent page names the licence
    answer = consent(browser, url)
    assert answer.status_code == 302, answer.text
    token = oauth.fetch_token(f"{shop.live.url}/oauth/token", authorization_response=answer.headers["Location"],
                              code_verifier=verifier)
    assert token["authorization_details"] == normalised(licence)
    assert token["scope"] == "catalog:read data:download"
    assert peek(token["access_token"])[1]["authorization_details"] == normalised(licence)

    widened = requests.post(f"{shop.live.url}/oauth/token", auth=shop.clients["buyer"], timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": token["refresh_token"],
        "authorization_details": details(licence, not_asked)})
    assert widened.status_code == 400 and widened.json()["error"] == "invalid_authorization_details"

    refreshed = oauth.refresh_token(f"{shop.live.url}/oauth/token", refresh_token=token["refresh_token"])
    assert refreshed["authorization_details"] == normalised(licence)  # the refused refresh changed nothing
    assert refreshed["scope"] == "catalog:read data:download"
    assert peek(refreshed["access_token"])[1]["authorization_details"] == normalised(licence)
    assert introspect(shop, "buyer", refreshed["refresh_token"])["authorization_details"] == normalised(licence)
    with shop.live.app.app_context():
        rows = db.session.scalars(select(RefreshToken.authorization_details)).all()
        codes = db.session.scalars(select(AuthorizationCode.authorization_details)).all()
    assert rows == [normalised(licence)] * 2 and codes == [normalised(licence)]


def test_a_grant_without_details_cannot_gain_them_at_the_token_endpoint(shop):
    licence = shop.entitlement("buyer", "alice-1")
    client_id, secret = shop.clients["buyer"]
    oauth, token = code_flow(shop.live, "buyer@meter.example", client_id, secret, "data:download")
    added = requests.post(f"{shop.live.url}/oauth/token", auth=(client_id, secret), timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": token["refresh_token"],
        "authorization_details": details(licence)})
    assert added.status_code == 400 and added.json()["error"] == "invalid_authorization_details"
    assert "carries no authorization_details" in added.json()["error_description"]
    refreshed = oauth.refresh_token(f"{shop.live.url}/oauth/token", refresh_token=token["refresh_token"])
    assert "authorization_details" not in refreshed and "authorization_details" not in peek(refreshed["access_token"])[1]


def test_a_licence_of_another_organisation_is_refused_and_nothing_is_issued(shop):
    theirs = shop.entitlement("other", "alice-1")
    mine = shop.entitlement("buyer", "alice-1")
    unknown = str(uuid.uuid4())
    before = token_rows(shop.live)
    for license_ids in ((theirs,), (mine, theirs), (unknown,)):
        answer = refused_token(shop.live, shop.clients["buyer"], authorization_details=details(*license_ids))
        assert answer.status_code == 400
        body = answer.json()
        assert body["error"] == "invalid_authorization_details"
        assert license_ids[-1] in body["error_description"] and mine not in body["error_description"]
    assert token_rows(shop.live) == before

    verifier = generate_token(48)
    _, url = _authorize_url(shop, "buyer", details(theirs), verifier)
    browser = requests.Session()
    sign_in(browser, shop.live.url, "buyer@meter.example")
    redirected = browser.get(url, allow_redirects=False, timeout=10)
    assert redirected.status_code == 302
    query = parse_qs(urlsplit(redirected.headers["Location"]).query)
    assert query["error"] == ["invalid_authorization_details"] and theirs in query["error_description"][0]


MALFORMED = [
    ("not json", "is not JSON"),
    ("[" * 100_000 + "]" * 100_000, "nested too deep"),
    ('{"type": "sdx_license"}', "non-empty JSON array"),
    ("[]", "non-empty JSON array"),
    ("[1]", "[0] is not an object"),
    ('[{"type": "payment_initiation", "license_ids": []}]', "[0].type must be one of sdx_license"),
    (details("not-a-uuid", str(uuid.uuid4()), "7"), "license_ids: item(s) 0, 2 not a UUID"),
    (details(str(uuid.uuid4()), actions=("download", "delete")), "[0].actions must be a non-empty subset"),
    (json.dumps([{"type": "sdx_license", "license_ids": [str(uuid.uuid4())], "colour": 'x"y'}]),
     "unknown fields (colour)"),
    (json.dumps([{"type": "sdx_license", "license_ids": []}]), "license_ids must be a non-empty array"),
    (details(*[str(uuid.uuid4()) for _ in range(101)]), "names more than 100 licences"),
    (json.dumps([{"type": "sdx_license", "license_ids": [str(uuid.uuid4())]}] * 11), "more than 10 objects"),
    (json.dumps([{"type": "sdx_license", "license_ids": [str(uuid.uuid4()) for _ in range(60)]} for _ in range(2)]),
     "more than 100 licences in all"),
]


def test_malformed_details_are_refused_naming_the_problem(live):
    live.user("rar@flow.example")
    client = live.client("rar@flow.example", "catalog:read data:download")
    before = token_rows(live)
    for raw, problem in MALFORMED:
        answer = refused_token(live, client, authorization_details=raw)
        assert answer.status_code == 400, raw
        assert answer.json()["error"] == "invalid_authorization_details", raw
        assert problem in answer.json()["error_description"], (raw, answer.json())
    two = json.dumps([{"type": "nope"}, {"type": "sdx_license", "license_ids": ["x"]}])
    both = refused_token(live, client, authorization_details=two).json()["error_description"]
    assert "[0].type" in both and "[1].license_ids" in both  # every problem, not the first
    assert token_rows(live) == before


def test_a_licence_scoped_token_needs_data_download_and_holds_nothing_else(shop):
    licence = shop.entitlement("buyer", "alice-1")
    cases = [({"scope": "catalog:read"}, "needs the data:download scope"),
             ({"scope": "orders:write data:download"}, "not orders:write")]
    before = token_rows(shop.live)
    for form, problem in cases:
        answer = refused_token(shop.live, shop.clients["buyer"], authorization_details=details(licence), **form)
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_scope"
        assert problem in answer.json()["error_description"]
    assert token_rows(shop.live) == before
    assert scoped_token(shop, "buyer", details(licence), scope="data:download")["scope"] == "data:download"


def test_a_scoped_token_downloads_only_under_its_licences(shop):
    alice, bob = shop.stored_file("alice-1"), shop.stored_file("bob-1")
    licence, other_licence = shop.entitlement("buyer", "alice-1"), shop.entitlement("buyer", "bob-1")
    token = scoped_token(shop, "buyer", details(licence))["access_token"]
    granted = shop.live.api("GET", alice, token, allow_redirects=False)
    assert granted.status_code == 200 and granted.headers["SDX-License-Id"] == licence
    refused = shop.live.api("GET", bob, token, allow_redirects=False)
    assert refused.status_code == 403 and refused.json()["rule"] == "license-scope"
    assert shop.api("GET", bob, "buyer", allow_redirects=False).status_code == 200  # the org's licence is fine
    assert other_licence  # held, usable, and still not this token's
    # Its own licence used up: the organisation's other usable licence is still not this token's to draw on.
    spent, third = shop.entitlement("buyer", "alice-2", bytes_used=1_000_000), shop.stored_file("alice-2")
    shop.entitlement("buyer", "alice-2")
    on_spent = shop.live.api("GET", third, scoped_token(shop, "buyer", details(spent))["access_token"],
                             allow_redirects=False)
    assert on_spent.status_code == 403 and on_spent.json()["rule"] == "license-scope"
    assert shop.api("GET", third, "buyer", allow_redirects=False).status_code == 200
    # Beyond the catalogue and downloads: nothing (its licences list needs a scope it does not hold;
    # the account routes refuse it outright).
    assert shop.live.api("GET", "/stac/collections/alice/items/alice-1", token).status_code == 200
    assert shop.live.api("GET", "/api/v1/licenses", token).status_code == 403
    clients = shop.live.api("GET", "/api/v1/clients", token)
    assert clients.status_code == 403 and clients.json()["rule"] == "license-scope"
    made = shop.live.api("POST", "/api/v1/clients", token, json={"name": "escape", "grant_types": ["client_credentials"],
                                                                 "scope": "data:download"})
    assert made.status_code == 403 and made.json()["rule"] == "license-scope"
    assert shop.api("GET", "/api/v1/clients", "buyer").json()["items"][0]["name"] != "escape"


def test_an_owners_scoped_token_is_refused_on_its_own_other_products(shop):
    own, licensed = shop.stored_file("alice-1"), shop.stored_file("bob-2")
    licence = shop.entitlement("alice", "bob-2")
    token = scoped_token(shop, "alice", details(licence))["access_token"]
    assert shop.live.api("GET", licensed, token, allow_redirects=False).status_code == 200
    assert shop.live.api("GET", own, token, allow_redirects=False).status_code == 403
    assert shop.api("GET", own, "alice", allow_redirects=False).status_code == 200  # unscoped: the owner's right
    # Even holding the owner's scope, a licence-scoped identity downloads nothing its licences do not cover.
    with shop.live.app.app_context():
        item = db.session.scalar(select(Item).where(Item.item_id == "alice-1"))
        owner = Identity(user_id=shop.users["alice"], org_id=shop.orgs["alice"], roles=frozenset({Role.provider}),
                         org_status=OrgStatus.active,
                         scopes=frozenset({"catalog:write", "data:download"}),
                         license_ids=frozenset({uuid.UUID(licence)}))
        assert decide(owner, "asset:download", item).rule == "license-scope"
        assert decide(Identity(**{**owner.__dict__, "license_ids": None}), "asset:download", item).allowed


def test_introspection_of_a_scoped_token_follows_the_client_rules(shop):
    licence = shop.entitlement("buyer", "alice-1")
    token = scoped_token(shop, "buyer", details(licence))["access_token"]
    assert introspect(shop, "admin", token)["authorization_details"] == normalised(licence)
    assert introspect(shop, "other", token) == {"active": False}  # another client's token: nothing about it
