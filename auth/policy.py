"""Who is acting, and the one place that decides what they may do.

``decide(identity, action, resource)`` is the platform's single policy decision point: services
ask it before acting and nothing else decides access. It combines, in order: the console operator
(may do anything), organisation status, the OAuth scope the action needs (a token's scopes, when
the call came with one), the role, and ownership of the resource. Its answer names the rule that
decided, so a denial can be explained. Sharing policies and entitlements plug in here later.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from auth.models import OrgStatus, Role
from exchange.core.problems import Forbidden


@dataclass(frozen=True)
class Identity:
    """The acting party of a service call."""

    user_id: uuid.UUID | None
    org_id: uuid.UUID | None
    roles: frozenset[Role] = frozenset()
    org_status: OrgStatus | None = None
    scopes: frozenset[str] | None = None  # None: not limited by a token (console, internal)
    is_system: bool = False
    anonymous: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def has_scope(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes


#: The operator at the server's console (`flask --app app sdx …`): may administer everything.
SYSTEM = Identity(user_id=None, org_id=None, roles=frozenset({Role.admin}), is_system=True)
#: A caller with no credentials.
ANONYMOUS = Identity(user_id=None, org_id=None, anonymous=True)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    rule: str

    def __bool__(self) -> bool:
        return self.allowed


def allow(rule: str, reason: str) -> Decision:
    return Decision(True, reason, rule)


def deny(rule: str, reason: str) -> Decision:
    return Decision(False, reason, rule)


#: Actions open to anyone, signed in or not.
PUBLIC_ACTIONS = {"account:signup"}
#: Actions any signed-in member of an active organisation may take (on what they own).
MEMBER_ACTIONS = {"client:create", "client:list-own", "client:delete"}
#: Administrative actions: the role and the scope they need.
ADMIN_ACTIONS = {
    "account:create-org": "admin:accounts",
    "account:create-user": "admin:accounts",
    "account:approve-org": "admin:accounts",
    "account:suspend-org": "admin:accounts",
    "client:list-all": "admin:accounts",
    "client:disable": "admin:accounts",
}


def _owner_id(resource: Any) -> uuid.UUID | None:
    return getattr(resource, "owner_id", None)


def decide(identity: Identity, action: str, resource: Any = None) -> Decision:
    """Decide whether ``identity`` may perform ``action`` on ``resource``."""
    if identity.is_system:
        return allow("system", "the console operator may do anything")
    if action in PUBLIC_ACTIONS:
        return allow("public", f"anyone may {action}")
    if identity.anonymous:
        return deny("authentication", "this action needs a signed-in user")
    if identity.org_status is not OrgStatus.active:
        return deny("org-status", "your organisation is not active")
    if action in ADMIN_ACTIONS:
        scope = ADMIN_ACTIONS[action]
        if Role.admin not in identity.roles:
            return deny("role-admin", "only administrators may do this")
        if not identity.has_scope(scope):
            return deny("scope", f"the token lacks the scope {scope}")
        return allow("role-admin", "administrators manage accounts")
    if action in MEMBER_ACTIONS:
        if resource is not None and _owner_id(resource) != identity.user_id:
            return deny("ownership", "this belongs to another user")
        return allow("member", "members manage what they own")
    return deny("default-deny", f"no rule allows {action}")


def require(identity: Identity, action: str, resource: Any = None) -> Decision:
    """Ask ``decide`` and raise 403, with its reason and rule, when the answer is no."""
    decision = decide(identity, action, resource)
    if not decision.allowed:
        raise Forbidden(decision.reason, rule=decision.rule)
    return decision
