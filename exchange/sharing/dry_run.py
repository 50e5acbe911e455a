"""Dry-running a draft policy: which sharing decisions would change if it were active.

For a bounded, deterministic sample (the first products by id, the first active organisations by
name), every use is decided twice by the combining rule of ``exchange.sharing.evaluation`` — with
the active policies, and with the active policies plus the draft (in place of the policy it
``replaces``). Targets are matched for the whole sample in one query, each organisation's approved
access requests read once, and only where the two sets apply different policies is anything
combined. Nothing is written: no policy, no version, no audit entry.
"""
from __future__ import annotations

import uuid

from sqlalchemy import or_, select

from auth.models import Organisation, OrgKind, OrgStatus
from exchange.catalog.models import Item, ItemStatus
from exchange.core.db import db, utcnow
from exchange.core.problems import ValidationProblem, load_or_problem
from exchange.policy import Identity, decide, require
from exchange.sharing import evaluation, service
from exchange.licensing.models import Entitlement
from exchange.sharing.models import AccessRequest, SharingPolicy
from exchange.sharing.schemas import ACTIONS, DryRunSchema
from exchange.sharing.targets import CompiledPolicy, active_policies, compile_document, matching

#: The changes a dry-run lists (all are counted): enough to review, a bounded answer.
MAX_LISTED = 1000


def _replaced(identity: Identity, policy_id: uuid.UUID | None, *, own: bool) -> SharingPolicy | None:
    """The policy the draft would replace: one the caller may write (named in a 422 otherwise)."""
    if policy_id is None:
        return None
    policy = db.session.get(SharingPolicy, policy_id)
    if policy is None or (own and not decide(identity, "sharing-policy:read-own", policy)):
        raise ValidationProblem("The draft replaces no policy of yours.", errors=[
            {"field": "replaces", "message": f"no policy {policy_id} that you may change"}])
    return policy


def _products(owner_org_id: uuid.UUID | None, collections: list[str], limit: int) -> list[Item]:
    query = select(Item).where(Item.status == ItemStatus.published)
    if owner_org_id is not None:  # a provider's policy reaches only its own products
        query = query.where(Item.provider_org_id == owner_org_id)
    if collections:
        query = query.where(Item.collection_id.in_(collections))
    return list(db.session.scalars(query.order_by(Item.key).limit(limit)))


def _organisations(limit: int, provider_org_id: uuid.UUID | None, document: dict) -> list[Organisation]:
    """The sampled organisations. A provider's dry-run samples only organisations it already knows —
    those its draft names, its licensees and those that asked it for access — so that it cannot list
    the platform's organisations, or learn which are government or verified."""
    query = select(Organisation).where(Organisation.status == OrgStatus.active, Organisation.kind != OrgKind.platform)
    if provider_org_id is not None:
        named = {uuid.UUID(i) for part in ("assignee", "except") for i in document[part]["org_ids"]}
        licensees = select(Entitlement.org_id).where(Entitlement.provider_org_id == provider_org_id)
        askers = select(AccessRequest.org_id).where(AccessRequest.provider_org_id == provider_org_id)
        query = query.where(or_(Organisation.id.in_(named), Organisation.id.in_(licensees),
                                Organisation.id.in_(askers)))
    return list(db.session.scalars(query.order_by(Organisation.name, Organisation.id).limit(limit)))


def _decision(member: Identity, use: str, item: Item, applying: dict, approved, now):
    """``evaluation.evaluate`` on the policies already known to apply (``applying``: use -> policies),
    for a member not exempt: discover first, then the use."""
    if use != "discover":
        seen = evaluation.combine(member, applying["discover"], item, now, approved)
        if not seen.allowed:
            return seen
    return evaluation.combine(member, applying[use], item, now, approved)


def _shown(decision, draft: CompiledPolicy, replaced: SharingPolicy | None, viewer: uuid.UUID | None) -> dict:
    """A decision as the dry-run lists it; a provider (``viewer``) sees other owners' policies unnamed."""
    policy = decision.policy.ref if decision.policy is not None else None
    if viewer is not None and decision.policy is not None and decision.policy is not draft \
            and decision.policy.owner_org_id != viewer:
        policy = {"id": None, "version": None, "name": "a policy of the platform"}
    if decision.policy is draft:  # the draft has no id of its own (the one it replaces, if any)
        policy = {**policy, "id": str(replaced.id) if replaced is not None else None, "draft": True}
    return {"allowed": decision.allowed, "rule": decision.rule, "effect": decision.effect, "policy": policy,
            "free_access": decision.free_access}


def _key(decision) -> tuple:
    """What makes two decisions differ (not the version: a replacing draft is the same policy)."""
    return (decision.allowed, decision.rule, decision.effect, decision.free_access,
            decision.policy.id if decision.policy is not None else None)


def _differences(organisations, products, before: list[CompiledPolicy], after: list[CompiledPolicy],
                 purpose: str | None, now):
    """(organisation, product, use, decision before, decision after) for each decision that differs."""
    every = before + [p for p in after if p not in before]
    matched = matching(every, [item.key for item in products], now)
    for org in organisations:
        member = evaluation.member_of(org, purpose or "")
        approved = evaluation.approvals(org.id, now)
        candidates = {(side, use): evaluation.candidates(member, use, policies)
                      for side, policies in (("before", before), ("after", after)) for use in ACTIONS}
        for item in products:
            if evaluation.exempt(member, item):
                continue
            hits = {id(p): hit for p, hit in zip(every, matched[item.key])}
            applying = {side: {use: [p for p in candidates[side, use] if hits[id(p)]] for use in ACTIONS}
                        for side in ("before", "after")}
            for use in ACTIONS:
                if all(applying["before"][u] == applying["after"][u] for u in {"discover", use}):
                    continue  # the same policies apply: the same decision
                old = _decision(member, use, item, applying["before"], approved, now)
                new = _decision(member, use, item, applying["after"], approved, now)
                if _key(old) != _key(new):
                    yield org, item, use, old, new


def dry_run(identity: Identity, body: object, *, own: bool) -> dict:
    """The decisions a draft policy would change on a sample, before and after; writes nothing."""
    require(identity, "sharing-policy:read-own" if own else "sharing-policy:administer")
    loaded = load_or_problem(DryRunSchema(), body)
    document = service.checked_document(identity, loaded, own=own)
    replaced = _replaced(identity, loaded["replaces"], own=own)
    sample = loaded["sample"]
    owner = identity.org_id if own else (replaced.owner_org_id if replaced is not None else None)
    draft = compile_document(document, policy_id=replaced.id if replaced is not None else None,
                             version=replaced.current_version + 1 if replaced is not None else 0, owner_org_id=owner)
    before = active_policies()
    after = [p for p in before if replaced is None or p.id != replaced.id] + [draft]
    now = utcnow()
    products = _products(owner, sample["collections"] or document["target"]["collections"], sample["products"])
    organisations = _organisations(sample["organisations"], identity.org_id if own else None, document)
    changes, changed, viewer = [], 0, identity.org_id if own else None
    for org, item, use, old, new in _differences(organisations, products, before, after, sample["purpose"], now):
        changed += 1
        if len(changes) < MAX_LISTED:
            changes.append({"product_id": item.key, "collection_id": item.collection_id, "item_id": item.item_id,
                            "org_id": str(org.id), "org_name": org.name, "use": use,
                            "before": _shown(old, draft, replaced, viewer), "after": _shown(new, draft, replaced, viewer)})
    return {"draft": {**document, "replaces": str(replaced.id) if replaced is not None else None},
            "sampled": {"products": len(products), "organisations": len(organisations),
                        "decisions": len(products) * len(organisations) * len(ACTIONS)},
            "changed": changed, "changes": changes, "truncated": changed > len(changes)}
