"""The policy decision point and the rules the domains register: every answer names the rule that decided."""
from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from auth.models import OrgStatus, Role
from auth.policies import holdable_scopes
from auth.scopes import SCOPES
from exchange.catalog.models import ItemStatus
from exchange.core.problems import Forbidden
from exchange.policy import ANONYMOUS, SYSTEM, Identity, Rule, decide, query_filter, register, require

import exchange.catalog.policies  # noqa: F401  (each domain's init_app imports its rules; no app is built here)
import exchange.ingest.policies  # noqa: F401
import exchange.licensing.policies  # noqa: F401  (adds the licence grant to asset:download)

ME, OTHER = uuid.uuid4(), uuid.uuid4()


def who(*roles, status=OrgStatus.active, scopes=None, user=ME) -> Identity:
    return Identity(user_id=user, org_id=uuid.uuid4(), roles=frozenset(roles), org_status=status,
                    scopes=None if scopes is None else frozenset(scopes))


@pytest.mark.parametrize("identity, action, resource, allowed, rule", [
    (SYSTEM, "client:disable", None, True, "system"),
    (ANONYMOUS, "account:signup", None, True, "public"),
    (ANONYMOUS, "client:create", None, False, "authentication"),
    (who(Role.buyer, status=OrgStatus.pending), "client:create", None, False, "org-status"),
    (who(Role.admin, status=OrgStatus.suspended), "client:list-all", None, False, "org-status"),
    (who(Role.buyer), "client:list-all", None, False, "role-admin"),
    (who(Role.admin, scopes={"catalog:read"}), "client:list-all", None, False, "scope"),
    (who(Role.admin, scopes={"admin:accounts"}), "client:list-all", None, True, "role-admin"),
    (who(Role.buyer), "client:delete", SimpleNamespace(owner_id=ME), True, "member"),
    (who(Role.buyer), "client:delete", SimpleNamespace(owner_id=OTHER), False, "ownership"),
    (who(Role.admin), "catalog:teleport", None, False, "default-deny"),
])
def test_decisions(identity, action, resource, allowed, rule):
    decision = decide(identity, action, resource)
    assert (decision.allowed, decision.rule) == (allowed, rule)
    assert decision.reason


def test_require_raises_403_with_the_reason():
    with pytest.raises(Forbidden) as denied:
        require(who(Role.buyer), "account:approve-org")
    assert denied.value.status == 403
    assert denied.value.extra["rule"] == "role-admin"
    assert "administrators" in denied.value.detail


PROVIDER_ORG = uuid.uuid4()


def provider(*roles, scopes=None) -> Identity:
    return Identity(user_id=ME, org_id=PROVIDER_ORG, roles=frozenset(roles or {Role.provider}),
                    org_status=OrgStatus.active, scopes=None if scopes is None else frozenset(scopes))


@pytest.mark.parametrize("identity, action, resource, allowed, rule", [
    # The catalogue's rules (exchange/catalog/policies.py).
    (ANONYMOUS, "item:read", SimpleNamespace(status=ItemStatus.published, provider_org_id=OTHER), True, "published"),
    (ANONYMOUS, "item:read", SimpleNamespace(status=ItemStatus.draft, provider_org_id=OTHER), False, "unpublished"),
    (provider(), "item:read", SimpleNamespace(status=ItemStatus.draft, provider_org_id=PROVIDER_ORG), True,
     "ownership"),
    (who(Role.admin), "item:read", SimpleNamespace(status=ItemStatus.withdrawn, provider_org_id=OTHER), True,
     "role-admin"),
    (who(Role.buyer), "catalog:write-item", None, False, "role-provider"),
    (provider(scopes={"catalog:read"}), "catalog:write-item", None, False, "scope"),
    (provider(), "catalog:write-item", SimpleNamespace(provider_org_id=OTHER), False, "ownership"),
    (provider(), "asset:download", SimpleNamespace(provider_org_id=PROVIDER_ORG), True, "provider"),
    (provider(scopes={"catalog:write"}), "asset:download", SimpleNamespace(provider_org_id=OTHER, key=1), False,
     "license"),
    (who(Role.admin), "asset:download", SimpleNamespace(provider_org_id=OTHER), True, "provider"),
    (who(Role.admin), "catalog:set-status", None, False, "console"),
    (SYSTEM, "catalog:set-status", None, True, "system"),
    # Ingest's (exchange/ingest/policies.py).
    (who(Role.admin), "product:upload", SimpleNamespace(owner_org_id=OTHER), False, "role-provider"),
    (provider(), "product:upload", SimpleNamespace(owner_org_id=OTHER), False, "ownership"),
    (provider(scopes={"uploads:write"}), "product:upload", SimpleNamespace(owner_org_id=PROVIDER_ORG), True,
     "provider"),
    (who(Role.admin), "uploads:housekeeping", None, False, "console"),
    # OAuth's (auth/policies.py): what a role may hold, and who may introspect a token.
    (who(Role.buyer), "oauth:hold-scope", "catalog:write", False, "role-scopes"),
    (who(Role.provider, status=OrgStatus.pending), "oauth:hold-scope", "catalog:write", True, "role-scopes"),
    (Identity(user_id=ME, org_id=None, roles=frozenset({Role.buyer}), extra={"client_id": "c1"}),
     "oauth:introspect", SimpleNamespace(client_id="c1"), True, "ownership"),
    (Identity(user_id=ME, org_id=None, roles=frozenset({Role.buyer}), extra={"client_id": "c1"}),
     "oauth:introspect", SimpleNamespace(client_id="c2"), False, "ownership"),
    (Identity(user_id=ME, org_id=None, roles=frozenset({Role.admin}), extra={"client_id": "c1"}),
     "oauth:introspect", SimpleNamespace(client_id="c2"), True, "role-admin"),
])
def test_domain_rules(app, identity, action, resource, allowed, rule):
    with app.app_context():  # the sharing policies (none here) are asked too, from the database
        decision = decide(identity, action, resource)
    assert (decision.allowed, decision.rule) == (allowed, rule)


def test_an_action_has_one_rule():
    with pytest.raises(ValueError):
        register("item:read", Rule(grants=()))


def test_a_denied_identity_gets_an_empty_list_and_the_console_everything():
    assert str(query_filter(ANONYMOUS, "client:read", SimpleNamespace())) == "false"
    assert str(query_filter(SYSTEM, "item:read", SimpleNamespace())) == "true"
    assert str(query_filter(who(Role.admin), "catalog:teleport", SimpleNamespace())) == "false"


def test_roles_bound_the_scopes_a_user_may_hold():
    buyer, provider_, admin = (holdable_scopes(who(role)) for role in (Role.buyer, Role.provider, Role.admin))
    assert "catalog:write" not in buyer and "admin:accounts" not in provider_
    assert buyer < provider_ < admin == frozenset(SCOPES)


@pytest.mark.parametrize("action", ["item:read", "collection:read", "asset:download", "oauth:hold-scope",
                                    "oauth:introspect"])
@pytest.mark.parametrize("identity", [ANONYMOUS, who(Role.buyer), provider(Role.provider), who(Role.admin)],
                         ids=["anonymous", "buyer", "provider", "admin"])
def test_an_action_decided_on_an_object_refuses_when_none_is_given(identity, action):
    """A read asked about nothing must not fall back to "who may read something" (a grant's who alone)."""
    decision = decide(identity, action)
    assert not decision.allowed
    assert decision.rule in {"no-resource", "authentication", "role-provider"}


def test_create_actions_are_still_decided_without_an_object():
    assert decide(provider(Role.provider), "catalog:create-collection").allowed
    assert decide(who(Role.buyer), "client:create").allowed
