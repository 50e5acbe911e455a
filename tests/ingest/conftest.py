"""Upload fixtures: a provider with a token and a collection on a live server, real GeoTIFFs made with
rasterio, and a plain HTTP client that sends bytes to the presigned URLs."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import rasterio
import requests
from rasterio.transform import from_origin

from storage.objectstore import get_store
from tests.conftest import serving

SCOPES = "catalog:read catalog:write uploads:write"
GEOTIFF = "image/tiff; application=geotiff"
MIB = 1024 * 1024


def write_geotiff(path: Path, *, crs: str = "EPSG:32633", origin=(500000.0, 5000000.0), res=(10.0, 10.0),
                  width: int = 300, height: int = 200, count: int = 1, dtype: str = "uint16", nodata=None,
                  driver: str = "GTiff", noise: bool = False) -> Path:
    """A real GeoTIFF (or COG) with a gradient, so previews and statistics have something to show."""
    rows, cols = np.mgrid[0:height, 0:width]
    bands = [((rows + cols * (i + 1)) % 4000 + 1).astype(dtype) for i in range(count)]
    data = np.stack(bands)
    if noise:  # incompressible: the file is as large as its pixels
        data = np.random.default_rng(7).integers(1, 4000, size=data.shape).astype(dtype)
    if nodata is not None:
        data[:, : height // 4, : width // 4] = nodata
    profile = dict(driver=driver, width=width, height=height, count=count, dtype=dtype, crs=crs,
                   transform=from_origin(origin[0], origin[1], *res), nodata=nodata)
    if driver == "GTiff":
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def write_huge_empty_geotiff(path: Path, side: int) -> Path:
    """A GeoTIFF declaring ``side`` × ``side`` pixels but holding none (sparse tiles): a few kilobytes."""
    with rasterio.open(path, "w", driver="GTiff", width=side, height=side, count=1, dtype="uint8",
                       crs="EPSG:4326", transform=from_origin(0, 10, 1e-4, 1e-4), tiled=True,
                       blockxsize=512, blockysize=512, sparse_ok=True):
        pass
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def item_doc(item_id: str, *, footprint_from_data: bool = True, assets: dict | None = None) -> dict:
    """A draft product whose footprint the ingest is asked to take from the data."""
    return {"type": "Feature", "stac_version": "1.0.0", "id": item_id,
            "geometry": {"type": "Point", "coordinates": [0.0, 0.0]}, "bbox": [0.0, 0.0, 0.0, 0.0],
            "properties": {"datetime": "2026-06-01T10:00:00Z", "sdx:status": "draft",
                           **({"sdx:footprint_from_data": True} if footprint_from_data else {})},
            "assets": assets or {}, "links": []}


@dataclass
class Provider:
    live: object
    token: str
    collection: str

    def api(self, method: str, path: str, token: str | None = "default", **kwargs) -> requests.Response:
        return self.live.api(method, path, self.token if token == "default" else token, **kwargs)

    def new_product(self, item_id: str, **kwargs) -> int:
        response = self.api("POST", f"/stac/collections/{self.collection}/items", json=item_doc(item_id, **kwargs))
        assert response.status_code == 201, response.text
        return response.json()["properties"]["sdx:product_id"]

    def start(self, product_id: int, key: str, path: Path, *, media_type: str = GEOTIFF, **overrides):
        body = {"filename": path.name, "size": path.stat().st_size, "sha256": sha256(path),
                "media_type": media_type, "roles": ["data"], **overrides}
        return self.api("POST", f"/api/v1/products/{product_id}/assets/{key}/uploads", json=body)

    def send(self, upload: dict, path: Path, skip: set[int] = frozenset()) -> None:
        """PUT the file's bytes to the presigned URL(s) with a plain HTTP client."""
        data = path.read_bytes()
        if not upload["multipart"]:
            assert requests.put(upload["url"], data=data, timeout=30).status_code == 200
            return
        size = upload["part_size"]
        for part in upload["parts"]:
            if part["part_number"] in skip:
                continue
            chunk = data[(part["part_number"] - 1) * size: part["part_number"] * size]
            response = requests.put(part["url"], data=chunk, timeout=30)
            assert response.status_code == 200, response.text

    def upload(self, product_id: int, key: str, path: Path, **overrides) -> requests.Response:
        """Start, send, complete: the answer of the completion call."""
        started = self.start(product_id, key, path, **overrides)
        assert started.status_code == 201, started.text
        self.send(started.json(), path)
        return self.api("POST", f"/api/v1/uploads/{started.json()['id']}/complete")

    def status(self, product_id: int) -> dict:
        response = self.api("GET", f"/api/v1/products/{product_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def item(self, item_id: str) -> dict:
        response = self.api("GET", f"/stac/collections/{self.collection}/items/{item_id}")
        assert response.status_code == 200, response.text
        return response.json()


def make_provider(live, email: str, org: str, collection: str) -> Provider:
    live.user(email, roles=("provider",), org=org, kind="provider")
    client_id, _ = live.client(email, SCOPES)
    token = live.minted_token(client_id)
    response = live.api("POST", "/stac/collections", token, json={
        "type": "Collection", "id": collection, "description": f"{org}'s products", "license": "proprietary"})
    assert response.status_code == 201, response.text
    return Provider(live, token, collection)


#: Small limits so that tests exercise multipart uploads and the decompression-bomb guard cheaply.
UPLOAD_SETTINGS = dict(UPLOAD_MULTIPART_THRESHOLD=6 * MIB, UPLOAD_PART_SIZE=5 * MIB, INGEST_MAX_PIXELS=10**8)


@pytest.fixture
def upload_live(make_app):
    with serving(make_app, **UPLOAD_SETTINGS) as server:
        empty_buckets(server.app)  # the buckets are shared by every test of the run
        yield server
        empty_buckets(server.app)


@pytest.fixture
def provider(upload_live) -> Provider:
    return make_provider(upload_live, "uploader@acme.example", "Acme Imaging", "acme-scenes")


def bucket_listing(app) -> dict[str, list[str]]:
    """Every object in the platform's buckets, and every multipart upload still open."""
    with app.app_context():
        store = get_store()
        listing = {bucket: sorted(o.object_name for o in store.client.list_objects(bucket, recursive=True))
                   for bucket in store.buckets}
        from storage.transfers import pending_multipart_uploads

        listing["open-multipart"] = sorted(p.key for p in pending_multipart_uploads(store))
        return listing


def empty_buckets(app) -> None:
    """Remove every object and open upload (the buckets are shared by the tests of one run)."""
    with app.app_context():
        store = get_store()
        from storage.transfers import abort_multipart, pending_multipart_uploads

        for pending in list(pending_multipart_uploads(store)):
            abort_multipart(store, pending.key, pending.upload_id)
        for bucket in store.buckets:
            for obj in list(store.client.list_objects(bucket, recursive=True)):
                store.client.remove_object(bucket, obj.object_name)
