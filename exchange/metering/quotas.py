"""Holding, settling and reclaiming the bytes and downloads a response may use.

Every step that grants or releases allowance runs under the organisation's lock (a row lock on
PostgreSQL, the write lock on SQLite), so the checks it makes — streams open, downloads counted,
bytes left — cannot change before it commits; the bytes themselves are reserved by a conditional
UPDATE that the ``bytes_within_allowance`` CHECK backs. Under any concurrency, what is granted
never passes the allowance.

``grant_download`` (before the first byte) → ``heartbeat`` (while streaming) → ``settle`` (after
the last, complete or not). A process that dies leaves its reservation open: ``reap_expired``
settles it with the bytes its last heartbeat reported, nothing more.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import and_, func, or_, select, update

from auth.models import Organisation
from exchange.catalog.models import Item
from exchange.core.db import db, hold_sqlite_write_lock, new_id, unit_of_work, utcnow
from exchange.ingest.models import ProductAsset
from exchange.licensing.entitlements import usable_entitlement
from exchange.licensing.models import Entitlement
from exchange.metering.models import DownloadReservation, DownloadVisit, MeterEvent
from exchange.metering.refusals import DownloadRefused, TooManyStreams, explain_refusal, refusal_of
from exchange.policy import Decision, Identity, decide
from exchange.sharing import audit

#: COUNTER: requests of the same asset by the same user this close together are one download.
COUNTER_WINDOW = dt.timedelta(seconds=30)
#: A range request not starting at byte 0 continues the user's last download of the asset this recent.
RESUME_WINDOW = dt.timedelta(hours=24)


@dataclass(frozen=True)
class RequestMeta:
    """What the meter records of a request besides who made it."""

    method: str = "GET"
    via: str = "gateway"  # gateway | link
    client_id: str | None = None
    client_hash: str | None = None
    user_agent: str | None = None
    range_start: int | None = None
    range_end: int | None = None  # inclusive


@dataclass(frozen=True)
class Allowance:
    """What is left on a licence for one asset (None: unlimited; no licence_id: no licence needed)."""

    license_id: uuid.UUID | None = None
    downloads_remaining: int | None = None
    bytes_remaining: int | None = None

    def headers(self) -> dict[str, str]:
        """The Contract's headers: omitted when unlimited, SDX-License-Id when a licence is drawn on."""
        headers = {}
        if self.license_id is not None:
            headers["SDX-License-Id"] = str(self.license_id)
        if self.downloads_remaining is not None:
            headers["SDX-Downloads-Remaining"] = str(self.downloads_remaining)
        if self.bytes_remaining is not None:
            headers["SDX-Bytes-Remaining"] = str(self.bytes_remaining)
        return headers


@dataclass
class Hold:
    """One response in flight: the reservation it settles and what it records."""

    reservation_id: uuid.UUID
    entitlement_id: uuid.UUID | None
    org_id: uuid.UUID
    provider_org_id: uuid.UUID | None
    user_id: uuid.UUID | None
    item_key: int
    collection_id: str
    item_id: str
    asset_key: str
    bytes_reserved: int
    counted: bool
    allowance: Allowance
    visit_id: int | None
    meta: RequestMeta
    started: float = field(default_factory=time.monotonic)


def client_hash(address: str | None) -> str | None:
    """The client address as the meter keeps it: an HMAC under the app's secret, never the address."""
    if not address:
        return None
    secret = str(current_app.config.get("SECRET_KEY") or "sdx").encode()
    return hmac.new(secret, b"meter-address:" + address.encode(), hashlib.sha256).hexdigest()


# -- allowance ----------------------------------------------------------------------------------------
def _downloads_counted(entitlement_id: uuid.UUID, asset_key: str) -> int:
    return db.session.scalar(select(func.count()).select_from(DownloadVisit).where(
        DownloadVisit.entitlement_id == entitlement_id, DownloadVisit.asset_key == asset_key)) or 0


def allowance_for(entitlement: Entitlement | None, asset_key: str) -> Allowance:
    """What ``entitlement`` has left for ``asset_key`` as stored now (no licence: nothing to show)."""
    if entitlement is None:
        return Allowance()
    downloads = None
    if entitlement.downloads_per_asset is not None:
        downloads = max(entitlement.downloads_per_asset - _downloads_counted(entitlement.id, asset_key), 0)
    left = None
    if entitlement.bytes_allowed is not None:
        left = max(entitlement.bytes_allowed - entitlement.bytes_used - entitlement.bytes_reserved, 0)
    return Allowance(entitlement.id, downloads, left)


def licence_drawn_on(identity: Identity, item: Item, decision: Decision) -> Entitlement | None:
    """The entitlement a download allowed by ``decision`` draws on: the licence grant's; none for the
    product's own organisation, admins and the console."""
    if decision.rule != "license":
        return None
    return usable_entitlement(identity.org_id, item.key, license_ids=identity.license_ids)


# -- grant, heartbeat, settle -----------------------------------------------------------------------
def _lock_organisation(org_id: uuid.UUID) -> None:
    """Serialise the grants of one organisation: a row lock (PostgreSQL), the write lock (SQLite)."""
    if db.session.get_bind().dialect.name == "sqlite":
        hold_sqlite_write_lock(Organisation.name, Organisation.id == org_id)
    else:
        db.session.execute(select(Organisation.id).where(Organisation.id == org_id).with_for_update())


def _join_visit(identity: Identity, item: Item, asset: ProductAsset, entitlement: Entitlement | None,
                range_start: int | None, now: dt.datetime) -> DownloadVisit | None:
    """The user's visit (under the same licence) this request continues, as COUNTER counts: one that
    began less than 30 s ago, or — a range from where an unfinished download of the same bytes
    stopped, within a day — the download it resumes. A finished download is not resumed, and the
    30 s run from the visit's first request, so neither stretches one download over many."""
    if identity.user_id is None:
        return None
    joins = DownloadVisit.first_at >= now - COUNTER_WINDOW
    if range_start:
        joins = or_(joins, and_(DownloadVisit.last_at >= now - RESUME_WINDOW, DownloadVisit.etag == asset.sha256,
                                DownloadVisit.served_to >= range_start, DownloadVisit.served_to < asset.size))
    licence = DownloadVisit.entitlement_id == entitlement.id if entitlement is not None \
        else DownloadVisit.entitlement_id.is_(None)
    return db.session.scalar(select(DownloadVisit).where(
        DownloadVisit.user_id == identity.user_id, DownloadVisit.item_key == item.key,
        DownloadVisit.asset_key == asset.asset_key, licence, joins).order_by(DownloadVisit.last_at.desc()).limit(1))


def grant_download(identity: Identity, item: Item, asset: ProductAsset, nbytes: int, meta: RequestMeta) -> Hold:
    """Decide, then hold ``nbytes`` of the caller's allowance for one response (committed before the
    first byte is sent). Refusals are metered and raised: ``DownloadRefused`` (403, saying why),
    ``TooManyStreams`` (429)."""
    decision = decide(identity, "asset:download", item)
    if not decision:
        refusal = refusal_of(identity, item, decision)
        record_refusal(identity, item, asset.asset_key, status=403, rule=refusal.rule, meta=meta)
        raise refusal
    org_id = identity.org_id if identity.org_id is not None else item.provider_org_id
    try:
        with unit_of_work():
            _lock_organisation(org_id)
            # Read after the lock: what another grant of this organisation committed is visible now.
            entitlement = licence_drawn_on(identity, item, decision)
            if decision.rule == "license" and entitlement is None:
                detail, rule = explain_refusal(identity, item, decision)
                raise DownloadRefused(detail, rule)
            hold = _hold(identity, item, asset, nbytes, meta, org_id, entitlement)
    except (DownloadRefused, TooManyStreams) as refusal:
        record_refusal(identity, item, asset.asset_key, status=refusal.status, rule=refusal.rule, meta=meta)
        raise
    return hold


def _hold(identity: Identity, item: Item, asset: ProductAsset, nbytes: int, meta: RequestMeta, org_id: uuid.UUID,
          entitlement: Entitlement | None) -> Hold:
    """Inside the organisation's lock: the stream cap, the download count, the bytes."""
    now = utcnow()
    limit = current_app.config["DOWNLOAD_MAX_STREAMS"]
    streaming = db.session.scalar(select(func.count()).select_from(DownloadReservation).where(
        DownloadReservation.org_id == org_id, DownloadReservation.settled_at.is_(None),
        DownloadReservation.expires_at > now)) or 0
    if streaming >= limit:
        raise TooManyStreams(limit)
    visit = _join_visit(identity, item, asset, entitlement, meta.range_start, now)
    counted = visit is None
    per_asset = entitlement.downloads_per_asset if entitlement is not None else None
    done = _downloads_counted(entitlement.id, asset.asset_key) if per_asset is not None else 0
    if visit is None:
        if per_asset is not None and done >= per_asset:
            raise DownloadRefused(
                f"Your licence {entitlement.id} allows {per_asset} download(s) of each asset; "
                f"{asset.asset_key!r} has had them all.", "downloads-used-up", allowance_for(entitlement, asset.asset_key))
        visit = DownloadVisit(entitlement_id=entitlement.id if entitlement else None, org_id=org_id,
                              user_id=identity.user_id, item_key=item.key, asset_key=asset.asset_key,
                              etag=asset.sha256, served_to=0, first_at=now, last_at=now)
        db.session.add(visit)
        db.session.flush()  # its id, for the reservation
        done += 1
    else:
        visit.last_at = now
    allowance = Allowance()
    if entitlement is not None:
        allowance = Allowance(entitlement.id, None if per_asset is None else max(per_asset - done, 0),
                              _reserve_bytes(entitlement, asset, nbytes))
    reservation = DownloadReservation(
        id=new_id(), entitlement_id=entitlement.id if entitlement else None, org_id=org_id, user_id=identity.user_id,
        visit_id=visit.id, item_key=item.key, asset_key=asset.asset_key, bytes_reserved=nbytes, bytes_observed=0,
        created_at=now, expires_at=now + _reservation_life(), counted=counted)
    db.session.add(reservation)
    return Hold(reservation.id, reservation.entitlement_id, org_id, item.provider_org_id, identity.user_id, item.key,
                item.collection_id, item.item_id, asset.asset_key, nbytes, counted, allowance, visit.id, meta)


def _reserve_bytes(entitlement: Entitlement, asset: ProductAsset, nbytes: int) -> int | None:
    """Hold ``nbytes`` of the licence's bytes with one conditional UPDATE (the CHECK constraint behind
    it); the bytes left after it (None: unlimited). Not enough left: ``DownloadRefused``."""
    left = Entitlement.bytes_allowed - Entitlement.bytes_used - Entitlement.bytes_reserved
    row = db.session.execute(
        update(Entitlement).where(
            Entitlement.id == entitlement.id,
            or_(Entitlement.bytes_allowed.is_(None),
                Entitlement.bytes_used + Entitlement.bytes_reserved + nbytes <= Entitlement.bytes_allowed))
        .values(bytes_reserved=Entitlement.bytes_reserved + nbytes).returning(left)
        .execution_options(synchronize_session=False)).first()
    if row is None:
        db.session.refresh(entitlement)
        refused = allowance_for(entitlement, asset.asset_key)
        raise DownloadRefused(
            f"Your licence {entitlement.id} has {refused.bytes_remaining} bytes left; this response needs {nbytes} "
            f"(ask for a smaller range, or wait for downloads in progress to end).", "bytes-used-up", refused)
    return row[0]


def _reservation_life() -> dt.timedelta:
    return dt.timedelta(seconds=current_app.config["DOWNLOAD_RESERVATION_SECONDS"])


def heartbeat(hold: Hold, bytes_sent: int) -> bool:
    """The stream is alive and has sent ``bytes_sent``: what a reaper may charge, and a later expiry.
    False: the reaper already released the hold (the stream stalled past its reservation), and the
    stream must stop — its bytes and its place among the organisation's streams are no longer held."""
    with unit_of_work():
        alive = db.session.execute(update(DownloadReservation).where(
            DownloadReservation.id == hold.reservation_id, DownloadReservation.settled_at.is_(None))
            .values(bytes_observed=bytes_sent, expires_at=utcnow() + _reservation_life())
            .execution_options(synchronize_session=False))
    return alive.rowcount == 1


def settle(hold: Hold, *, bytes_sent: int, status: int) -> None:
    """The response ended (complete, cut by the client or by S3): charge what was sent, release the
    rest and write its meter event — in one transaction. A reservation the reaper already settled is
    charged only the bytes its heartbeat had not reported, as far as the allowance goes."""
    bytes_sent = max(0, min(bytes_sent, hold.bytes_reserved))
    now = utcnow()
    with unit_of_work():
        claimed = db.session.execute(update(DownloadReservation).where(
            DownloadReservation.id == hold.reservation_id, DownloadReservation.settled_at.is_(None))
            .values(settled_at=now, bytes_observed=bytes_sent).execution_options(synchronize_session=False))
        # The visit before the licence, in the order a grant locks them (else two could deadlock).
        start = hold.meta.range_start or 0
        if hold.visit_id is not None and bytes_sent:  # how far the bytes from 0 have gone: where a resume may start
            db.session.execute(update(DownloadVisit).where(
                DownloadVisit.id == hold.visit_id, DownloadVisit.served_to >= start,
                DownloadVisit.served_to < start + bytes_sent).values(served_to=start + bytes_sent)
                .execution_options(synchronize_session=False))
        observed = None
        if claimed.rowcount != 1:  # the reaper settled it: what had its heartbeat reported?
            observed = db.session.scalar(select(DownloadReservation.bytes_observed).where(
                DownloadReservation.id == hold.reservation_id))
        if hold.entitlement_id is not None:
            if claimed.rowcount == 1:
                _charge(hold.entitlement_id, released=hold.bytes_reserved, used=bytes_sent)
            elif bytes_sent > (observed or 0):
                _charge_late(hold.entitlement_id, bytes_sent - (observed or 0))
        # After a reap, the reaper's event holds the download and the bytes it observed: this one, the rest.
        reaped = claimed.rowcount != 1
        db.session.add(_event(hold, now, status=status, counted=hold.counted and not reaped,
                              bytes_sent=max(0, bytes_sent - (observed or 0)) if reaped else bytes_sent))


def _charge(entitlement_id: uuid.UUID, *, released: int, used: int) -> None:
    db.session.execute(update(Entitlement).where(Entitlement.id == entitlement_id).values(
        bytes_reserved=Entitlement.bytes_reserved - released, bytes_used=Entitlement.bytes_used + used)
        .execution_options(synchronize_session=False))


def _charge_late(entitlement_id: uuid.UUID, extra: int) -> None:
    """Bytes sent after the reaper released their reservation: charged, up to what is left."""
    cap = func.coalesce(Entitlement.bytes_allowed - Entitlement.bytes_reserved - Entitlement.bytes_used, extra)
    db.session.execute(update(Entitlement).where(Entitlement.id == entitlement_id).values(
        bytes_used=Entitlement.bytes_used + func.min(extra, cap) if db.session.get_bind().dialect.name == "sqlite"
        else Entitlement.bytes_used + func.least(extra, cap)).execution_options(synchronize_session=False))


def _event(hold: Hold, at: dt.datetime, *, status: int, bytes_sent: int, counted: bool) -> MeterEvent:
    meta = hold.meta
    return MeterEvent(
        at=at, via=meta.via, method=meta.method, entitlement_id=hold.entitlement_id,
        reservation_id=hold.reservation_id, org_id=hold.org_id, provider_org_id=hold.provider_org_id,
        user_id=hold.user_id, client_id=meta.client_id, item_key=hold.item_key, collection_id=hold.collection_id,
        item_id=hold.item_id, asset_key=hold.asset_key, range_start=meta.range_start, range_end=meta.range_end,
        bytes_sent=bytes_sent, status=status, counted=counted,
        duration_ms=int((time.monotonic() - hold.started) * 1000), client_hash=meta.client_hash,
        user_agent=(meta.user_agent or "")[:512] or None)


def record_refusal(identity: Identity, item: Item | None, asset_key: str | None, *, status: int, rule: str,
                   meta: RequestMeta) -> None:
    """Meter a refused attempt and audit it, in one transaction of their own (the refusal rolled back
    everything else)."""
    with unit_of_work():
        _record(identity, item, asset_key, meta, status=status, rule=rule)
        audit.record("download.refused", actor_user_id=identity.user_id, actor_org_id=identity.org_id,
                     object_type="product" if item else None, object_id=item.key if item else None,
                     details={"status": status, "rule": rule, "asset": asset_key, "via": meta.via,
                              "client_id": meta.client_id})


def record_answer(identity: Identity, item: Item, asset_key: str, *, status: int, meta: RequestMeta,
                  entitlement_id: uuid.UUID | None = None, bytes_sent: int = 0) -> None:
    """Meter an allowed attempt that draws on no allowance (HEAD, 304 Not Modified, 416, a file that
    is not data): nothing reserved, nothing counted."""
    _record(identity, item, asset_key, meta, status=status, entitlement_id=entitlement_id, bytes_sent=bytes_sent)


def _record(identity: Identity, item: Item | None, asset_key: str | None, meta: RequestMeta, **outcome) -> None:
    """One meter event for an attempt that holds no reservation, in a unit of work of its own."""
    with unit_of_work():
        db.session.add(MeterEvent(
            at=utcnow(), via=meta.via, method=meta.method, org_id=identity.org_id,
            provider_org_id=item.provider_org_id if item else None, user_id=identity.user_id,
            client_id=meta.client_id, item_key=item.key if item else None,
            collection_id=item.collection_id if item else None, item_id=item.item_id if item else None,
            asset_key=asset_key, range_start=meta.range_start, range_end=meta.range_end, counted=False,
            duration_ms=0, client_hash=meta.client_hash, user_agent=(meta.user_agent or "")[:512] or None,
            **{"bytes_sent": 0, **outcome}))


# -- the reaper ---------------------------------------------------------------------------------------
def reap_expired(now: dt.datetime | None = None, batch: int = 500) -> int:
    """Settle reservations whose stream stopped reporting (its process died): charge the bytes last
    observed sent, release the rest, meter it (status 0: how the response ended is unknown). Each in
    its own transaction, claimed first, so two reapers (or a late settle) never settle one twice."""
    now = now or utcnow()
    ids = list(db.session.scalars(select(DownloadReservation.id).where(
        DownloadReservation.settled_at.is_(None), DownloadReservation.expires_at <= now)
        .order_by(DownloadReservation.expires_at).limit(batch)))
    db.session.rollback()
    reaped = 0
    for reservation_id in ids:
        with unit_of_work():
            claimed = db.session.execute(update(DownloadReservation).where(
                DownloadReservation.id == reservation_id, DownloadReservation.settled_at.is_(None),
                DownloadReservation.expires_at <= now).values(settled_at=now)
                .execution_options(synchronize_session=False))
            if claimed.rowcount != 1:
                continue
            row = db.session.get(DownloadReservation, reservation_id)
            if row.entitlement_id is not None:
                _charge(row.entitlement_id, released=row.bytes_reserved, used=row.bytes_observed)
            item = db.session.get(Item, row.item_key) if row.item_key is not None else None
            db.session.add(MeterEvent(
                at=now, via="gateway", method="GET", entitlement_id=row.entitlement_id, reservation_id=row.id,
                org_id=row.org_id, provider_org_id=item.provider_org_id if item else None, user_id=row.user_id,
                item_key=row.item_key, collection_id=item.collection_id if item else None,
                item_id=item.item_id if item else None, asset_key=row.asset_key, bytes_sent=row.bytes_observed,
                status=0, counted=row.counted, duration_ms=int((now - row.created_at).total_seconds() * 1000),
                rule="reaped"))
            reaped += 1
    return reaped
