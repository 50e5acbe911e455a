"""What a rule is: the conditions an action needs, and the grants that allow it.

A rule first asks of the identity alone — signed in, organisation active, one of the roles, the
token's scope — then whether any of its grants covers the resource. A grant that looks at the
resource states its condition twice, per object (``test``) and as an SQL predicate (``where``), so
that the answer for one object and the filter of a list come from the same grant (Invenio's
``can_read`` lists work this way). Actions nobody registered are denied.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from auth.models import OrgStatus, Role
from exchange.policy.identity import Identity

#: (rule, reason): how a decision names itself.
Because = tuple[str, str]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    rule: str
    #: The sharing policy that decided, ``{"id", "version", "name"}`` (None: a base rule did).
    policy: dict | None = None
    #: For a refusal, what would change it (order an offer, ask for approval, wait until a date).
    remedy: str | None = None

    def __bool__(self) -> bool:
        return self.allowed


def allow(rule: str, reason: str) -> Decision:
    return Decision(True, reason, rule)


def deny(rule: str, reason: str) -> Decision:
    return Decision(False, reason, rule)


def owner_org(resource: Any):
    """The organisation a resource belongs to: a collection's owner or a product's provider."""
    return getattr(resource, "owner_org_id", None) or getattr(resource, "provider_org_id", None)


def everyone(identity: Identity) -> bool:
    return True


@dataclass(frozen=True)
class Grant:
    """One way to be allowed: ``who`` (a test of the identity alone) on a resource ``test`` accepts —
    or, listing, on the rows ``where`` selects. No ``test``: any resource."""

    rule: str
    reason: str
    who: Callable[[Identity], bool] = everyone
    test: Callable[[Identity, Any], bool] | None = None
    where: Callable[[Identity, Any], Any] | None = None  # (identity, model) -> SQL predicate

    def covers(self, identity: Identity, resource: Any) -> bool:
        return self.who(identity) and (resource is None or self.test is None or self.test(identity, resource))


@dataclass(frozen=True)
class Rule:
    """What an action needs. The first grant that covers the resource allows (and names the
    decision); none does: ``refused``. Without a resource, a grant's ``who`` suffices."""

    grants: tuple[Grant, ...]
    refused: Because = ("default-deny", "nothing allows this")
    signed_in: bool = True
    active_org: bool = True
    roles: frozenset[Role] = frozenset()  # any one of them; empty: any role
    roles_refused: Because = ("role", "your role does not allow this")
    scope: str | None = None
    #: Decided on an object only: asked with none, the answer is no (a grant's ``who`` alone would
    #: otherwise suffice, which suits "create" actions, not reads).
    needs_resource: bool = False

    def refusal(self, identity: Identity) -> Decision | None:
        """Why the identity alone is refused, before any resource is looked at (None: it is not)."""
        if self.signed_in and identity.anonymous:
            return deny("authentication", "this action needs a signed-in user")
        if self.active_org and identity.org_status is not OrgStatus.active:
            return deny("org-status", "your organisation is not active")
        if self.roles and not self.roles & identity.roles:
            return deny(*self.roles_refused)
        if self.scope is not None and not identity.has_scope(self.scope):
            return deny("scope", f"the token lacks the scope {self.scope}")
        return None
