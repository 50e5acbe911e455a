"""The policy decision point: every answer names the rule that decided."""
from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from auth.models import OrgStatus, Role
from exchange.policy import ANONYMOUS, SYSTEM, Identity, decide, require
from exchange.core.problems import Forbidden

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
