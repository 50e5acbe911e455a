"""What ingest answers the catalogue about the files it keeps for a product.

Connected to the signals of ``exchange.catalog.hooks`` by ``exchange.ingest.init_app``: the
catalogue never imports ingest, ingest hears when an item goes and is asked what it stores.
"""
from __future__ import annotations

from sqlalchemy import delete, select

from exchange.catalog import hooks
from exchange.catalog.models import Item
from exchange.core.db import UnitOfWork, db
from exchange.ingest.models import ProductAsset, Upload, UploadState
from exchange.ingest.pipeline import not_ready, thumbnail_object
from storage import transfers
from storage.objectstore import get_store


def connect() -> None:
    """Answer the catalogue's hooks (connecting twice is harmless: blinker keeps one of each)."""
    hooks.item_deleting.connect(forget_product)
    hooks.publish_blockers.connect(publish_blockers)
    hooks.stored_asset_keys.connect(stored_asset_keys)
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


def preview(item: Item) -> bytes | None:
    """The preview ingest made of the product, if any."""
    return transfers.read_public(get_store(), thumbnail_object(item))
