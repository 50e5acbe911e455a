"""The provider's side of an upload, over HTTP only: create the product, send each file straight to S3
in parallel parts through the presigned URLs, resume from what the store already holds, complete,
and wait for ingest. Used by ``flask --app app sdx upload`` and by bench/upload.py.
"""
from __future__ import annotations

import hashlib
import mimetypes
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import requests

MEDIA_TYPES = {".tif": "image/tiff; application=geotiff", ".tiff": "image/tiff; application=geotiff",
               ".json": "application/json", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".zip": "application/zip", ".nc": "application/x-netcdf", ".h5": "application/x-hdf5"}
Progress = Callable[[int], None]


class UploadFailed(RuntimeError):
    """The platform or the object store refused something; the message is what it said."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _problem(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    detail = body.get("detail") or body.get("title") or body.get("error_description") or body
    errors = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in body.get("errors") or [])
    return f"HTTP {response.status_code}: {detail}" + (f" ({errors})" if errors else "")


def sha256_of(path: Path, progress: Progress | None = None, chunk: int = 8 * 1024 * 1024) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
            if progress:
                progress(len(block))
    return digest.hexdigest()


@dataclass
class LocalFile:
    path: Path
    asset_key: str
    media_type: str
    roles: list[str]


def files_for_item(item: dict, paths: list[Path]) -> list[LocalFile]:
    """Pair each file with the item's asset whose href names it (else an asset named after the file)."""
    by_name = {Path(str(a.get("href", ""))).name: (k, a) for k, a in (item.get("assets") or {}).items()}
    files = []
    for path in paths:
        key, asset = by_name.get(path.name, (re.sub(r"[^A-Za-z0-9_.:-]", "_", path.stem)[:100] or "data", {}))
        media_type = asset.get("type") or MEDIA_TYPES.get(path.suffix.lower()) or \
            mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        files.append(LocalFile(path, key, media_type, asset.get("roles") or ["data"]))
    return files


def declare_files(item: dict, files: list[LocalFile]) -> dict:
    """The item with an asset for every file, so the product waits for all of them before publishing.
    An item without a geometry gets a placeholder and asks ingest to locate it by its data."""
    assets = dict(item.get("assets") or {})
    for local in files:
        assets.setdefault(local.asset_key, {"href": local.path.name, "type": local.media_type, "roles": local.roles})
    declared = dict(item, assets=assets)
    if item.get("geometry") is None:
        declared["geometry"], declared["bbox"] = {"type": "Point", "coordinates": [0.0, 0.0]}, [0.0, 0.0, 0.0, 0.0]
        declared["properties"] = dict(item.get("properties") or {}, **{"sdx:footprint_from_data": True})
    return declared


class UploadClient:
    def __init__(self, api: str, token: str, *, workers: int = 4, timeout: float = 60.0) -> None:
        self.api = api.rstrip("/")
        self.workers = workers
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.s3 = requests.Session()  # presigned URLs carry their own authorisation
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=max(workers, 10))
        self.s3.mount("http://", adapter)
        self.s3.mount("https://", adapter)

    def _call(self, method: str, path: str, **kwargs) -> requests.Response:
        try:
            return self.session.request(method, f"{self.api}{path}", timeout=self.timeout, **kwargs)
        except requests.ConnectionError:
            raise UploadFailed(f"cannot reach the platform at {self.api}: is the --api URL right and the server up?") from None
        except requests.Timeout:
            raise UploadFailed(f"the platform at {self.api} did not answer within {self.timeout:.0f} s") from None

    def _ok(self, response: requests.Response, *codes: int) -> dict:
        if response.status_code not in codes:
            raise UploadFailed(_problem(response), response.status_code)
        return response.json() if response.content else {}

    # -- products -----------------------------------------------------------------------------------
    def create_product(self, collection: str, item: dict) -> dict:
        """Create the item as a draft product, or find the one an earlier run created."""
        doc = dict(item, collection=collection)
        doc["properties"] = dict(item.get("properties") or {}, **{"sdx:status": "draft"})
        response = self._call("POST", f"/stac/collections/{collection}/items", json=doc)
        if response.status_code == 409:
            response = self._call("GET", f"/stac/collections/{collection}/items/{item.get('id')}")
            return self._ok(response, 200)
        return self._ok(response, 201)

    def product_status(self, product_id: int) -> dict:
        return self._ok(self._call("GET", f"/api/v1/products/{product_id}"), 200)

    def wait_for_ingest(self, product_id: int, timeout: float = 3600.0, poll: float = 1.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            status = self.product_status(product_id)
            busy = status["status"] == "processing" or any(a["state"] in ("uploading", "verifying")
                                                           for a in status["assets"])
            if not busy or time.monotonic() > deadline:
                return status
            time.sleep(poll)

    # -- files ------------------------------------------------------------------------------------------
    def upload(self, product_id: int, local: LocalFile, *, sha256: str | None = None,
               progress: Progress | None = None, part_size: int | None = None) -> dict:
        """Send one file; resumes an open upload of the same asset from the parts S3 already holds."""
        size = local.path.stat().st_size
        sha256 = sha256 or sha256_of(local.path)
        body = {"filename": local.path.name, "size": size, "sha256": sha256, "media_type": local.media_type,
                "roles": local.roles}
        if part_size:
            body["part_size"] = part_size
        response = self._call("POST", f"/api/v1/products/{product_id}/assets/{local.asset_key}/uploads", json=body)
        if response.status_code == 409 and "upload_id" in response.json():
            upload = self._ok(self._call("GET", f"/api/v1/uploads/{response.json()['upload_id']}"), 200)
            if upload["asset"]["sha256"] != sha256 or upload["asset"]["size"] != size:
                raise UploadFailed(f"{local.path.name}: an open upload of asset {local.asset_key!r} holds another "
                                   f"file; abort it first (DELETE /api/v1/uploads/{upload['id']})")
        else:
            upload = self._ok(response, 201)
        if upload["multipart"]:
            self._send_parts(upload, local.path, progress)
        else:
            self._put(upload["url"], local.path, 0, size, progress)
        return self._ok(self._call("POST", f"/api/v1/uploads/{upload['id']}/complete"), 202)

    def _send_parts(self, upload: dict, path: Path, progress: Progress | None) -> None:
        size, part_size = path.stat().st_size, upload["part_size"]
        done = {p["part_number"] for p in upload.get("received_parts") or []
                if p["size"] == min(part_size, size - (p["part_number"] - 1) * part_size)}
        if progress and done:
            progress(sum(min(part_size, size - (n - 1) * part_size) for n in done))
        needed = [n for n in range(1, upload["part_count"] + 1) if n not in done]
        if not needed:
            return
        urls = {p["part_number"]: p["url"] for p in upload.get("parts") or []}
        if any(n not in urls for n in needed):  # resuming: the first URLs are gone or stale
            fresh = self._ok(self._call("POST", f"/api/v1/uploads/{upload['id']}/parts",
                                        json={"part_numbers": needed}), 200)
            urls = {p["part_number"]: p["url"] for p in fresh["parts"]}
        lock = threading.Lock()

        def send(number: int) -> None:
            offset = (number - 1) * part_size
            length = min(part_size, size - offset)
            for attempt in range(4):
                try:
                    self._put(urls[number], path, offset, length, progress, lock)
                    return
                except UploadFailed as exc:
                    if attempt == 3:
                        raise UploadFailed(f"part {number}: {exc}") from None
                    if exc.status == 403:  # the URL expired: send again at once with a fresh one
                        fresh = self._ok(self._call("POST", f"/api/v1/uploads/{upload['id']}/parts",
                                                    json={"part_numbers": [number]}), 200)
                        urls[number] = fresh["parts"][0]["url"]
                    else:
                        time.sleep(0.5 * 2 ** attempt)

        with ThreadPoolExecutor(self.workers) as pool:
            list(pool.map(send, needed))

    def _put(self, url: str, path: Path, offset: int, length: int, progress: Progress | None,
             lock: threading.Lock | None = None) -> None:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read(length)
        try:  # a bytes body: requests sends its Content-Length, which the URL signs (no chunked encoding)
            response = self.s3.put(url, data=data, timeout=max(self.timeout, length / 1e6))
        except requests.RequestException as exc:
            raise UploadFailed(str(exc)) from None
        if response.status_code != 200:
            raise UploadFailed(f"HTTP {response.status_code} from the object store", response.status_code)
        if progress:
            if lock:
                with lock:
                    progress(length)
            else:
                progress(length)


def total_size(files: list[LocalFile]) -> int:
    return sum(os.path.getsize(f.path) for f in files)
