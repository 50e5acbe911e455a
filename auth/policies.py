"""The accounts domain's rules: organisations and users, OAuth clients, and what OAuth may grant.

Registered when this module is imported, which the domain's ``init_app`` does.
"""
from __future__ import annotations

from auth.models import Role, User
from auth.scopes import SCOPES
from exchange.policy import Grant, Identity, Rule, decide, register

_BUYER = {"catalog:read", "orders:read", "orders:write", "licenses:read", "data:download", "usage:read"}
#: The scopes each role may hold: a token's power never exceeds its user's role.
ROLE_SCOPES: dict[Role, frozenset[str]] = {
    Role.buyer: frozenset(_BUYER),
    Role.provider: frozenset(_BUYER | {"catalog:write", "uploads:write"}),
    Role.admin: frozenset(SCOPES),
}


def identity_of(user: User, *, client_id: str | None = None) -> Identity:
    """A user acting with their role's full power (a browser session, or a client acting for its
    owner): no token narrows it."""
    extra = {"client_id": client_id} if client_id else {}
    return Identity(user_id=user.id, org_id=user.org_id, roles=frozenset(user.roles),
                    org_status=user.organisation.status, scopes=None, extra=extra)


def holdable_scopes(identity: Identity) -> frozenset[str]:
    """The scopes a user, or a client or code acting for them, may hold."""
    return frozenset(scope for scope in SCOPES if decide(identity, "oauth:hold-scope", scope))


def _admins(scope: str) -> Rule:
    return Rule(roles=frozenset({Role.admin}), roles_refused=("role-admin", "only administrators may do this"),
                scope=scope, grants=(Grant("role-admin", "administrators manage accounts"),))


for _action in ("account:create-org", "account:create-user", "account:list-orgs", "account:approve-org",
                "account:reactivate-org", "account:suspend-org", "account:verify-org", "account:read-org", "client:list-all",
                "client:disable"):
    register(_action, _admins("admin:accounts"))

register("account:signup", Rule(signed_in=False, active_org=False, grants=(Grant("public", "anyone may sign up"),)))

_OWN = Rule(grants=(Grant("member", "members manage what they own",
                          test=lambda i, client: client.owner_id == i.user_id),),
            refused=("ownership", "this belongs to another user"))
for _action in ("client:create", "client:list-own", "client:read", "client:delete"):
    register(_action, _OWN)

# What a user's role lets them (and their clients, and the codes they consent to) hold. Asked
# whatever the organisation's state: whether it may hold tokens at all is the OAuth server's check.
register("oauth:hold-scope", Rule(
    signed_in=False, active_org=False, needs_resource=True,
    grants=(Grant("role-scopes", "the user's role allows this scope",
                  test=lambda i, scope: any(scope in ROLE_SCOPES[role] for role in i.roles)),),
    refused=("role-scopes", "the user's role does not allow this scope")))

# RFC 7662: a client may introspect the tokens issued to it; an administrator's client, any token.
# The identity is the client's owner acting through it (``identity_of(owner, client_id=…)``).
register("oauth:introspect", Rule(
    signed_in=False, active_org=False, needs_resource=True,
    grants=(Grant("ownership", "a client may introspect its own tokens",
                  test=lambda i, token: token.client_id == i.extra.get("client_id")),
            Grant("role-admin", "an administrator's client may introspect any token",
                  who=lambda i: Role.admin in i.roles)),
    refused=("ownership", "this token was issued to another client")))
