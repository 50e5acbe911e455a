"""Entitlements: what an organisation holds on a product, read by its holder and the product's provider.

Rows are written by trading's fulfilment (a paid order); this module reads them, says whether one
is usable now (the download rule asks ``usable_entitlement``) and shows them with what is left of
their allowances. ``status`` is shown as ``expired`` once ``valid_until`` has passed, whatever the
row still says, so nobody waits for a sweep.
"""
from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import and_, func, or_, select

from exchange.catalog.models import Item
from exchange.core import paging
from exchange.core.db import db, utcnow
from exchange.core.problems import Forbidden, ValidationProblem
from exchange.licensing.models import Entitlement, EntitlementStatus
from exchange.metering.models import DownloadVisit
from exchange.policy import Identity, decide, query_filter, require_own
from exchange.sharing import duties


def _in_force(now: dt.datetime):
    """The SQL condition of an active entitlement inside its validity window at ``now``."""
    return and_(Entitlement.status == EntitlementStatus.active, Entitlement.valid_from <= now,
                or_(Entitlement.valid_until.is_(None), Entitlement.valid_until > now))


def usable_entitlement(org_id: uuid.UUID | None, item_key: int, now: dt.datetime | None = None,
                       license_ids: frozenset[uuid.UUID] | None = None) -> Entitlement | None:
    """An entitlement of ``org_id`` on the product that allows a download now: active, within its
    validity, with bytes left (or no byte limit), one of ``license_ids`` if given (a licence-scoped
    token). The one that ends last is chosen."""
    if org_id is None or (license_ids is not None and not license_ids):
        return None
    now = now or utcnow()
    query = select(Entitlement).where(
        Entitlement.org_id == org_id, Entitlement.item_key == item_key, _in_force(now),
        or_(Entitlement.bytes_allowed.is_(None),
            Entitlement.bytes_used + Entitlement.bytes_reserved < Entitlement.bytes_allowed))
    if license_ids is not None:
        query = query.where(Entitlement.id.in_(license_ids))
    return db.session.scalar(
        query.order_by(Entitlement.valid_until.is_(None).desc(), Entitlement.valid_until.desc()).limit(1))


def shown_status(entitlement: Entitlement, now: dt.datetime) -> str:
    if entitlement.status is EntitlementStatus.active and entitlement.valid_until is not None \
            and entitlement.valid_until <= now:
        return EntitlementStatus.expired.value
    return entitlement.status.value


def _status_filter(status: EntitlementStatus, now: dt.datetime):
    """The rows ``shown_status`` shows as ``status``."""
    passed = and_(Entitlement.valid_until.is_not(None), Entitlement.valid_until <= now)
    if status is EntitlementStatus.active:
        return and_(Entitlement.status == EntitlementStatus.active, ~passed)
    if status is EntitlementStatus.expired:
        return or_(Entitlement.status == EntitlementStatus.expired,
                   and_(Entitlement.status == EntitlementStatus.active, passed))
    return Entitlement.status == status


def downloads_taken(entitlement_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Per entitlement, the most downloads any one of its assets has had (the gateway's counted
    visits): what its least-remaining asset has used."""
    if not entitlement_ids:
        return {}
    per_asset = (select(DownloadVisit.entitlement_id, func.count().label("n"))
                 .where(DownloadVisit.entitlement_id.in_(entitlement_ids))
                 .group_by(DownloadVisit.entitlement_id, DownloadVisit.asset_key).subquery())
    return dict(db.session.execute(select(per_asset.c.entitlement_id, func.max(per_asset.c.n))
                                   .group_by(per_asset.c.entitlement_id)).all())


def view(entitlement: Entitlement, now: dt.datetime | None = None, taken: int | None = None) -> dict:
    """An entitlement as the API shows it (None: unlimited); ``taken``: its ``downloads_taken``."""
    now = now or utcnow()
    if taken is None:
        taken = downloads_taken([entitlement.id]).get(entitlement.id, 0)
    remaining = None
    if entitlement.bytes_allowed is not None:
        remaining = max(entitlement.bytes_allowed - entitlement.bytes_used - entitlement.bytes_reserved, 0)
    return {
        "id": entitlement.id, "product_id": entitlement.item_key, "collection_id": entitlement.collection_id,
        "item_id": entitlement.item_id, "status": shown_status(entitlement, now), "license": entitlement.license,
        "licensee_org_id": entitlement.org_id, "provider_org_id": entitlement.provider_org_id,
        "offer_id": entitlement.offer_id, "order_id": entitlement.order_id,
        "valid_from": entitlement.valid_from, "valid_until": entitlement.valid_until,
        # Counted per asset by the download gateway: what the least-remaining asset has left.
        "downloads_per_asset": entitlement.downloads_per_asset,
        "downloads_remaining": None if entitlement.downloads_per_asset is None
        else max(entitlement.downloads_per_asset - taken, 0),
        "bytes_allowed": entitlement.bytes_allowed, "bytes_used": entitlement.bytes_used,
        "bytes_reserved": entitlement.bytes_reserved, "bytes_remaining": remaining,
        "aoi": entitlement.aoi, "created_at": entitlement.created_at,
        "attribution": _policy_attribution(entitlement),
    }


def _policy_attribution(entitlement: Entitlement) -> list[str]:
    """The attribution the sharing policies ask of the licensee for the product (the template's own
    is in ``license``)."""
    item = db.session.get(Item, entitlement.item_key) if entitlement.item_key is not None else None
    return duties.licensee_attributions(entitlement, item) if item is not None else []


def _require_reader(identity: Identity) -> None:
    """403 when the caller alone is refused (signed out, organisation not active, no scope), before
    any row is looked at; asked without an object, an allowed caller hears only "no-resource"."""
    decision = decide(identity, "entitlement:read")
    if not decision and decision.rule != "no-resource":
        raise Forbidden(decision.reason, rule=decision.rule)


def list_entitlements(identity: Identity, *, product: int | None = None, status: EntitlementStatus | None = None,
                      held: bool = False, after: str | None = None, limit: int = 50) -> tuple[list[dict], str | None]:
    """The entitlements the caller may read (its organisation's, a provider's sales, an admin's all),
    in id order: a page and the cursor of the next. ``held``: only those its own organisation holds
    (a provider's or an admin's "My licences")."""
    _require_reader(identity)
    now = utcnow()
    query = select(Entitlement).where(query_filter(identity, "entitlement:read", Entitlement))
    if held:
        query = query.where(Entitlement.org_id == identity.org_id)
    if product is not None:
        query = query.where(Entitlement.item_key == product)
    if status is not None:
        query = query.where(_status_filter(status, now))
    if after:
        try:
            query = query.where(Entitlement.id > uuid.UUID(paging.decode_key(after)))
        except ValueError:  # paging.BadCursor is one
            raise ValidationProblem("The cursor is not valid.", errors=[
                {"field": "after", "message": "is not a cursor this listing issued"}]) from None
    rows, more = paging.cut(list(db.session.scalars(query.order_by(Entitlement.id).limit(limit + 1))), limit)
    taken = downloads_taken([row.id for row in rows])
    return [view(row, now, taken.get(row.id, 0)) for row in rows], (paging.encode(str(rows[-1].id)) if more else None)


def get_entitlement(identity: Identity, entitlement_id: uuid.UUID) -> dict:
    """One entitlement the caller may read; another organisation's reads as absent (404)."""
    _require_reader(identity)
    entitlement = db.session.get(Entitlement, entitlement_id)
    require_own(identity, "entitlement:read", entitlement, "licence", entitlement_id)
    return view(entitlement)
