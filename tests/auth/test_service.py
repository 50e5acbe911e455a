"""The accounts service called directly with an identity, as the API and the console call it."""
from __future__ import annotations

import pytest
from werkzeug.security import check_password_hash

from auth import service
from auth.models import OrgStatus, Role
from exchange.core.config import ConfigError, load_config
from exchange.core.problems import Forbidden
from exchange.policy import SYSTEM
from tests.conftest import PASSWORD, add_user, identity_for


def test_an_admin_creates_an_organisation_and_its_provider(app):
    with app.app_context():
        admin = identity_for(add_user("root@svc.example", ("admin",), "Platform", "platform"), "admin:accounts")
        org = service.create_org(admin, {"name": "Orbit Works", "kind": "provider"})
        service.create_user(admin, {"org": "Orbit Works", "email": "Ops@Orbit.example", "password": PASSWORD,
                                    "roles": ["provider"]})
        user = service.find_user("ops@orbit.example")
        assert org.status is OrgStatus.active
        assert user.organisation.name == "Orbit Works" and user.roles == {Role.provider}


def test_a_buyer_may_not_create_an_organisation_and_nothing_is_written(app):
    with app.app_context():
        buyer = identity_for(add_user("buyer@svc.example"), "admin:accounts")
        with pytest.raises(Forbidden):
            service.create_org(buyer, {"name": "Sneaky Sat", "kind": "provider"})
        assert service.find_org("Sneaky Sat") is None


def test_passwords_are_hashed_with_scrypt_at_its_production_cost_by_default(make_app):
    """The suite hashes with a cheap scrypt (tests/conftest.py); the platform's default is the strong one."""
    app = make_app(PASSWORD_HASH=load_config({})["PASSWORD_HASH"])
    with app.app_context():
        service.create_org(SYSTEM, {"name": "Hash Org", "kind": "buyer"})
        user = service.create_user(SYSTEM, {"org": "Hash Org", "email": "hash@svc.example", "password": PASSWORD,
                                            "roles": ["buyer"]})
        assert user.password_hash.startswith("scrypt:32768:8:1$")
        assert check_password_hash(user.password_hash, PASSWORD)


def test_a_password_hash_other_than_scrypt_or_pbkdf2_is_refused():
    with pytest.raises(ConfigError, match="SDX_PASSWORD_HASH"):
        load_config({"SDX_PASSWORD_HASH": "plain"})
