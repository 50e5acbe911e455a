"""Who is acting, and the one place that decides what they may do.

``decide(identity, action, resource)`` is the platform's single policy decision point: services
ask it before acting and nothing else decides access. It answers with the rule that decided, so a
denial can be explained. This first version knows identities, roles and organisation status; the
OAuth scopes, sharing policies and entitlements plug into the same function as they arrive.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from auth.models import OrgStatus, Role


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


def decide(identity: Identity, action: str, resource: Any = None) -> Decision:
    """Decide whether ``identity`` may perform ``action`` on ``resource``."""
    if identity.is_system:
        return allow("system", "the console operator may do anything")
    if action == "account:signup":
        return allow("public-signup", "anyone may ask for an organisation account")
    if identity.anonymous:
        return deny("authentication", "this action needs a signed-in user")
    if identity.org_status is not OrgStatus.active:
        return deny("org-status", "your organisation is not active")
    if action.startswith("account:") or action.startswith("admin:"):
        if Role.admin in identity.roles:
            return allow("role-admin", "administrators manage accounts")
        return deny("role-admin", "only administrators may manage accounts")
    return deny("default-deny", f"no rule allows {action}")
