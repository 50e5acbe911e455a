"""Licensing's rules asked directly: every answer names the rule that decided, for anonymous callers,
buyers, other providers, owners, admins and suspended organisations."""
from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace

import pytest

from auth.models import OrgStatus, Role
from exchange.licensing.models import EntitlementStatus
from exchange.policy import ANONYMOUS, Identity, decide, query_filter

import exchange.licensing.policies  # noqa: F401  (init_app imports it; no app is built for the rules alone)

OWNER, OTHER = uuid.uuid4(), uuid.uuid4()


def who(role: Role, org=OWNER, status=OrgStatus.active, scopes=None) -> Identity:
    return Identity(user_id=uuid.uuid4(), org_id=org, roles=frozenset({role}), org_status=status,
                    scopes=None if scopes is None else frozenset(scopes.split()))


PRODUCT = SimpleNamespace(provider_org_id=OWNER, key=1)
OFFER = SimpleNamespace(provider_org_id=OWNER, withdrawn_at=dt.datetime.now(dt.timezone.utc), item_key=1,
                        collection_id=None)
LICENCE = SimpleNamespace(org_id=OTHER, provider_org_id=OWNER, status=EntitlementStatus.active)


@pytest.mark.parametrize("identity, action, resource, allowed, rule", [
    (ANONYMOUS, "license-template:read", None, True, "public"),
    (ANONYMOUS, "license-template:write", None, False, "authentication"),
    (who(Role.buyer), "license-template:write", None, False, "role-admin"),
    (who(Role.provider), "license-template:write", None, False, "role-admin"),
    (who(Role.admin, scopes="catalog:read"), "license-template:write", None, False, "scope"),
    (who(Role.admin, status=OrgStatus.suspended), "license-template:write", None, False, "org-status"),
    (who(Role.admin, scopes="admin:policies"), "license-template:write", None, True, "role-admin"),
    (ANONYMOUS, "offer:write", PRODUCT, False, "authentication"),
    (who(Role.buyer), "offer:write", PRODUCT, False, "role-provider"),
    (who(Role.provider, org=OTHER), "offer:write", PRODUCT, False, "ownership"),
    (who(Role.provider), "offer:write", PRODUCT, True, "ownership"),
    (who(Role.provider, scopes="catalog:read"), "offer:write", PRODUCT, False, "scope"),
    (who(Role.provider, status=OrgStatus.suspended), "offer:write", PRODUCT, False, "org-status"),
    (who(Role.admin, org=OTHER), "offer:write", PRODUCT, True, "role-admin"),
    (who(Role.provider), "offer:write", None, False, "no-resource"),
    # a withdrawn offer: its provider and admins only
    (ANONYMOUS, "offer:read", OFFER, False, "not-visible"),
    (who(Role.buyer), "offer:read", OFFER, False, "not-visible"),
    (who(Role.provider, org=OTHER), "offer:read", OFFER, False, "not-visible"),
    (who(Role.provider), "offer:read", OFFER, True, "ownership"),
    (who(Role.provider, status=OrgStatus.suspended), "offer:read", OFFER, False, "not-visible"),
    (who(Role.admin, org=OTHER), "offer:read", OFFER, True, "role-admin"),
    (ANONYMOUS, "entitlement:read", LICENCE, False, "authentication"),
    (who(Role.buyer, org=OTHER), "entitlement:read", LICENCE, True, "licensee"),
    (who(Role.buyer, org=OTHER, scopes="catalog:read"), "entitlement:read", LICENCE, False, "scope"),
    (who(Role.buyer, org=OTHER, status=OrgStatus.suspended), "entitlement:read", LICENCE, False, "org-status"),
    (who(Role.buyer), "entitlement:read", LICENCE, False, "ownership"),
    (who(Role.provider), "entitlement:read", LICENCE, True, "provider"),
    (who(Role.provider, org=uuid.uuid4()), "entitlement:read", LICENCE, False, "ownership"),
    (who(Role.admin, org=uuid.uuid4()), "entitlement:read", LICENCE, True, "role-admin"),
    # downloads: the owner as before; no licence (no database asked for a caller without the scope)
    (who(Role.provider, scopes="catalog:write"), "asset:download", PRODUCT, True, "provider"),
    (who(Role.buyer, scopes="catalog:read"), "asset:download", PRODUCT, False, "license"),
    (who(Role.buyer, status=OrgStatus.suspended), "asset:download", PRODUCT, False, "org-status"),
    (ANONYMOUS, "asset:download", PRODUCT, False, "authentication"),
])
def test_decisions(identity, action, resource, allowed, rule):
    decision = decide(identity, action, resource)
    assert (decision.allowed, decision.rule) == (allowed, rule)
    assert decision.reason


def test_the_list_forms_follow_the_same_grants():
    from exchange.licensing.models import Entitlement, Offer

    assert str(query_filter(ANONYMOUS, "entitlement:read", Entitlement)) == "false"
    assert "org_id" in str(query_filter(who(Role.buyer), "entitlement:read", Entitlement))
    provider = str(query_filter(who(Role.provider), "entitlement:read", Entitlement))
    assert "provider_org_id" in provider and "entitlements.org_id" in provider
    assert str(query_filter(who(Role.admin), "entitlement:read", Entitlement)) == "true"
    assert "withdrawn_at IS NULL" in str(query_filter(ANONYMOUS, "offer:read", Offer))


@pytest.fixture
def probe_action():
    """An action registered for one test only (the service audit compares the registry with the code)."""
    from exchange.policy import Rule, register, registry

    register("licensing-test:probe", Rule(grants=(), refused=("nothing", "nothing allows this")))
    yield "licensing-test:probe"
    registry._rules.pop("licensing-test:probe")


def test_extend_adds_a_grant_once_and_only_to_a_registered_rule(probe_action):
    from exchange.policy import Grant, extend
    from exchange.policy.registry import rule_for

    grant = Grant("probe", "a probe grant", test=lambda i, resource: resource == "probe")
    extend(probe_action, grant, refused=("probe", "not the probe"))
    extend(probe_action, grant)
    assert rule_for(probe_action).grants == (grant,)
    assert decide(who(Role.buyer), probe_action, "probe").rule == "probe"
    assert decide(who(Role.buyer), probe_action, "other").reason == "not the probe"
    with pytest.raises(LookupError):
        extend("licensing-test:unregistered", grant)
