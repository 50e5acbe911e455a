"""Upload sessions: providers send a product's files straight to S3 through presigned URLs.

Small files get one presigned PUT; large ones an S3 multipart upload with a presigned URL per part,
so the bytes never pass through the platform. What the store has received is always read back from
S3 itself, so a client can resume after any interruption. Completion is an API call: it checks that
every part is there, completes the multipart upload and enqueues ingest after the commit. A store
that cannot be reached is a 503 with nothing changed (``storage.errors.StorageUnavailable``, answered
in exchange/core/problems.py), so the same call can simply be retried.
"""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from exchange.policy import Identity, decide, require
from exchange.catalog.models import Item, ItemStatus
from exchange.catalog.service import product_for
from exchange.core.celery import enqueue
from exchange.core import paging
from exchange.core.db import db, unit_of_work, utcnow
from exchange.core.problems import Conflict, NotFound, ValidationProblem
from exchange.ingest.models import AssetState, ProductAsset, Upload, UploadState
from storage import transfers
from storage.errors import ObjectMissing
from storage.objectstore import ObjectStore, get_store

ASSET_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
#: Made by ingest itself, so not uploadable.
RESERVED_ASSET_KEYS = {"thumbnail"}


def _url_lifetime() -> timedelta:
    return timedelta(seconds=current_app.config["UPLOAD_URL_SECONDS"])


# -- finding things ------------------------------------------------------------------------------------
def product_for_upload(identity: Identity, product_id: int) -> Item:
    """The product, if the caller may see it (else 404) and upload to it (else 403)."""
    return product_for(identity, product_id, "product:upload")


def _upload_for_write(identity: Identity, upload_id: uuid.UUID) -> Upload:
    """An upload the caller may act on: the policy reads its ``owner_org_id`` like a product's."""
    upload = db.session.get(Upload, upload_id)
    if upload is None or not decide(identity, "product:upload", upload):
        raise NotFound(f"No upload {upload_id}.")  # another organisation's upload reads as absent
    return upload


def object_key(item: Item, asset_key: str, filename: str) -> str:
    return f"{item.collection_id}/{item.item_id}/{asset_key}/{filename}"


# -- views -----------------------------------------------------------------------------------------------
def upload_view(upload: Upload, *, part_urls: list[dict] | None = None, url: str | None = None,
                received: list[transfers.StoredPart] | None = None, expires_at: datetime | None = None) -> dict:
    view = {"id": upload.id, "product_id": upload.asset.item_key, "asset": upload.asset, "state": upload.state.value,
            "multipart": upload.multipart, "part_size": upload.part_size, "part_count": upload.part_count,
            "created_at": upload.created_at, "url": url, "parts": part_urls or [], "expires_at": expires_at}
    if received is not None:
        view["received_parts"] = received
        view["received_bytes"] = sum(p.size for p in received)
    return view


def _part_length(upload: Upload, number: int) -> int:
    """The agreed size of a part: ``part_size``, the last one whatever is left."""
    if number < upload.part_count:
        return upload.part_size
    return upload.asset.size - (upload.part_count - 1) * upload.part_size


def _part_urls(store: ObjectStore, upload: Upload, numbers: list[int]) -> list[dict]:
    """Presigned URLs that S3 honours only for a body of the part's agreed size."""
    lifetime = _url_lifetime()
    return [{"part_number": n, "url": transfers.presigned_part(store, upload.asset.object_key, upload.s3_upload_id,
                                                                n, _part_length(upload, n), lifetime)}
            for n in numbers]


def _put_url(store: ObjectStore, upload: Upload) -> str:
    """The single PUT URL, honoured by S3 only for a body of exactly the declared size."""
    return transfers.presigned_put(store, upload.asset.object_key, upload.asset.size, _url_lifetime())


def _expiry() -> datetime:
    return utcnow() + _url_lifetime()


# -- starting, resuming, completing, aborting -------------------------------------------------------------
def start_upload(identity: Identity, product_id: int, asset_key: str, body: dict) -> dict:
    """Open an upload session for one asset of a product and hand out where to send the bytes."""
    item = product_for_upload(identity, product_id)
    if not ASSET_KEY.match(asset_key) or asset_key in RESERVED_ASSET_KEYS:
        raise ValidationProblem("The asset key is not usable.", errors=[{
            "field": "key", "message": "letters, digits and _.:- only, at most 100, not 'thumbnail'"}])
    config = current_app.config
    multipart = body["size"] >= config["UPLOAD_MULTIPART_THRESHOLD"]
    part_size = transfers.choose_part_size(body["size"], body.get("part_size") or config["UPLOAD_PART_SIZE"]) \
        if multipart else body["size"]
    asset = db.session.scalar(select(ProductAsset).where(ProductAsset.item_key == item.key,
                                                         ProductAsset.asset_key == asset_key))
    if asset is not None:
        _refuse_second_upload(asset)
    key = object_key(item, asset_key, body["filename"])
    store = get_store()
    s3_upload_id = transfers.start_multipart(store, key, body["media_type"]) if multipart else None
    refused_copy = transfers.QUARANTINE_PREFIX + asset.object_key \
        if asset is not None and asset.state is AssetState.quarantined else None
    try:
        with unit_of_work() as uow:
            if refused_copy:  # a new attempt replaces the refused file, so its quarantined copy goes
                uow.after_commit(transfers.remove, store, store.products_bucket, refused_copy)
            if asset is None:
                asset = ProductAsset(item_key=item.key, asset_key=asset_key)
                uow.add(asset)
            asset.state, asset.reason = AssetState.uploading, None
            asset.filename, asset.media_type, asset.roles = body["filename"], body["media_type"], body["roles"]
            asset.size, asset.sha256, asset.object_key = body["size"], body["sha256"], key
            upload = Upload(asset=asset, created_by=identity.user_id, owner_org_id=item.provider_org_id,
                            s3_upload_id=s3_upload_id, part_size=part_size, part_count=-(-body["size"] // part_size))
            uow.add(upload)
    except Exception as exc:
        if s3_upload_id:  # leave no multipart upload behind that no row knows of
            transfers.abort_multipart(store, key, s3_upload_id)
        if isinstance(exc, IntegrityError):  # the same asset's upload started by a request at the same moment
            _refuse_second_upload(db.session.scalar(select(ProductAsset).where(
                ProductAsset.item_key == item.key, ProductAsset.asset_key == asset_key)))
        raise
    if multipart:
        return upload_view(upload, part_urls=_part_urls(store, upload, list(range(1, upload.part_count + 1))),
                           received=[], expires_at=_expiry())
    return upload_view(upload, url=_put_url(store, upload), received=[], expires_at=_expiry())


def _refuse_second_upload(asset: ProductAsset) -> None:
    if asset.state is AssetState.uploading:
        open_upload = next((u for u in asset.uploads if u.state is UploadState.open), None)
        if open_upload is not None:
            raise Conflict(f"Asset {asset.asset_key!r} already has an open upload; resume it "
                           f"(GET /api/v1/uploads/{open_upload.id}) or abort it first.",
                           upload_id=str(open_upload.id))
    if asset.state is AssetState.verifying:
        raise Conflict(f"Asset {asset.asset_key!r} is being verified; wait for the result.")
    if asset.state is AssetState.ready:
        raise Conflict(f"Asset {asset.asset_key!r} is already uploaded and verified.")


def _received(store: ObjectStore, upload: Upload) -> list[transfers.StoredPart]:
    if upload.state is not UploadState.open:
        return []
    if upload.multipart:
        try:
            return transfers.list_parts(store, upload.asset.object_key, upload.s3_upload_id)
        except ObjectMissing:
            return []
    size = transfers.object_size(store, store.products_bucket, upload.asset.object_key)
    return [] if size is None else [transfers.StoredPart(1, size, "")]


def get_upload(identity: Identity, upload_id: uuid.UUID) -> dict:
    """The state of an upload and the parts S3 holds, so a client knows what is left to send."""
    upload = _upload_for_write(identity, upload_id)
    return upload_view(upload, received=_received(get_store(), upload))


def list_uploads(identity: Identity, product_id: int, *, after: str | None, limit: int) -> tuple[list[dict], str | None]:
    item = product_for_upload(identity, product_id)
    query = select(Upload).join(ProductAsset).where(ProductAsset.item_key == item.key)
    if after:
        try:
            query = query.where(Upload.id > uuid.UUID(paging.decode_key(after)))
        except ValueError:  # paging.BadCursor is one
            raise ValidationProblem("The cursor is not valid.", errors=[{"field": "after", "message": "bad cursor"}]) \
                from None
    uploads, more = paging.cut(list(db.session.scalars(query.order_by(Upload.id).limit(limit + 1))), limit)
    return [upload_view(u) for u in uploads], (paging.encode(str(uploads[-1].id)) if more else None)


def part_urls(identity: Identity, upload_id: uuid.UUID, numbers: list[int]) -> dict:
    """Fresh presigned URLs for the given parts (for instance after the first ones expired)."""
    upload = _upload_for_write(identity, upload_id)
    _require_open(upload)
    store = get_store()
    if not upload.multipart:
        return upload_view(upload, url=_put_url(store, upload), expires_at=_expiry())
    bad = sorted({n for n in numbers if n > upload.part_count})
    if bad:
        raise ValidationProblem(f"This upload has {upload.part_count} parts.", errors=[
            {"field": "part_numbers", "message": f"no part {n}"} for n in bad])
    return upload_view(upload, part_urls=_part_urls(store, upload, sorted(set(numbers))), expires_at=_expiry())


def _require_open(upload: Upload) -> None:
    if upload.state is UploadState.completed:
        raise Conflict(f"Upload {upload.id} is already completed; the asset is {upload.asset.state.value}.")
    if upload.state is UploadState.aborted:
        raise Conflict(f"Upload {upload.id} was aborted; start a new one.")


def _check_parts(upload: Upload, received: list[transfers.StoredPart]) -> None:
    numbers = {p.number for p in received}
    missing = [n for n in range(1, upload.part_count + 1) if n not in numbers]
    if missing:
        shown = ", ".join(map(str, missing[:20])) + (" …" if len(missing) > 20 else "")
        raise Conflict(f"The store has not received part(s) {shown} of {upload.part_count}; upload them "
                       f"(fresh URLs: POST /api/v1/uploads/{upload.id}/parts) and complete again.",
                       missing_parts=missing)
    last = _part_length(upload, upload.part_count)
    wrong = [p.number for p in received if p.number <= upload.part_count and p.size != _part_length(upload, p.number)]
    if wrong:
        raise Conflict(f"Part(s) {', '.join(map(str, wrong))} do not have the agreed size ({upload.part_size} bytes, "
                       f"the last {last}); upload them again and complete again.", wrong_parts=wrong)


def _check_single_object(upload: Upload, size: int | None) -> None:
    """The single-PUT object must be there with the declared size before ingest reads it. One of
    another size is left in place (the upload stays open): a PUT to a fresh URL replaces it."""
    if size is None:
        raise Conflict("The store has not received the file yet; PUT it to the upload URL, then complete.")
    if size != upload.asset.size:
        raise Conflict(f"The store holds {size} bytes, not the {upload.asset.size} declared; PUT the file again "
                       f"(fresh URL: POST /api/v1/uploads/{upload.id}/parts) and complete again.",
                       stored_size=size, declared_size=upload.asset.size)


def complete_upload(identity: Identity, upload_id: uuid.UUID) -> dict:
    """Complete the upload and enqueue ingest (after the commit). Safe to retry after a 503."""
    from exchange.ingest.tasks import ingest_asset

    upload = _upload_for_write(identity, upload_id)
    _require_open(upload)
    asset, store = upload.asset, get_store()
    if upload.multipart:
        try:
            received = transfers.list_parts(store, asset.object_key, upload.s3_upload_id)
        except ObjectMissing:
            # Completed in S3 by an earlier call whose commit was lost: the object is what counts.
            if transfers.object_size(store, store.products_bucket, asset.object_key) is None:
                raise Conflict(f"Upload {upload.id} no longer exists in the store; abort it and start again.") \
                    from None
        else:
            _check_parts(upload, received)
            transfers.complete_multipart(store, asset.object_key, upload.s3_upload_id,
                                         [p for p in received if p.number <= upload.part_count])
    else:
        _check_single_object(upload, transfers.object_size(store, store.products_bucket, asset.object_key))
    item = db.session.get(Item, asset.item_key)
    with unit_of_work() as uow:
        upload.state, upload.completed_at = UploadState.completed, utcnow()
        asset.state, asset.reason = AssetState.verifying, None
        if item.status is ItemStatus.draft:
            item.status = ItemStatus.processing
        uow.after_commit(enqueue, ingest_asset, str(asset.id))
    db.session.refresh(upload)
    return upload_view(upload)


def abort_upload(identity: Identity, upload_id: uuid.UUID) -> None:
    """Abort an open upload: every part (or the single object) is removed, and the asset with it."""
    upload = _upload_for_write(identity, upload_id)
    _require_open(upload)
    asset, store = upload.asset, get_store()
    if upload.multipart:
        transfers.abort_multipart(store, asset.object_key, upload.s3_upload_id)
    else:
        transfers.remove(store, store.products_bucket, asset.object_key)
    with unit_of_work():
        db.session.delete(asset)


def abort_stale_uploads(identity: Identity, older_than: timedelta) -> int:
    """Abort multipart uploads left incomplete longer than ``older_than`` — those SDX opened and any
    the store still holds without a row (for instance after a crash) — and forget their assets."""
    require(identity, "uploads:housekeeping")
    store = get_store()
    cutoff = datetime.now(timezone.utc) - older_than
    stale = list(db.session.scalars(select(Upload).where(Upload.state == UploadState.open,
                                                         Upload.created_at < cutoff)))
    known = {u.s3_upload_id for u in db.session.scalars(select(Upload).where(Upload.state == UploadState.open))}
    aborted = 0
    for upload in stale:
        if upload.multipart:
            transfers.abort_multipart(store, upload.asset.object_key, upload.s3_upload_id)
        else:
            transfers.remove(store, store.products_bucket, upload.asset.object_key)
        with unit_of_work():
            db.session.delete(upload.asset)
        aborted += 1
    for pending in transfers.pending_multipart_uploads(store):
        if pending.upload_id not in known and pending.initiated is not None and pending.initiated < cutoff:
            transfers.abort_multipart(store, pending.key, pending.upload_id)
            aborted += 1
    return aborted


def product_status(identity: Identity, product_id: int) -> dict:
    """A product's status and each uploaded asset's state, with every reason it is not ready."""
    return product_view(product_for_upload(identity, product_id))


def product_view(item: Item) -> dict:
    """What a product's owner sees of its status: every asset's state and each reason one is not ready."""
    assets = list(db.session.scalars(select(ProductAsset).where(ProductAsset.item_key == item.key)
                                     .order_by(ProductAsset.asset_key)))
    base = current_app.config["PUBLIC_BASE_URL"]
    return {"product_id": item.key, "collection": item.collection_id, "item": item.item_id,
            "status": item.status.value, "assets": assets,
            "url": f"{base}/stac/collections/{item.collection_id}/items/{item.item_id}",
            "reasons": [f"{a.asset_key}: {a.reason}" for a in assets if a.reason]}
