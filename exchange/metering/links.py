"""Presigned download links: short-lived S3 GET URLs for a licence's assets, each charged in full.

S3 serves a presigned URL directly, so the platform never sees how many bytes it sends: issuing a
link reserves and charges the whole object against the licence at once (one counted download in
the COUNTER sense, ``via="link"`` on its meter event). The links of one request are all issued or
none: every asset is granted and settled inside one unit of work (the quota service's own units
join it), so a refusal of the third asset rolls back the charges of the first two; the refusal is
then metered on its own.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from sqlalchemy import select

from exchange.catalog.models import Item
from exchange.core.db import db, unit_of_work, utcnow
from exchange.core.problems import Forbidden, Problem, ValidationProblem, body_of
from exchange.ingest.models import AssetState, ProductAsset
from exchange.licensing.models import Entitlement
from exchange.metering import quotas
from exchange.metering.quotas import RequestMeta
from exchange.metering.refusals import DownloadRefused, TooManyStreams
from exchange.policy import Identity, require_own
from exchange.sharing import duties
from exchange.trading import idempotency
from storage import transfers
from storage.objectstore import get_store

#: How long a link works (the issue's bound: at most 5 minutes).
LINK_LIFETIME = dt.timedelta(minutes=5)
#: The most links one request may ask for.
MAX_ASSETS = 100


def _assets(entitlement: Entitlement, wanted: list[dict]) -> list[ProductAsset]:
    """The stored assets the request names, in its order; a 422 naming every entry that is not one
    of the licence's product's ready data assets."""
    keys = {entry["key"] for entry in wanted}
    found = {row.asset_key: row for row in db.session.scalars(select(ProductAsset).where(
        ProductAsset.item_key == entitlement.item_key, ProductAsset.asset_key.in_(keys)))}
    errors, seen = [], set()
    for n, entry in enumerate(wanted):
        if (entry["product_id"], entry["key"]) in seen:
            errors.append({"field": f"assets.{n}", "message": "this asset is listed twice"})
            continue
        seen.add((entry["product_id"], entry["key"]))
        if entry["product_id"] != entitlement.item_key:
            errors.append({"field": f"assets.{n}.product_id",
                           "message": f"this licence covers product {entitlement.item_key} only"})
            continue
        row = found.get(entry["key"])
        if row is None or not row.is_data:
            errors.append({"field": f"assets.{n}.key", "message": "the product has no data asset of this key"})
        elif row.state is not AssetState.ready:
            errors.append({"field": f"assets.{n}.key", "message": f"this asset is {row.state.value}, not ready"})
    if errors:
        raise ValidationProblem("Some assets cannot be linked under this licence; see errors.", errors=errors)
    return [found[entry["key"]] for entry in wanted]


def issue_links(identity: Identity, license_id: uuid.UUID, wanted: list[dict], meta: RequestMeta,
                idempotency_key: str | None = None, path: str = "") -> tuple[int, dict]:
    """Presigned GETs for ``wanted`` (``product_id``, ``key``) under one licence of the caller's
    organisation, each charging the asset's full size: (status, answer). With an Idempotency-Key, a
    repeat of the request gets the first answer (links included) and charges nothing more."""
    entitlement = db.session.get(Entitlement, license_id)
    require_own(identity, "license:links", entitlement, "licence", license_id)  # another's: 404
    if identity.license_ids is not None and entitlement.id not in identity.license_ids:
        raise Forbidden("This token is scoped to other licences (authorization_details of type sdx_license).",
                        rule="license-scope")
    assets = _assets(entitlement, wanted)
    key = None
    if idempotency_key is not None:
        key = idempotency.parse_key(idempotency_key)
        replay = idempotency.claim(identity.org_id, key, idempotency.fingerprint("POST", path, wanted))
        if replay is not None:
            return replay.status, replay.body
    try:
        return 201, _issue(identity, entitlement, assets, meta, key)
    except Problem as refusal:
        if key is not None:
            idempotency.record_refusal(identity.org_id, key, refusal.status, body_of(refusal))
        raise
    except Exception:
        if key is not None:
            idempotency.release(identity.org_id, key)
        raise


def _issue(identity: Identity, entitlement: Entitlement, assets: list[ProductAsset], meta: RequestMeta,
           key: str | None) -> dict:
    # Draw on this licence and no other the organisation holds on the product.
    scoped = dataclasses.replace(identity, license_ids=frozenset({entitlement.id}))
    item = db.session.get(Item, entitlement.item_key)
    store = get_store()
    current = None
    try:
        with unit_of_work():
            links = []
            for current in assets:
                hold = quotas.grant_download(scoped, item, current, current.size, meta)
                quotas.settle(hold, bytes_sent=current.size, status=201)
                issued = utcnow()
                url = transfers.presigned_get(store, store.products_bucket, current.object_key, LINK_LIFETIME,
                                              filename=current.filename, media_type=current.media_type)
                links.append({"product_id": item.key, "key": current.asset_key, "url": url, "size": current.size,
                              "sha256": current.sha256, "expires_at": (issued + LINK_LIFETIME).isoformat()})
            answer = {"license_id": entitlement.id, "links": links,
                      "bytes_remaining": hold.allowance.bytes_remaining,
                      "attribution": duties.attributions(identity, item)}  # S3 sends no SDX-Attribution
            if key is not None:
                idempotency.record(identity.org_id, key, 201, answer)
    except (DownloadRefused, TooManyStreams) as refusal:
        # The quota service metered it inside the unit of work just rolled back: meter it again, alone.
        quotas.record_refusal(scoped, item, current.asset_key if current else None, status=refusal.status,
                              rule=refusal.rule, meta=meta)
        raise
    return answer

