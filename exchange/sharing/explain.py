"""Explaining one decision: may this organisation discover, see the footprint of, license or download
this product, which rule or policy decided, and what would change a refusal.

The answer combines the platform's base rules (``decide`` on the matching platform action: item:read
for discover and view_footprint, quote:create plus an offer on sale for license, asset:download for
download) with the sharing policies' answer (``evaluation.evaluate``), in the order of the combining
rule. A product the subject may not discover is answered as an unknown one (404), so that asking
leaks nothing.
"""
from __future__ import annotations

import datetime as dt
import uuid

from auth.models import Organisation, OrgKind, Role
from exchange.catalog.models import Item
from exchange.core.db import db, utcnow
from exchange.core.problems import NotFound
from exchange.licensing.availability import active_offers
from exchange.policy import Decision, Identity, decide, require
from exchange.sharing import evaluation
from exchange.sharing.evaluation import SharingDecision
from exchange.sharing.targets import matching

ACCESS_REQUESTS = "/api/v1/access-requests"
#: The platform's base refusals of a download that a licence (an order) would lift.
NO_LICENCE = "license"


def _subject(identity: Identity, org_id: uuid.UUID | None) -> Identity:
    """Who is asked about: the caller, or (administrators) a member of ``org_id`` with every scope."""
    require(identity, "decision:explain")
    if org_id is None or org_id == identity.org_id:
        return identity
    require(identity, "decision:explain-for-org")
    org = db.session.get(Organisation, org_id)
    if org is None:
        raise NotFound(f"No organisation {org_id}.")
    roles = {Role.buyer} | ({Role.provider} if org.kind is OrgKind.provider else set())
    return Identity(user_id=None, org_id=org.id, roles=frozenset(roles), org_status=org.status, scopes=None)


def _offer_remedies(item: Item, now: dt.datetime) -> list[dict]:
    return [{"kind": "order", "offer_id": str(offer.id),
             "how": f"POST /api/v1/quotes with product_id {item.key} and offer_id {offer.id}, then order the quote"}
            for offer in active_offers([item], now).get(item.key, [])]


def _free_access_later(subject: Identity, item: Item, now: dt.datetime) -> list[dict]:
    """When a free-access permit with ``min_age_days`` will start to apply to this product."""
    waits = []
    for policy in evaluation.candidates(subject, "download"):
        opens = policy.opens_at(item)
        if policy.effect == "permit" and policy.free_access and opens is not None and opens > now \
                and matching([policy], [item.key], opens + dt.timedelta(seconds=1))[item.key][0]:
            waits.append(opens)
    return [{"kind": "wait", "until": min(waits).isoformat(), "why": "free access starts then"}] if waits else []


def _deny_ends(sharing: SharingDecision, item: Item) -> list[dict]:
    """When every applying deny stops applying (all of them bounded by ``max_age_days``)."""
    denies = [p for p in sharing.applied if p.effect == "deny"]
    if not denies or item.dt_start is None or any(p.max_age_days is None for p in denies):
        return []
    until = max(item.dt_start + dt.timedelta(days=p.max_age_days) for p in denies)
    return [{"kind": "wait", "until": until.isoformat(), "why": "the denying policy stops applying then"}]


def _request_access(item: Item) -> list[dict]:
    return [{"kind": "request_access", "how": f"POST {ACCESS_REQUESTS}",
             "body": {"product_id": item.key, "purpose": "…", "message": "…"}}]


def _base(subject: Identity, action: str, item: Item, now: dt.datetime) -> Decision:
    """The platform's own rules for the use (sharing policies aside)."""
    if action in ("discover", "view_footprint"):
        return decide(subject, "item:read", item)
    if action == "download":
        return decide(subject, "asset:download", item)
    may_quote = decide(subject, "quote:create")
    if not may_quote:
        return may_quote
    if item.provider_org_id == subject.org_id:
        return Decision(False, "this is your own organisation's product", "own-product")
    if not active_offers([item], now).get(item.key):
        return Decision(False, "this product is not on sale: no offer covers it", "no-offer")
    return Decision(True, "the product is on sale to your organisation", "offer")


def _answer(allowed: bool, rule: str, reason: str, *, effect=None, policy=None, remedies=(),
            sharing: SharingDecision | None = None) -> dict:
    attributions = list(sharing.attributions) if sharing is not None and allowed else []
    return {"allowed": allowed, "effect": effect, "rule": rule,
            "policy": {"id": policy["id"], "version": policy["version"], "name": policy.get("name")} if policy else None,
            "reason": reason, "remedy": "; or ".join(r["how"] if "how" in r else f"wait until {r['until']}"
                                                     for r in remedies) or None,
            "remedies": list(remedies), "free_access": bool(sharing and allowed and sharing.free_access),
            "attribution": " ".join(attributions) or None, "attributions": attributions, "base": False}


def explain(identity: Identity, action: str, product_id: int, org_id: uuid.UUID | None = None) -> dict:
    """The decision on ``action`` of the product for the caller (or, administrators, ``org_id``)."""
    subject = _subject(identity, org_id)
    item = db.session.get(Item, product_id)
    if item is None or not decide(identity, "item:read", item):
        raise NotFound(f"No product {product_id}.")
    now = utcnow()
    base = _base(subject, action, item, now)
    sharing = evaluation.evaluate(subject, action, item, now=now)
    # Base rules first — except the missing licence, which a policy may lift (free access) and a
    # policy's own refusal through the decision point, which ``sharing`` explains with its remedy.
    if not base and base.rule != NO_LICENCE and base.policy is None:
        return {**_answer(False, base.rule, base.reason, policy=base.policy), "base": True}
    if not sharing.allowed:
        remedies = (_request_access(item) if sharing.rule == "approval-required" else _deny_ends(sharing, item))
        return _answer(False, sharing.rule, sharing.reason, effect=sharing.effect,
                       policy=sharing.policy.ref if sharing.policy else None, remedies=remedies)
    policy = sharing.policy.ref if sharing.policy else None
    # A download without a licence: free access lifts that (the decision point's "free-access" grant
    # allowed it), or an order does.
    if sharing.free_access and (not base or base.rule == "free-access"):
        return _answer(True, "free-access", sharing.reason + " with free access, without an order",
                       effect=sharing.effect, policy=policy, sharing=sharing)
    if not base:
        remedies = _offer_remedies(item, now) + _free_access_later(subject, item, now)
        return _answer(False, base.rule, base.reason, effect=sharing.effect, policy=policy, remedies=remedies)
    if sharing.effect is None:
        return _answer(True, base.rule, base.reason, sharing=sharing)
    return _answer(True, sharing.rule, sharing.reason, effect=sharing.effect, policy=policy, sharing=sharing)
