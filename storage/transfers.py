"""Moving product bytes in and out of S3: presigned PUTs, multipart uploads with presigned part URLs,
streaming reads, quarantine moves.

Everything goes through the MinIO SDK. Its multipart calls (`_create_multipart_upload`, `_list_parts`,
`_complete_multipart_upload`, `_abort_multipart_upload`, `_list_multipart_uploads`) are the plain S3
operations the SDK's own `put_object` uses; they are prefixed with an underscore because the SDK
expects callers to stream through it, while here the client's bytes go straight to S3 through
presigned part URLs. Presigned URLs are signed for the *public* S3 endpoint (what a provider's
machine reaches), which may differ from the endpoint the platform itself uses.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO, Iterator

import urllib3
from minio.commonconfig import CopySource
from minio.datatypes import Part
from minio.error import S3Error

from storage.objectstore import ObjectStore

MIB = 1024 * 1024
GIB = 1024 * MIB
#: S3's limits for multipart uploads.
MIN_PART_SIZE = 5 * MIB
MAX_PART_SIZE = 5 * GIB
MAX_PARTS = 10_000
MAX_OBJECT_SIZE = 5 * 1024 * GIB
QUARANTINE_PREFIX = "quarantine/"


class StorageUnavailable(RuntimeError):
    """The S3 server could not be reached or answered with a server error: try again later."""


def unavailable(exc: Exception) -> bool:
    """Whether an exception from the SDK means the store is down (rather than a client mistake)."""
    if isinstance(exc, S3Error):
        return exc.code in {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout"}
    return isinstance(exc, (urllib3.exceptions.HTTPError, OSError))


@dataclass(frozen=True)
class StoredPart:
    number: int
    size: int
    etag: str


def choose_part_size(size: int, preferred: int) -> int:
    """The preferred part size, grown (in whole MiB) until the object fits in 10,000 parts."""
    part_size = max(MIN_PART_SIZE, min(preferred, MAX_PART_SIZE))
    minimum = -(-size // MAX_PARTS)
    if part_size < minimum:
        part_size = -(-minimum // MIB) * MIB
    return part_size


def presigned_put(store: ObjectStore, key: str, expires: timedelta) -> str:
    return store.presigner.presigned_put_object(store.products_bucket, key, expires=expires)


def presigned_get(store: ObjectStore, bucket: str, key: str, expires: timedelta, filename: str | None = None) -> str:
    headers = {"response-content-disposition": f'attachment; filename="{filename}"'} if filename else None
    return store.presigner.presigned_get_object(bucket, key, expires=expires, response_headers=headers)


def start_multipart(store: ObjectStore, key: str, media_type: str) -> str:
    return store.client._create_multipart_upload(store.products_bucket, key, {"Content-Type": media_type})


def presigned_part(store: ObjectStore, key: str, upload_id: str, number: int, expires: timedelta) -> str:
    return store.presigner.get_presigned_url("PUT", store.products_bucket, key, expires=expires,
                                             extra_query_params={"uploadId": upload_id, "partNumber": str(number)})


def list_parts(store: ObjectStore, key: str, upload_id: str) -> list[StoredPart]:
    """The parts S3 has received for an upload, in order (all pages)."""
    parts: list[StoredPart] = []
    marker = None
    while True:
        result = store.client._list_parts(store.products_bucket, key, upload_id, max_parts=1000,
                                          part_number_marker=marker)
        parts += [StoredPart(p.part_number, p.size, p.etag) for p in result.parts]
        if not result.is_truncated:
            return parts
        marker = str(result.next_part_number_marker)


def complete_multipart(store: ObjectStore, key: str, upload_id: str, parts: list[StoredPart]) -> None:
    store.client._complete_multipart_upload(store.products_bucket, key, upload_id,
                                            [Part(p.number, p.etag) for p in parts])


def abort_multipart(store: ObjectStore, key: str, upload_id: str) -> None:
    """Abort an upload and drop its parts; an upload S3 no longer knows counts as aborted."""
    try:
        store.client._abort_multipart_upload(store.products_bucket, key, upload_id)
    except S3Error as exc:
        if exc.code != "NoSuchUpload":
            raise


@dataclass(frozen=True)
class PendingUpload:
    key: str
    upload_id: str
    initiated: datetime | None


def pending_multipart_uploads(store: ObjectStore) -> Iterator[PendingUpload]:
    """Every multipart upload in the products bucket that is neither completed nor aborted."""
    key_marker = upload_marker = None
    while True:
        result = store.client._list_multipart_uploads(store.products_bucket, key_marker=key_marker,
                                                      upload_id_marker=upload_marker, max_uploads=1000)
        for upload in result.uploads:
            yield PendingUpload(upload.object_name, upload.upload_id, upload.initiated_time)
        if not result.is_truncated:
            return
        key_marker, upload_marker = result.next_key_marker, result.next_upload_id_marker


def object_size(store: ObjectStore, bucket: str, key: str) -> int | None:
    """The size of an object, or None when there is none."""
    try:
        return store.client.stat_object(bucket, key).size
    except S3Error as exc:
        if exc.code in {"NoSuchKey", "NoSuchObject", "ResourceNotFound"}:
            return None
        raise


def remove(store: ObjectStore, bucket: str, key: str) -> None:
    store.client.remove_object(bucket, key)


def copy_to_file(store: ObjectStore, key: str, sink: BinaryIO, chunk: int = 8 * MIB) -> tuple[int, str]:
    """Stream an object of the products bucket into ``sink``; return its size and SHA-256 (hex)."""
    digest = hashlib.sha256()
    size = 0
    response = store.client.get_object(store.products_bucket, key)
    try:
        for block in response.stream(chunk):
            digest.update(block)
            sink.write(block)
            size += len(block)
    finally:
        response.close()
        response.release_conn()
    return size, digest.hexdigest()


def quarantine(store: ObjectStore, key: str) -> str:
    """Move an object of the products bucket under the quarantine prefix; safe to repeat."""
    target = QUARANTINE_PREFIX + key
    if object_size(store, store.products_bucket, key) is not None:
        store.client.copy_object(store.products_bucket, target, CopySource(store.products_bucket, key))
        store.client.remove_object(store.products_bucket, key)
    return target


def put_public(store: ObjectStore, key: str, data: bytes, media_type: str) -> None:
    store.client.put_object(store.public_bucket, key, io.BytesIO(data), len(data), content_type=media_type)


def read_public(store: ObjectStore, key: str) -> bytes | None:
    try:
        response = store.client.get_object(store.public_bucket, key)
    except S3Error as exc:
        if exc.code in {"NoSuchKey", "NoSuchObject"}:
            return None
        raise
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()
