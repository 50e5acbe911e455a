"""What ingest answers the catalogue about the files it keeps for a product.

Connected to the signals of ``exchange.catalog.hooks`` by ``exchange.ingest.init_app``: the
catalogue never imports ingest, ingest hears when an item goes and is asked what it stores.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from exchange.catalog import hooks
from exchange.catalog.models import Item
from exchange.core.db import UnitOfWork, db
from exchange.core.problems import Conflict, Forbidden
from exchange.ingest.models import AssetState, ProductAsset, Upload, UploadState
from exchange.ingest.pipeline import not_ready, thumbnail_object
from exchange.policy import Identity, decide
from storage import transfers
from storage.objectstore import get_store


def connect() -> None:
    """Answer the catalogue's hooks (connecting twice is harmless: blinker keeps one of each)."""
    hooks.item_deleting.connect(forget_product)
    hooks.publish_blockers.connect(publish_blockers)
    hooks.stored_asset_keys.connect(stored_asset_keys)
    hooks.asset_download.connect(asset_download)
    hooks.item_preview.connect(preview)


def forget_product(item: Item, *, uow: UnitOfWork) -> None:
    """An item is being deleted: its asset and upload rows go in the same commit, its objects after it."""
    files = files_of_product(item)
    asset_ids = select(ProductAsset.id).where(ProductAsset.item_key == item.key)
    # explicitly: SQLite does not enforce the foreign keys' cascades
    db.session.execute(delete(Upload).where(Upload.asset_id.in_(asset_ids)))
    db.session.execute(delete(ProductAsset).where(ProductAsset.item_key == item.key))
    uow.after_commit(remove_files, files, thumbnail_object(item))


def files_of_product(item: Item) -> list[tuple[str, str | None]]:
    """What a product holds in the store: each asset's object key, with its open multipart upload id."""
    files = []
    for asset in db.session.scalars(select(ProductAsset).where(ProductAsset.item_key == item.key)):
        open_ids = [u.s3_upload_id for u in asset.uploads if u.state is UploadState.open and u.multipart]
        files += [(asset.object_key, upload_id) for upload_id in open_ids] or [(asset.object_key, None)]
    return files


def remove_files(files: list[tuple[str, str | None]], thumbnail_key: str) -> None:
    """Remove a deleted product's objects (and quarantined copies, thumbnail, open uploads)."""
    store = get_store()
    for key, upload_id in files:
        if upload_id:
            transfers.abort_multipart(store, key, upload_id)
        transfers.remove(store, store.products_bucket, key)
        transfers.remove(store, store.products_bucket, transfers.QUARANTINE_PREFIX + key)
    transfers.remove(store, store.public_bucket, thumbnail_key)


def publish_blockers(item: Item) -> list[str]:
    return not_ready(item)


def stored_asset_keys(item: Item) -> set[str]:
    return set(db.session.scalars(select(ProductAsset.asset_key).where(ProductAsset.item_key == item.key)))


def asset_download(item: Item, *, identity: Identity, key: str) -> str | None:
    """A short-lived presigned URL for a file SDX itself stored for this product and verified.

    Only the object recorded in the product's own asset row is ever presigned: the item's ``href``
    is the provider's text and is never resolved (an s3:// href could name another organisation's
    object, an http(s) one would make this route an open redirect). An external link is in the item
    itself. Who may fetch a data file is the "asset:download" rule's answer (the owning provider, an
    admin, a holder of a usable licence); the download gateway will meter it."""
    stored = db.session.scalar(select(ProductAsset).where(ProductAsset.item_key == item.key,
                                                          ProductAsset.asset_key == key))
    if stored is None:
        return None
    if stored.is_data and not (decision := decide(identity, "asset:download", item)):
        raise Forbidden(f"Data assets are downloaded under a licence: {decision.reason}.",
                        rule=decision.rule)
    if stored.state is not AssetState.ready:
        raise Conflict(f"Asset {key!r} is {stored.state.value}, not ready for download.", state=stored.state.value)
    store = get_store()
    return transfers.presigned_get(store, store.products_bucket, stored.object_key, timedelta(minutes=15),
                                   stored.object_key.rsplit("/", 1)[-1], media_type=stored.media_type)


def preview(item: Item) -> bytes | None:
    """The preview ingest made of the product, if any."""
    return transfers.read_public(get_store(), thumbnail_object(item))
