"""Organisations and users: the console commands and self sign-up, good paths and bad."""
from __future__ import annotations

import json
import uuid

from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from auth.models import Organisation, OrgStatus, Role, User, UserRole
from exchange.core.db import db


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def create_org(runner, name="Sentinel Hub Ltd", kind="provider"):
    return runner.invoke(args=["sdx", "create-org", "--name", name, "--kind", kind])


# -- create-org ----------------------------------------------------------------------------------
def test_create_org_prints_json_with_new_id(app, runner):
    result = create_org(runner)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["name"] == "Sentinel Hub Ltd" and printed["kind"] == "provider" and printed["status"] == "active"
    with app.app_context():
        org = db.session.get(Organisation, uuid.UUID(printed["id"]))
        assert org is not None and org.name == "Sentinel Hub Ltd" and org.status is OrgStatus.active


def test_create_org_duplicate_name_is_clear_error_and_writes_nothing(app, runner):
    assert create_org(runner).exit_code == 0
    result = create_org(runner, name="sentinel hub ltd", kind="buyer")
    assert result.exit_code == 2
    assert "already exists" in result.stderr
    assert count(app, Organisation) == 1


def test_create_org_bad_kind_and_empty_name(app, runner):
    bad_kind = create_org(runner, kind="pirate")
    assert bad_kind.exit_code == 2 and "pirate" in bad_kind.stderr
    empty = create_org(runner, name="")
    assert empty.exit_code == 2 and "--name" in empty.stderr
    assert count(app, Organisation) == 0


# -- create-user ---------------------------------------------------------------------------------
def test_create_user_with_repeated_roles(app, runner):
    create_org(runner)
    result = runner.invoke(args=["sdx", "create-user", "--org", "Sentinel Hub Ltd", "--email", "Ops@Example.org",
                                 "--password", "correct horse battery", "--role", "provider", "--role", "admin"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["email"] == "ops@example.org"
    assert printed["roles"] == ["admin", "provider"]
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "ops@example.org"))
        assert user.roles == {Role.admin, Role.provider}
        assert user.password_hash != "correct horse battery"
        assert check_password_hash(user.password_hash, "correct horse battery")


def test_create_user_bad_arguments_name_every_field_and_write_nothing(app, runner):
    create_org(runner)
    result = runner.invoke(args=["sdx", "create-user", "--org", "Sentinel Hub Ltd", "--email", "not-an-email",
                                 "--password", "short", "--role", "buyer"])
    assert result.exit_code == 2
    assert "--email" in result.stderr and "--password" in result.stderr
    unknown_org = runner.invoke(args=["sdx", "create-user", "--org", "Nobody", "--email", "a@b.org",
                                      "--password", "long enough pw", "--role", "buyer"])
    assert unknown_org.exit_code == 2 and "no organisation named 'Nobody'" in unknown_org.stderr
    bad_role = runner.invoke(args=["sdx", "create-user", "--org", "Sentinel Hub Ltd", "--email", "a@b.org",
                                   "--password", "long enough pw", "--role", "king"])
    assert bad_role.exit_code == 2
    assert count(app, User) == 0 and count(app, UserRole) == 0


def test_create_user_duplicate_email_case_insensitive(app, runner):
    create_org(runner)
    args = ["sdx", "create-user", "--org", "Sentinel Hub Ltd", "--password", "long enough pw", "--role", "buyer"]
    assert runner.invoke(args=[*args, "--email", "a@b.org"]).exit_code == 0
    again = runner.invoke(args=[*args, "--email", "A@B.org"])
    assert again.exit_code == 2 and "already registered" in again.stderr
    assert count(app, User) == 1


# -- sign-up over HTTP ---------------------------------------------------------------------------
SIGNUP = {"organisation": {"name": "Orbital Farms", "kind": "buyer"},
          "user": {"email": "founder@orbital.farm", "password": "a long password"}}


def test_signup_creates_pending_org_and_its_first_user(app, client):
    response = client.post("/api/v1/signup", json=SIGNUP)
    assert response.status_code == 202, response.json
    assert response.json["organisation"]["status"] == "pending"
    assert response.json["user"]["roles"] == ["buyer"]
    assert "password" not in response.json["user"] and "password_hash" not in response.json["user"]
    with app.app_context():
        org = db.session.scalar(select(Organisation).where(Organisation.name == "Orbital Farms"))
        assert org.status is OrgStatus.pending
        assert [u.email for u in org.users] == ["founder@orbital.farm"]


def test_signup_provider_gets_provider_role(client):
    body = {"organisation": {"name": "Sat Co", "kind": "provider"}, "user": {"email": "p@sat.co", "password": "x" * 12}}
    assert client.post("/api/v1/signup", json=body).json["user"]["roles"] == ["provider"]


def test_signup_lists_every_invalid_field_and_writes_nothing(app, client):
    body = {"organisation": {"name": "", "kind": "platform"}, "user": {"email": "nope"}, "extra": 1}
    response = client.post("/api/v1/signup", json=body)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    fields = {e["field"] for e in response.json["errors"]}
    assert fields == {"organisation.name", "organisation.kind", "user.email", "user.password", "extra"}
    assert count(app, Organisation) == 0 and count(app, User) == 0


def test_signup_taken_org_name_is_409_naming_only_that_field_and_writes_nothing(app, client):
    assert client.post("/api/v1/signup", json=SIGNUP).status_code == 202
    response = client.post("/api/v1/signup", json=SIGNUP)
    assert response.status_code == 409
    assert {e["field"] for e in response.json["errors"]} == {"organisation.name"}  # never the email
    assert count(app, Organisation) == 1 and count(app, User) == 1
