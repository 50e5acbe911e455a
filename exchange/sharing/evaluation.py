"""Combining the policies that apply: one answer per (caller, action, product), in two forms.

For a caller and a use (discover, view_footprint, license, download), the active policies whose assignee names the caller are the candidates;
those whose target matches the product apply. Then, in this order:

1. the product's own organisation and administrators are not subject to sharing policies;
2. ``discover`` is asked first for every other action: what one may not discover one may do nothing with;
3. any applying ``deny`` refuses;
4. else any applying ``require_approval`` refuses, unless the caller's organisation holds an approved
   access request for the product or its collection (then: allowed, rule ``access-approved``);
5. else any applying ``permit`` allows (``free_access`` if one of them grants it);
6. else no policy has an opinion and the platform's base rules decide alone.

``evaluate`` answers for one product; ``discoverable`` is the same combination of the same SQL
predicates for search, so that a list never shows what a read would refuse.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from flask import g, has_request_context, request
from sqlalchemy import and_, not_, or_, select, true

from auth.models import Organisation, Role
from exchange.core.db import db, utcnow
from exchange.policy import Decision, Identity
from exchange.sharing.models import AccessRequest, AccessRequestState
from exchange.sharing.targets import Caller, CompiledPolicy, active_policies, matching_one

PURPOSE_HEADER = "SDX-Purpose"


@dataclass(frozen=True)
class SharingDecision:
    """What the sharing policies say. ``effect`` None: no policy applies (the base rules decide)."""

    allowed: bool
    rule: str
    reason: str
    effect: str | None = None
    policy: CompiledPolicy | None = None
    free_access: bool = False
    attributions: tuple[str, ...] = ()
    #: The policies that applied and their targets' answers, for explanations (and remedies).
    applied: tuple[CompiledPolicy, ...] = field(default=(), compare=False)


NO_OPINION = SharingDecision(True, "no-policy", "no sharing policy applies")


def caller_of(identity: Identity) -> Caller:
    purpose = identity.extra.get("purpose")
    if purpose is None and has_request_context():  # declared per request; unknown ones match no purpose list
        purpose = request.headers.get(PURPOSE_HEADER)
    return _per_request(("caller", identity.org_id, purpose), lambda: _caller(identity.org_id, purpose))


def _caller(org_id: uuid.UUID | None, purpose: str | None) -> Caller:
    org = db.session.get(Organisation, org_id) if org_id is not None else None
    return Caller(org_id=org.id if org else None, kind=org.kind.value if org else None,
                  verified=bool(org and org.verified), purpose=purpose)


def member_of(org: Organisation, purpose: str = "") -> Identity:
    """Any member of ``org`` (a buyer, not an administrator) declaring ``purpose`` ("": none, whatever
    the current request declares): whom the policies are asked about on an organisation's behalf."""
    return Identity(user_id=None, org_id=org.id, roles=frozenset({Role.buyer}), org_status=org.status,
                    extra={"purpose": purpose})


def exempt(identity: Identity, item) -> bool:
    """The platform's console, administrators and the product's own organisation: not subject to sharing."""
    return identity.is_system or identity.acts_as(Role.admin) or \
        (identity.org_id is not None and item.provider_org_id == identity.org_id)


def _per_request(key, compute):
    """``compute()`` once per request (outside a request, every time): the active policies, the
    caller's organisation and approvals are read once however many products a request decides on."""
    if not has_request_context():
        return compute()
    memo = g.setdefault("sdx_sharing", {})
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def _active() -> list[CompiledPolicy]:
    return _per_request("policies", active_policies)


def forget() -> None:
    """Drop what this request read of the policies, callers and approvals (after changing them)."""
    if has_request_context():
        g.pop("sdx_sharing", None)


def candidates(identity: Identity, use: str, policies: list[CompiledPolicy] | None = None) -> list[CompiledPolicy]:
    """The policies on ``use`` (discover, view_footprint, license, download) whose assignee names the
    caller (before looking at any product)."""
    return _named(caller_of(identity), use, policies)


def _named(caller: Caller, use: str, policies: list[CompiledPolicy] | None) -> list[CompiledPolicy]:
    return [p for p in (_active() if policies is None else policies) if use in p.actions and p.applies_to(caller)]


def approvals(org_id: uuid.UUID | None, now: dt.datetime) -> tuple[set[int], set[str]]:
    """The products and collections the organisation's approved, unexpired access requests cover."""
    if org_id is None:
        return set(), set()
    return _per_request(("approvals", org_id), lambda: _approvals(org_id, now))


def _approvals(org_id: uuid.UUID, now: dt.datetime) -> tuple[set[int], set[str]]:
    rows = db.session.execute(select(AccessRequest.item_key, AccessRequest.collection_id).where(
        AccessRequest.org_id == org_id, AccessRequest.state == AccessRequestState.approved,
        or_(AccessRequest.valid_until.is_(None), AccessRequest.valid_until > now)))
    keys, collections = set(), set()
    for key, collection_id in rows:
        if key is not None:
            keys.add(key)
        if collection_id is not None:
            collections.add(collection_id)
    return keys, collections


def combine(identity: Identity, applying: list[CompiledPolicy], item, now: dt.datetime,
            approved: tuple[set[int], set[str]] | None = None) -> SharingDecision:
    """Steps 3–6 of the combining rule, for the policies whose target matched ``item``
    (``approved``: the caller's ``approvals``, when already read for many products)."""
    if not applying:
        return NO_OPINION
    for policy in applying:
        if policy.effect == "deny":
            return SharingDecision(False, "policy-deny", f"the sharing policy {policy.name!r} denies this",
                                   effect="deny", policy=policy, applied=tuple(applying))
    holds = [p for p in applying if p.effect == "require_approval"]
    if holds:
        keys, collections = approved if approved is not None else approvals(identity.org_id, now)
        if item.key not in keys and item.collection_id not in collections:
            return SharingDecision(False, "approval-required",
                                   f"the sharing policy {holds[0].name!r} requires the provider's approval",
                                   effect="require_approval", policy=holds[0], applied=tuple(applying))
    permits = [p for p in applying if p.effect == "permit"]
    attributions = tuple(p.attribution for p in permits if p.attribution)
    if holds:
        return SharingDecision(True, "access-approved", "your organisation's access request was approved",
                               effect="require_approval", policy=holds[0], attributions=attributions,
                               applied=tuple(applying))
    free = [p for p in permits if p.free_access]
    chosen = free[0] if free else permits[0]
    return SharingDecision(True, "policy-permit", f"the sharing policy {chosen.name!r} permits this",
                           effect="permit", policy=chosen, free_access=bool(free), attributions=attributions,
                           applied=tuple(applying))


def evaluate(identity: Identity, use: str, item, *, now: dt.datetime | None = None,
             policies: list[CompiledPolicy] | None = None) -> SharingDecision:
    """The sharing policies' answer on ``use`` of one product (``policies``: a draft set, for the dry-run).
    "discover" is answered first; the targets of both uses' policies are matched in one query."""
    if exempt(identity, item):
        return NO_OPINION
    now = now or utcnow()
    caller = caller_of(identity)
    uses = ("discover",) if use == "discover" else ("discover", use)
    found = {each: _named(caller, each, policies) for each in uses}
    union = list(dict.fromkeys(p for each in uses for p in found[each]))
    hits = dict(zip(union, matching_one(union, item, now))) if union else {}
    for each in uses:  # discover first: what one may not discover one may do nothing with
        decision = combine(identity, [p for p in found[each] if hits[p]], item, now)
        if not decision.allowed:
            return decision
    return decision


def discoverable(identity: Identity, items, *, now: dt.datetime | None = None,
                 policies: list[CompiledPolicy] | None = None):
    """The SQL form of ``evaluate(identity, "discover", item).allowed`` over ``items``."""
    if identity.is_system or identity.acts_as(Role.admin):
        return true()
    found = candidates(identity, "discover", policies)
    denies = [p for p in found if p.effect == "deny"]
    holds = [p for p in found if p.effect == "require_approval"]
    if not denies and not holds:
        return true()
    now = now or utcnow()
    refused = [p.predicate(items, now) for p in denies]
    if holds:
        keys, collections = approvals(identity.org_id, now)
        approved = or_(items.key.in_(sorted(keys)), items.collection_id.in_(sorted(collections)))
        refused.append(and_(or_(*[p.predicate(items, now) for p in holds]), not_(approved)))
    allowed = not_(or_(*refused))
    if identity.org_id is not None:
        allowed = or_(items.provider_org_id == identity.org_id, allowed)
    return allowed


def as_decision(decision: SharingDecision) -> Decision:
    """A refusal of the sharing policies as the decision point's ``Decision`` (rule, policy, remedy)."""
    remedy = None
    if decision.rule == "approval-required":
        remedy = ("ask the provider for access: POST /api/v1/access-requests with this product_id (or its "
                  "collection_id) and your purpose")
    return Decision(decision.allowed, decision.reason, decision.rule,
                    policy=decision.policy.ref if decision.policy is not None else None, remedy=remedy)
