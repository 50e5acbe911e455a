"""The files of a catalogue item: downloads of what SDX stored for a product, and its preview."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from exchange.policy import Identity, decide
from exchange.catalog.service import get_item
from exchange.core.db import db
from exchange.core.problems import Conflict, Forbidden, NotFound
from storage import transfers
from storage.objectstore import get_store


def asset_source(identity: Identity, collection_id: str, item_id: str, key: str) -> str:
    """A short-lived presigned URL for a file SDX itself stored for this product and verified.

    Only the object recorded in the product's own asset row is ever presigned: the item's ``href``
    is the provider's text and is never resolved (an s3:// href could name another organisation's
    object, an http(s) one would make this route an open redirect). An external link is in the item
    itself. Until the download gateway meters licensed downloads, only the owning provider (or an
    admin) may fetch a data file."""
    from exchange.ingest.models import AssetState, ProductAsset
    from exchange.ingest.service import store_call

    item = get_item(identity, collection_id, item_id)
    stored = db.session.scalar(select(ProductAsset).where(ProductAsset.item_key == item.key,
                                                          ProductAsset.asset_key == key))
    if stored is None:
        raise NotFound(f"Item {item_id!r} holds no file {key!r} on SDX; an external asset's link is in the item.")
    if stored.is_data and not decide(identity, "asset:download", item):
        raise Forbidden("Data assets are downloaded under a license; the download gateway is not open yet.")
    if stored.state is not AssetState.ready:
        raise Conflict(f"Asset {key!r} is {stored.state.value}, not ready for download.", state=stored.state.value)
    store = store_call(get_store)
    return store_call(transfers.presigned_get, store, store.products_bucket, stored.object_key,
                      timedelta(minutes=15), stored.object_key.rsplit("/", 1)[-1], media_type=stored.media_type)


def thumbnail(identity: Identity, collection_id: str, item_id: str) -> bytes:
    """The preview ingest made of a product, for whoever may see the product."""
    from exchange.ingest.pipeline import thumbnail_object
    from exchange.ingest.service import store_call

    item = get_item(identity, collection_id, item_id)
    png = store_call(transfers.read_public, store_call(get_store), thumbnail_object(item))
    if png is None:
        raise NotFound(f"Item {item_id!r} has no preview.")
    return png
