"""Trading's rules for the decision point.

Registered when this module is imported, which the domain's ``init_app`` does. Each part of trading
keeps its rules in one block below.
"""
from __future__ import annotations

from auth.models import Role
from exchange.policy import Grant, Identity, Rule, register


def _admin(identity: Identity) -> bool:
    return identity.acts_as(Role.admin)


# -- wallets, the ledger and statements ----------------------------------------------------------------
# Money moved by hand (top-ups from outside, payouts to providers) and the whole ledger: administrators
# with admin:accounts. The resource of a wallet or statement rule is the organisation it concerns.
def _ledger_admins() -> Rule:
    return Rule(roles=frozenset({Role.admin}), roles_refused=("role-admin", "only administrators manage the ledger"),
                scope="admin:accounts", grants=(Grant("role-admin", "administrators manage the ledger", who=_admin),),
                refused=("role-admin", "only administrators manage the ledger"))


for _action in ("ledger:topup", "ledger:payout", "ledger:read"):
    register(_action, _ledger_admins())

# An organisation's wallet (balances and transfers): its own members only; admins use ledger:read.
register("wallet:read", Rule(
    scope="orders:read", needs_resource=True,
    grants=(Grant("member", "members see their own organisation's wallet",
                  test=lambda i, org: org.id == i.org_id),),
    refused=("ownership", "this wallet belongs to another organisation")))

# A provider's monthly statement: its own organisation's providers; administrators, any organisation's.
register("statement:read", Rule(
    roles=frozenset({Role.provider, Role.admin}), scope="orders:read", needs_resource=True,
    roles_refused=("role-provider", "statements are for providers"),
    grants=(Grant("role-admin", "administrators see every provider's statement", who=_admin),
            Grant("provider", "providers see their own organisation's statement",
                  who=lambda i: i.acts_as(Role.provider), test=lambda i, org: org.id == i.org_id)),
    refused=("ownership", "this statement belongs to another organisation")))


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


# -- quotes, orders and spending caps ---------------------------------------------------------------------
def _own_org(rule: str, reason: str) -> Grant:
    """The caller's organisation's quotes or orders (``org_id``), per object and as a filter."""
    return Grant(rule, reason, test=lambda i, thing: thing.org_id == i.org_id,
                 where=lambda i, model: model.org_id == i.org_id)


# Any member of an active organisation may ask for a quote; what it may license is decided per line:
# item:license, asked of each line's product when quoting and again when ordering (after item:read,
# so that what one may not see stays "not found"). The base rule lets any member license; the
# sharing policies restrict it.
register("item:license", Rule(needs_resource=True,
                              grants=(Grant("member", "members of an organisation license products for it"),)))
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
