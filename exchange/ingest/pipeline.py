"""Ingest of one uploaded asset: verify, describe, preview, then settle the product's status.

Runs in a Celery task and is idempotent: it acts only on an asset in ``verifying`` and writes its
result in one commit at the end, so a worker killed half-way leaves the asset in ``verifying`` and
the re-delivered task starts again from the object in S3. A quarantine is committed before the
object is moved, and a rerun finishes an unfinished move.
"""
from __future__ import annotations

import copy
import logging
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from flask import current_app
from sqlalchemy import select

from exchange.catalog.models import Item, ItemStatus
from exchange.catalog.stac import InvalidItem, full_document, is_public_asset, stored_document, validate_item
from exchange.core.db import db, unit_of_work
from exchange.ingest.describe import Unacceptable, check_media_type, describe_raster, is_tiff, thumbnail_png
from exchange.ingest.models import AssetState, ProductAsset
from storage import transfers
from storage.errors import ObjectMissing
from storage.objectstore import get_store

log = logging.getLogger(__name__)

EXTENSIONS = ("https://stac-extensions.github.io/projection/v2.0.0/schema.json",
              "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
              "https://stac-extensions.github.io/file/v2.1.0/schema.json")
#: An item asks for its footprint to be taken from its data with this property.
FOOTPRINT_FROM_DATA = "sdx:footprint_from_data"


def ingest_asset(asset_id: uuid.UUID) -> str:
    """Bring an uploaded asset to ``ready`` or ``quarantined``; return the state it ends in."""
    asset = db.session.get(ProductAsset, asset_id)
    if asset is None:
        return "gone"
    if asset.state is AssetState.quarantined:
        _move_to_quarantine(asset)  # a previous run may have stopped between the commit and the move
        return asset.state.value
    if asset.state is not AssetState.verifying:
        return asset.state.value
    store = get_store()
    with _scratch_file(asset) as tmp:
        try:  # StorageUnavailable goes up: the task retries with back-off
            size, sha256 = transfers.copy_to_file(store, asset.object_key, tmp)
        except ObjectMissing:
            return _quarantine(asset, "the uploaded object is missing from the store")
        tmp.flush()
        mismatches = []
        if size != asset.size:
            mismatches.append(f"the file has {size} bytes but {asset.size} were declared")
        if sha256 != asset.sha256:
            mismatches.append(f"its SHA-256 is {sha256}, not the declared {asset.sha256}")
        if mismatches:
            return _quarantine(asset, "; ".join(mismatches))
        try:
            check_media_type(tmp.name, asset.media_type)
            description = describe_raster(tmp.name, max_pixels=current_app.config["INGEST_MAX_PIXELS"]) \
                if is_tiff(asset.media_type) else None
            thumbnail = thumbnail_png(tmp.name) if description is not None and asset.is_data else None
        except Unacceptable as exc:
            return _quarantine(asset, str(exc))
    item = db.session.get(Item, asset.item_key)
    thumbnail_key = None
    if thumbnail is not None and _thumbnail_source(item) in (None, asset.asset_key):
        thumbnail_key = thumbnail_object(item)
        transfers.put_public(store, thumbnail_key, thumbnail, "image/png")
    with unit_of_work():
        _write_item(item, asset, description, thumbnail_key)
        asset.state, asset.reason = AssetState.ready, None
        settle_product(item)
    return asset.state.value


@contextmanager
def _scratch_file(asset: ProductAsset) -> Iterator[BinaryIO]:
    """A local copy of the object, named after the asset so that a rerun after a crash reuses (and
    then removes) what the killed run left behind."""
    path = Path(current_app.config["INGEST_TMP_DIR"] or tempfile.gettempdir()) / f"sdx-ingest-{asset.id}.part"
    try:
        with open(path, "w+b") as fh:
            yield fh
    finally:
        path.unlink(missing_ok=True)


def _thumbnail_source(item: Item) -> str | None:
    return ((item.data.get("assets") or {}).get("thumbnail") or {}).get("sdx:source")


def thumbnail_object(item: Item) -> str:
    return f"thumbnails/{item.collection_id}/{item.item_id}.png"


def thumbnail_url(item: Item) -> str:
    return (f"{current_app.config['PUBLIC_BASE_URL']}/stac/collections/{item.collection_id}/items/"
            f"{item.item_id}/thumbnail")


def _write_item(item: Item, asset: ProductAsset, description, thumbnail_key: str | None) -> None:
    """Record the verified asset (and what its header says) in the item's STAC JSON and columns."""
    doc = copy.deepcopy(full_document(item))
    store = get_store()
    entry = dict((doc.get("assets") or {}).get(asset.asset_key) or {})
    entry.update({"href": f"s3://{store.products_bucket}/{asset.object_key}", "type": asset.media_type,
                  "roles": asset.roles, "file:size": asset.size, "file:checksum": "1220" + asset.sha256})
    entry.setdefault("title", asset.filename)
    if description is not None:
        entry.update(description.asset_fields())
        props = doc.setdefault("properties", {})
        props.setdefault("gsd", description.gsd)
        if props.pop(FOOTPRINT_FROM_DATA, False) or doc.get("geometry") is None:
            doc["geometry"], doc["bbox"] = description.footprint, description.bbox
    doc.setdefault("assets", {})[asset.asset_key] = entry
    if thumbnail_key is not None:
        doc["assets"]["thumbnail"] = {"href": thumbnail_url(item), "type": "image/png", "roles": ["thumbnail"],
                                      "title": "Preview", "sdx:source": asset.asset_key}
    doc["stac_extensions"] = sorted(set(doc.get("stac_extensions") or []) | set(EXTENSIONS))
    try:
        promoted = validate_item(doc)
    except InvalidItem as exc:  # cannot happen with a footprint rasterio produced; keep the item as it was
        log.error("ingest produced an invalid item %s: %s", item.item_id, exc)
        return
    for name, value in promoted.columns().items():
        setattr(item, name, value)
    item.data = stored_document(doc, item.collection_id, promoted)


def awaiting_upload(item: Item) -> list[str]:
    """Data assets the item declares with a local file name (no URL) instead of an uploaded object."""
    return [key for key, asset in (item.data.get("assets") or {}).items()
            if not is_public_asset(asset) and "://" not in str(asset.get("href", ""))]


def not_ready(item: Item) -> list[str]:
    """Why the product cannot be published yet: each data asset not uploaded or not verified."""
    assets = list(db.session.scalars(select(ProductAsset).where(ProductAsset.item_key == item.key)
                                     .order_by(ProductAsset.asset_key)))
    uploaded = {a.asset_key for a in assets}
    missing = [f"{key}: not uploaded" for key in awaiting_upload(item) if key not in uploaded]
    for asset in assets:
        if asset.is_data and asset.state is not AssetState.ready:
            missing.append(f"{asset.asset_key}: {asset.state.value}" + (f" ({asset.reason})" if asset.reason else ""))
    return missing


def settle_product(item: Item) -> None:
    """After ingest: draft → processing → published once every data asset is uploaded and ready (the
    uploaded ones and those the item declares by file name); back to draft when one is refused.
    A withdrawn or published product stays as it is."""
    assets = list(db.session.scalars(select(ProductAsset).where(ProductAsset.item_key == item.key)))
    data = [a for a in assets if a.is_data]
    if any(a.state is AssetState.quarantined for a in data):
        if item.status is ItemStatus.processing:
            item.status = ItemStatus.draft
    elif data and not not_ready(item):
        if item.status in (ItemStatus.draft, ItemStatus.processing):
            item.status = ItemStatus.published


def _quarantine(asset: ProductAsset, reason: str) -> str:
    item = db.session.get(Item, asset.item_key)
    with unit_of_work():
        asset.state, asset.reason = AssetState.quarantined, reason
        settle_product(item)
    _move_to_quarantine(asset)
    return asset.state.value


def _move_to_quarantine(asset: ProductAsset) -> None:
    transfers.quarantine(get_store(), asset.object_key)
