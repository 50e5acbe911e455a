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
MEMBER_ACTIONS = {"client:create", "client:list-own", "client:read", "client:delete"}
#: Administrative actions: the role and the scope they need.
ADMIN_ACTIONS = {
    "account:create-org": "admin:accounts",
    "account:create-user": "admin:accounts",
    "account:list-orgs": "admin:accounts",
    "account:approve-org": "admin:accounts",
    "account:reactivate-org": "admin:accounts",
    "account:suspend-org": "admin:accounts",
    "account:read-org": "admin:accounts",
    "client:list-all": "admin:accounts",
    "client:disable": "admin:accounts",
}


#: Catalogue writes: a provider (role and scope) acting on what their organisation owns.
PROVIDER_ACTIONS = {"catalog:create-collection", "catalog:write-collection", "catalog:write-item"}
#: Sending a product's bytes: only its own organisation's providers, with the uploads:write scope.
UPLOAD_ACTIONS = {"product:upload"}


def _owner_id(resource: Any) -> uuid.UUID | None:
    return getattr(resource, "owner_id", None)


def _owner_org(resource: Any) -> uuid.UUID | None:
    return getattr(resource, "owner_org_id", None) or getattr(resource, "provider_org_id", None)


@dataclass(frozen=True)
class Visibility:
    """Which catalogue items an identity may discover: the read rule of ``decide`` as a query filter."""

    everything: bool = False
    own_org_id: uuid.UUID | None = None  # besides published items, every item of this organisation


def catalog_visibility(identity: Identity) -> Visibility:
    """Admins see everything; a provider also sees its organisation's unpublished items; others see
    published items only. ``decide(identity, "item:read", item)`` answers the same for one item."""
    if identity.is_system or (Role.admin in identity.roles and identity.org_status is OrgStatus.active):
        return Visibility(everything=True)
    if Role.provider in identity.roles and identity.org_status is OrgStatus.active:
        return Visibility(own_org_id=identity.org_id)
    return Visibility()


def decide(identity: Identity, action: str, resource: Any = None) -> Decision:
    """Decide whether ``identity`` may perform ``action`` on ``resource``."""
    if identity.is_system:
        return allow("system", "the console operator may do anything")
    if action in PUBLIC_ACTIONS:
        return allow("public", f"anyone may {action}")
    if action == "item:read":
        visibility = catalog_visibility(identity)
        if getattr(resource, "status", None) is not None and resource.status.value == "published":
            return allow("published", "published items are public metadata")
        if visibility.everything:
            return allow("role-admin", "administrators see every item")
        if visibility.own_org_id is not None and _owner_org(resource) == visibility.own_org_id:
            return allow("ownership", "providers see their own unpublished items")
        return deny("unpublished", "this item is not published")
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
    if action in PROVIDER_ACTIONS:
        if Role.provider not in identity.roles and Role.admin not in identity.roles:
            return deny("role-provider", "only providers publish to the catalogue")
        if not identity.has_scope("catalog:write"):
            return deny("scope", "the token lacks the scope catalog:write")
        if resource is not None and _owner_org(resource) != identity.org_id and Role.admin not in identity.roles:
            return deny("ownership", "this belongs to another organisation")
        return allow("provider", "providers manage their organisation's catalogue")
    if action in UPLOAD_ACTIONS:
        if Role.provider not in identity.roles:
            return deny("role-provider", "only providers upload products")
        if not identity.has_scope("uploads:write"):
            return deny("scope", "the token lacks the scope uploads:write")
        if resource is not None and _owner_org(resource) != identity.org_id:
            return deny("ownership", "this product belongs to another organisation")
        return allow("provider", "providers upload their organisation's products")
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
