"""Trading's rules for the decision point. Registered when this module is imported (``init_app``)."""
from __future__ import annotations

from auth.models import Role
from exchange.policy import Grant, Identity, Rule, register


# -- quotes, orders and spending caps (orders helper) ------------------------------------------------
def _admin(identity: Identity) -> bool:
    return identity.acts_as(Role.admin)


def _own_org(rule: str, reason: str) -> Grant:
    """The caller's organisation's quotes or orders (``org_id``), per object and as a filter."""
    return Grant(rule, reason, test=lambda i, thing: thing.org_id == i.org_id,
                 where=lambda i, model: model.org_id == i.org_id)


# Any member of an active organisation may ask for a quote; what it may license is decided per line.
register("quote:create", Rule(scope="orders:write", grants=(Grant("member", "members of an organisation buy for it"),)))
register("quote:read", Rule(scope="orders:read", needs_resource=True,
                            grants=(_own_org("ownership", "your organisation's quote"),),
                            refused=("ownership", "this quote belongs to another organisation")))
# Ordering a quote: only its own organisation's, which must be active (a suspended one is refused).
register("order:place", Rule(scope="orders:write", needs_resource=True,
                             grants=(_own_org("ownership", "your organisation's quote"),),
                             refused=("ownership", "this quote belongs to another organisation")))
register("order:read", Rule(scope="orders:read", needs_resource=True,
                            grants=(_own_org("ownership", "your organisation's order"),
                                    Grant("role-admin", "administrators see every order", who=_admin)),
                            refused=("ownership", "this order belongs to another organisation")))
register("order:cancel", Rule(scope="orders:write", needs_resource=True,
                              grants=(_own_org("ownership", "your organisation's order"),
                                      Grant("role-admin", "administrators refund any order", who=_admin)),
                              refused=("ownership", "this order belongs to another organisation")))
register("spending-cap:write", Rule(scope="orders:write", grants=(Grant("member", "members set their organisation's budget"),)))
register("spending-cap:read", Rule(scope="orders:read", grants=(Grant("member", "members see their organisation's budget"),)))
