"""Why a download is refused, in the user's terms, and the problems that say it.

A refusal names the rule that decided (``rule`` in the problem body) and, for a licence, looks into
what the organisation holds on the product — none, revoked, not yet or no longer valid, allowance
used up, outside a licence-scoped token's licences — so the detail says what would change it.
"""
from __future__ import annotations

from sqlalchemy import select

from exchange.catalog.models import Item
from exchange.core.db import db, utcnow
from exchange.core.problems import Forbidden, Problem
from exchange.licensing.models import Entitlement, EntitlementStatus
from exchange.policy import Decision, Identity
from exchange.sharing import evaluation

#: What a client told "too many streams" should wait before trying again.
RETRY_AFTER_SECONDS = 5


class DownloadRefused(Forbidden):
    """A 403 whose ``detail`` says why and whose ``rule`` names what decided; with the licence's
    ``Allowance`` (what is left) when one was drawn on."""

    def __init__(self, detail: str, rule: str, allowance=None, *, policy: dict | None = None,
                 remedy: str | None = None) -> None:
        extra = {key: value for key, value in (("policy", policy), ("remedy", remedy)) if value is not None}
        super().__init__(detail, rule=rule, headers=allowance.headers() if allowance else None, **extra)
        self.rule = rule


def refusal_of(identity: Identity, item: Item, decision: Decision) -> DownloadRefused:
    """The 403 of a refused ``asset:download``: why (``explain_refusal``), and when a sharing policy
    refused, its ``policy`` and ``remedy``, as every policy refusal carries them. Refused for want of a
    licence where a sharing policy would refuse the download anyway, the policy's refusal is the
    answer: a licence would not change it."""
    if decision.rule == "license":
        shared = evaluation.evaluate(identity, "download", item)
        if not shared.allowed:
            decision = evaluation.as_decision(shared)
    detail, rule = explain_refusal(identity, item, decision)
    return DownloadRefused(detail, rule, policy=decision.policy, remedy=decision.remedy)


class TooManyStreams(Problem):
    status = 429
    title = "Too many downloads at once"

    def __init__(self, limit: int) -> None:
        super().__init__(f"Your organisation already has {limit} downloads streaming (SDX_DOWNLOAD_MAX_STREAMS); "
                         f"try again when one ends.", rule="streams",
                         headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        self.rule = "streams"


def explain_refusal(identity: Identity, item: Item, decision: Decision) -> tuple[str, str]:
    """(detail, rule) for a refused download: exactly why, in the user's terms. A licence refusal is
    looked into — none, revoked, not yet or no longer valid, allowance used up, outside the token's
    licences — other rules (sign-in, scope, a policy) say their own reason."""
    if decision.rule != "license":
        return f"You may not download this product's data: {decision.reason}.", decision.rule
    rows = list(db.session.scalars(select(Entitlement).where(Entitlement.org_id == identity.org_id,
                                                             Entitlement.item_key == item.key)
                                   .order_by(Entitlement.created_at, Entitlement.id)))
    if identity.license_ids is not None:
        rows = [row for row in rows if row.id in identity.license_ids]
        if not rows:
            return ("This token is scoped to licences that do not cover this product "
                    "(authorization_details of type sdx_license)."), "license-scope"
    if not rows:
        return ("Your organisation holds no licence for this product: order one of its offers "
                f"(GET /api/v1/offers?product={item.key})."), "no-license"
    now = utcnow()
    live = [row for row in rows if row.status in (EntitlementStatus.active, EntitlementStatus.expired)]
    if not live:
        row = rows[-1]
        return f"Your licence {row.id} on this product was {row.status.value}.", f"license-{row.status.value}"
    if all(row.valid_from > now for row in live):
        first = min(live, key=lambda row: row.valid_from)
        return f"Your licence {first.id} is valid from {first.valid_from.isoformat()}.", "license-not-yet-valid"
    current = [row for row in live if row.status is EntitlementStatus.active and row.valid_from <= now
               and (row.valid_until is None or row.valid_until > now)]
    if not current:
        last = max(live, key=lambda row: row.valid_until or now)
        return f"Your licence {last.id} expired on {last.valid_until.isoformat()}.", "license-expired"
    row = current[0]
    return (f"Your licence {row.id} has no bytes left ({row.bytes_used} of {row.bytes_allowed} bytes used, "
            f"{row.bytes_reserved} held by downloads in progress)."), "bytes-used-up"
