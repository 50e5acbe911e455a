"""The sharing policies' "view_footprint" for a page of catalogue items: which of them the caller
sees only coarsened (the catalogue's ``hooks.footprints_withheld``, which this module answers).

One query for the page: the candidate policies' targets are matched over the page's keys at once
(``targets.matching``, the predicates search runs), the organisation's approvals read once, and each
item's policies combined as ``evaluation.evaluate`` combines them. The page's items were all read
through "item:read", so the "discover" step ``evaluate`` asks first has already passed for each.
"""
from __future__ import annotations

from exchange.catalog import hooks
from exchange.core.db import utcnow
from exchange.policy import Decision, Identity
from exchange.sharing import evaluation
from exchange.sharing.targets import matching


def connect() -> None:
    """Answer the catalogue's hook (connecting twice is harmless)."""
    hooks.footprints_withheld.connect(withheld)


def withheld(rows, *, identity: Identity) -> dict[int, Decision]:
    """``{item key: the refusal}`` for the rows whose footprint the policies withhold from ``identity``."""
    found = evaluation.candidates(identity, "view_footprint")
    subject = [row for row in rows if not evaluation.exempt(identity, row)]
    if not found or not subject:
        return {}
    now = utcnow()
    hits = matching(found, [row.key for row in subject], now)
    approved = evaluation.approvals(identity.org_id, now) \
        if any(policy.effect == "require_approval" for policy in found) else (set(), set())
    refusals = {}
    for row in subject:
        decision = evaluation.combine(identity, [p for p, hit in zip(found, hits[row.key]) if hit], row, now,
                                      approved)
        if not decision.allowed:
            refusals[row.key] = evaluation.as_decision(decision)
    return refusals
