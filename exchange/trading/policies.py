"""Trading's rules for the decision point.

Registered when this module is imported, which the domain's ``init_app`` does.
"""
from __future__ import annotations

from auth.models import Role
from exchange.policy import Grant, Identity, Rule, register


def _admin(identity: Identity) -> bool:
    return identity.acts_as(Role.admin)


# -- webhooks -------------------------------------------------------------------------------------------
def _webhook_rule(scope: str) -> Rule:
    """An organisation's webhook endpoints (and their delivery logs): its members, whatever their
    role, with ``scope``; administrators, any organisation's. The resource is the endpoint (or, to
    create one, an unsaved endpoint naming its organisation)."""
    return Rule(scope=scope, grants=(
        Grant("member", "members manage their organisation's webhooks",
              test=lambda i, endpoint: endpoint.org_id == i.org_id,
              where=lambda i, endpoints: endpoints.org_id == i.org_id),
        Grant("role-admin", "administrators manage every organisation's webhooks", who=_admin)),
        refused=("ownership", "this webhook belongs to another organisation"))


register("webhook:read", _webhook_rule("orders:read"))
register("webhook:write", _webhook_rule("orders:write"))
