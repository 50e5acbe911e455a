"""Demo data files, so that a newcomer can license and download a real file on the embedded default.

The sample catalogue's assets point at other people's servers; SDX stores no file for them. For the
first few NAIP products (in the catalogue's own order, the ones `/stac/search?collections=naip`
lists first) this puts a small GeoTIFF covering the product's footprint into the products bucket as
its verified ``image`` asset — what ingest would have recorded after an upload — and points the
item's ``image`` asset at it, so its STAC href becomes the download gateway's.
"""
from __future__ import annotations

import hashlib
import io

import numpy as np
from rasterio.io import MemoryFile
from rasterio.transform import from_bounds
from sqlalchemy import select

from exchange.catalog.search import build_request
from exchange.catalog.service import search
from exchange.catalog.transactions import patch_item
from exchange.core.db import db, unit_of_work
from exchange.ingest.models import AssetState, ProductAsset
from exchange.policy import ANONYMOUS, SYSTEM
from storage.objectstore import get_store

DEMO_COLLECTION = "naip"
DEMO_PRODUCTS = 3
SIDE = 512  # pixels: 3 bands of 512 × 512 bytes, about 0.8 MB


def demo_geotiff(west: float, south: float, east: float, north: float, seed: int) -> bytes:
    """A 3-band GeoTIFF over the box (WGS84) with a smooth pattern, so a viewer shows something."""
    y, x = np.mgrid[0:SIDE, 0:SIDE]
    bands = np.stack([(x + seed * 40) % 256, (y + seed * 80) % 256, ((x + y) // 2) % 256]).astype("uint8")
    with MemoryFile() as memory:
        with memory.open(driver="GTiff", width=SIDE, height=SIDE, count=3, dtype="uint8", crs="EPSG:4326",
                         transform=from_bounds(west, south, east, north, SIDE, SIDE), tiled=True,
                         blockxsize=256, blockysize=256) as dataset:
            dataset.write(bands)
        return memory.read()


def seed_demo_files() -> list[str]:
    """Store a data file for the first demo products that have none; return lines to show the user."""
    page = search(ANONYMOUS, build_request({"collections": DEMO_COLLECTION, "limit": str(DEMO_PRODUCTS)},
                                           from_get=True))
    store = get_store()
    stored = []
    for seed, item in enumerate(page.items):
        if db.session.scalar(select(ProductAsset.id).where(ProductAsset.item_key == item.key).limit(1)):
            continue
        data = demo_geotiff(item.minx, item.miny, item.maxx, item.maxy, seed)
        key = f"{item.collection_id}/{item.item_id}/image/{item.item_id}.tif"
        # The asset names the stored file, not the sample's web link (before the file is recorded, which
        # makes its href the platform's to keep): STAC clients see the gateway's href.
        patch_item(SYSTEM, item.collection_id, item.item_id,
                   {"assets": {"image": {"href": f"{item.item_id}.tif", "type": "image/tiff; application=geotiff"}}})
        store.client.put_object(store.products_bucket, key, io.BytesIO(data), len(data), content_type="image/tiff")
        with unit_of_work():
            db.session.add(ProductAsset(
                item_key=item.key, asset_key="image", state=AssetState.ready, filename=f"{item.item_id}.tif",
                media_type="image/tiff; application=geotiff", roles=["data"], size=len(data),
                sha256=hashlib.sha256(data).hexdigest(), object_key=key))
        stored.append(item.item_id)
    if not stored:
        return []
    return [f"demo data files (downloadable under a licence): {', '.join(stored)} in {DEMO_COLLECTION!r}"]

