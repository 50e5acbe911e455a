"""Administrators find organisations waiting for approval; every 201 of the accounts API says where
the created resource is (``Location``). (Sign-up answers 202 with no ids, so that it does not tell
whether an email is registered: administrators find the new organisation in the pending list.)"""
from __future__ import annotations

import requests

from tests.auth.conftest import PASSWORD
from tests.auth.test_access_control import admin_token, buyer_token


def signup(live, name: str, email: str, kind: str = "buyer") -> str:
    """Sign up; the new organisation's id as the administrators' list shows it."""
    answer = live.api("POST", "/api/v1/signup", json={"organisation": {"name": name, "kind": kind},
                                                      "user": {"email": email, "password": PASSWORD}})
    assert answer.status_code == 202, answer.text
    assert "Location" not in answer.headers  # no id is given out: the answer is the same for a known email
    with live.app.app_context():
        from auth.service import find_org

        return str(find_org(name).id)


def test_pending_organisations_are_listed_a_page_at_a_time_with_who_signed_up(live):
    token = admin_token(live)
    ids = [signup(live, f"Pending {n}", f"first{n}@pending.example") for n in range(3)]
    live.user("second@pending.example", org="Pending 0")  # a later user of the same organisation
    approved = signup(live, "Approved Co", "ok@approved.example")
    assert live.api("POST", f"/api/v1/admin/orgs/{approved}/approve", token).status_code == 200

    first = live.api("GET", "/api/v1/admin/orgs", token, params={"status": "pending", "limit": 2})
    assert first.status_code == 200, first.text
    page = first.json()
    assert [o["id"] for o in page["items"]] == ids[:2] and page["next"]
    assert page["items"][0] == {**page["items"][0], "name": "Pending 0", "kind": "buyer", "status": "pending",
                                "signup_email": "first0@pending.example"}
    assert page["items"][0]["created_at"].endswith(("Z", "+00:00"))
    second = live.api("GET", "/api/v1/admin/orgs", token, params={"status": "pending", "limit": 2,
                                                                  "after": page["next"]}).json()
    assert [o["id"] for o in second["items"]] == ids[2:] and second["next"] is None
    active = live.api("GET", "/api/v1/admin/orgs", token, params={"status": "active"}).json()["items"]
    assert approved in [o["id"] for o in active] and not set(ids) & {o["id"] for o in active}
    everything = live.api("GET", "/api/v1/admin/orgs", token).json()["items"]
    assert set(ids) | {approved} <= {o["id"] for o in everything}


def test_bad_status_limit_or_cursor_is_a_problem_naming_the_field(live):
    token = admin_token(live)
    for params, field in (({"status": "approved"}, "status"), ({"limit": 0}, "limit"),
                          ({"after": "not-a-cursor"}, "after"),
                          ({"after": "00000000-0000-0000-0000-000000000000"}, "after")):
        answer = live.api("GET", "/api/v1/admin/orgs", token, params=params)
        assert answer.status_code == 422, (params, answer.text)
        assert answer.headers["Content-Type"].startswith("application/problem+json")
        assert [e["field"] for e in answer.json()["errors"]] == [field]


def test_only_administrators_with_the_scope_list_organisations(live):
    signup(live, "Secret Pending", "hidden@pending.example")
    buyer = live.api("GET", "/api/v1/admin/orgs", buyer_token(live), params={"status": "pending"})
    assert buyer.status_code == 403 and "Secret Pending" not in buyer.text
    assert live.api("GET", "/api/v1/admin/orgs").status_code == 401
    live.user("narrow@ctl.example", roles=("admin",), kind="platform", org="Platform Ops")
    client_id, secret = live.client("narrow@ctl.example", "catalog:read")
    narrow = live.client_credentials_token(client_id, secret)["access_token"]
    answer = live.api("GET", "/api/v1/admin/orgs", narrow)
    assert answer.status_code == 403 and "admin:accounts" in answer.headers["WWW-Authenticate"]
    org_id = signup(live, "Another", "another@pending.example")
    assert live.api("GET", f"/api/v1/admin/orgs/{org_id}", buyer_token(live, "b2@ctl.example")).status_code == 403


def test_admin_orgs_route_is_in_the_openapi_document(live):
    spec = requests.get(f"{live.url}/api/openapi.json", timeout=10).json()
    operation = spec["paths"]["/api/v1/admin/orgs"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"status", "limit", "after"}
    assert "signup_email" in spec["components"]["schemas"]["AdminOrganisation"]["properties"]
    assert "Location" in spec["paths"]["/api/v1/clients"]["post"]["responses"]["201"]["headers"]


# -- Location of what a 201 created ------------------------------------------------------------------
def test_an_organisation_is_shown_with_who_signed_it_up(live):
    org_id = signup(live, "Located Ltd", "loc@signup.example")
    shown = live.api("GET", f"/api/v1/admin/orgs/{org_id}", admin_token(live))
    assert shown.status_code == 200
    assert shown.json()["name"] == "Located Ltd" and shown.json()["signup_email"] == "loc@signup.example"
    assert live.api("GET", "/api/v1/admin/orgs/00000000-0000-0000-0000-000000000001",
                    admin_token(live, "r2@ctl.example")).status_code == 404


def test_created_client_location_answers_the_client(live):
    token = buyer_token(live)
    created = live.api("POST", "/api/v1/clients", token, json={
        "name": "located", "grant_types": ["client_credentials"], "scope": "catalog:read"})
    assert created.status_code == 201, created.text
    client_id = created.json()["client"]["client_id"]
    assert created.headers["Location"] == f"{live.url}/api/v1/clients/{client_id}"
    shown = requests.get(created.headers["Location"], headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert shown.status_code == 200 and shown.json()["client_id"] == client_id and "client_secret" not in shown.json()


def test_names_of_only_spaces_are_refused_and_nothing_is_written(live):
    answer = live.api("POST", "/api/v1/signup", json={"organisation": {"name": "   ", "kind": "buyer"},
                                                      "user": {"email": "blank@names.example", "password": PASSWORD}})
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["organisation.name"]
    token = buyer_token(live)
    answer = live.api("POST", "/api/v1/clients", token, json={
        "name": " \t ", "grant_types": ["client_credentials"], "scope": "catalog:read"})
    assert answer.status_code == 422 and [e["field"] for e in answer.json()["errors"]] == ["name"]
    names = [c["name"] for c in live.api("GET", "/api/v1/clients", token).json()["items"]]
    assert names == ["client of buyer@ctl.example"]  # only the one the token came from
    everything = live.api("GET", "/api/v1/admin/orgs", admin_token(live)).json()["items"]
    assert "blank@names.example" not in {o["signup_email"] for o in everything}
