"""Moving product bytes in and out of S3: presigned PUTs, multipart uploads with presigned part URLs,
streaming reads, quarantine moves.

Everything goes through the MinIO SDK. Its multipart calls (`_create_multipart_upload`, `_list_parts`,
`_complete_multipart_upload`, `_abort_multipart_upload`, `_list_multipart_uploads`) are the plain S3
operations the SDK's own `put_object` uses; they are prefixed with an underscore because the SDK
expects callers to stream through it, while here the client's bytes go straight to S3 through
presigned part URLs. Presigned URLs are signed for the *public* S3 endpoint (what a provider's
machine reaches), which may differ from the endpoint the platform itself uses.

Upload URLs carry the exact length as a signed ``Content-Length`` header, so S3 itself refuses a body
of any other size before storing a byte. Download URLs make S3 answer with a Content-Disposition
built per RFC 6266 and a Content-Type that a browser will not run (see ``download_headers``).

Every function runs its S3 calls inside ``storage.errors.translated``: callers see the store's
errors as ``StorageUnavailable``, ``ObjectMissing`` or ``StorageError``, never the SDK's.
"""
from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO, Iterator
from urllib.parse import quote, urlunsplit

from minio import Minio, signer
from minio import time as s3time
from minio.commonconfig import CopySource
from minio.datatypes import Part
from minio.helpers import queryencode

from storage.errors import ObjectMissing, translated
from storage.objectstore import ObjectStore

MIB = 1024 * 1024
GIB = 1024 * MIB
#: S3's limits for multipart uploads.
MIN_PART_SIZE = 5 * MIB
MAX_PART_SIZE = 5 * GIB
MAX_PARTS = 10_000
MAX_OBJECT_SIZE = 5 * 1024 * GIB
QUARANTINE_PREFIX = "quarantine/"


#: S3 error codes for "no such object" (servers differ): a missing object is an answer, not an error.
NO_SUCH_OBJECT = frozenset({"NoSuchKey", "NoSuchObject", "ResourceNotFound"})


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


def _presign_put_of_length(client: Minio, bucket: str, key: str, length: int, expires: timedelta,
                           query: dict[str, str] | None = None) -> str:
    """A presigned PUT (SigV4, query string) that signs ``content-length`` along with ``host``.

    The SDK's ``get_presigned_url`` signs the host only, so any body size would be accepted; this is
    the same signature built from the SDK's signer with the length added to the signed headers. S3
    (AWS, MinIO, SeaweedFS) then answers 403 SignatureDoesNotMatch to a body of another length, and a
    chunked body without a length."""
    region = client._get_region(bucket)  # the configured region: no request is made
    url = client._base_url.build(method="PUT", region=region, bucket_name=bucket, object_name=key,
                                 query_params=dict(query or {}))
    credentials = client._provider.retrieve()
    date = s3time.utcnow()
    scope = signer._get_scope(date, region, "s3")
    signed_headers = "content-length;host"
    presign = (f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={queryencode(credentials.access_key + '/' + scope)}"
               f"&X-Amz-Date={s3time.to_amz_date(date)}&X-Amz-Expires={int(expires.total_seconds())}"
               f"&X-Amz-SignedHeaders={queryencode(signed_headers)}")
    query_string = f"{url.query}&{presign}" if url.query else presign
    canonical_request = "\n".join([
        "PUT", url.path or "/", signer._get_canonical_query_string(query_string),
        f"content-length:{length}\nhost:{url.netloc}\n", signed_headers, "UNSIGNED-PAYLOAD"])
    string_to_sign = signer._get_string_to_sign(date, scope, signer.sha256_hash(canonical_request))
    signature = signer._get_signature(signer._get_signing_key(credentials.secret_key, date, region, "s3"),
                                      string_to_sign)
    return urlunsplit(url._replace(query=f"{query_string}&X-Amz-Signature={queryencode(signature)}"))


@translated()
def presigned_put(store: ObjectStore, key: str, size: int, expires: timedelta) -> str:
    """Where to PUT a whole file of exactly ``size`` bytes."""
    return _presign_put_of_length(store.presigner, store.products_bucket, key, size, expires)


#: Media types a browser neither renders as a page nor runs: a download keeps its recorded type only if
#: it is one of these, anything else (text/html, image/svg+xml, unknown types) is served as bytes.
SAFE_MEDIA_TYPES = frozenset({
    "application/octet-stream", "application/json", "application/geo+json", "application/zip",
    "application/gzip", "application/x-tar", "application/x-netcdf", "application/netcdf", "application/x-hdf5",
    "application/x-hdf", "application/vnd.laszip", "application/x-parquet", "application/vnd.apache.parquet",
    "image/tiff", "image/png", "image/jpeg", "image/jp2", "image/webp",
})
#: A media type with optional parameters (RFC 9110 tokens and quoted strings, no control characters).
_TOKEN = r"[A-Za-z0-9!#$&^_.+-]+"
MEDIA_TYPE = re.compile(rf'^{_TOKEN}/{_TOKEN}(\s*;\s*{_TOKEN}=({_TOKEN}|"[^"\\\x00-\x1f\x7f]*"))*$')
#: RFC 8187 attr-char besides letters and digits: what ``filename*`` may carry unencoded.
_ATTR_CHARS = "!#$&+-.^_`|~"


def download_media_type(media_type: str | None) -> str:
    """The Content-Type to serve a stored file with: its recorded type if harmless, else bytes."""
    if media_type and MEDIA_TYPE.match(media_type) and media_type.split(";")[0].strip().lower() in SAFE_MEDIA_TYPES:
        return media_type
    return "application/octet-stream"


def content_disposition(filename: str) -> str:
    """``attachment`` with the name per RFC 6266: an ASCII ``filename`` (anything else, quotes,
    backslashes, percent signs and separators replaced by ``_``) and the exact name in ``filename*``."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%/;' else "_" for c in filename).strip() or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe=_ATTR_CHARS)}"


@translated()
def presigned_get(store: ObjectStore, bucket: str, key: str, expires: timedelta, filename: str | None = None,
                  media_type: str | None = None) -> str:
    """A download URL whose answer S3 gives as an attachment named ``filename`` (default: the key's last
    segment) with a safe Content-Type. S3 cannot add ``X-Content-Type-Options: nosniff`` to a presigned
    GET, so the type itself is made safe: anything not in SAFE_MEDIA_TYPES is application/octet-stream."""
    headers = {"response-content-disposition": content_disposition(filename or key.rsplit("/", 1)[-1]),
               "response-content-type": download_media_type(media_type)}
    return store.presigner.presigned_get_object(bucket, key, expires=expires, response_headers=headers)


@translated()
def start_multipart(store: ObjectStore, key: str, media_type: str) -> str:
    return store.client._create_multipart_upload(store.products_bucket, key, {"Content-Type": media_type})


@translated()
def presigned_part(store: ObjectStore, key: str, upload_id: str, number: int, size: int, expires: timedelta) -> str:
    """Where to PUT part ``number`` of a multipart upload, of exactly ``size`` bytes."""
    return _presign_put_of_length(store.presigner, store.products_bucket, key, size, expires,
                                  {"uploadId": upload_id, "partNumber": str(number)})


@translated()
def list_parts(store: ObjectStore, key: str, upload_id: str) -> list[StoredPart]:
    """The parts S3 has received for an upload, one per number, in order (all pages).

    A part PUT twice is the newest PUT, as S3 defines it. SeaweedFS lists every PUT of a number, so
    the newest by LastModified is kept (on a tie, the one listed last)."""
    newest: dict[int, tuple] = {}
    marker = None
    while True:
        result = store.client._list_parts(store.products_bucket, key, upload_id, max_parts=1000,
                                          part_number_marker=marker)
        for p in result.parts:
            seen = newest.get(p.part_number)
            if seen is None or p.last_modified is None or seen[0] is None or p.last_modified >= seen[0]:
                newest[p.part_number] = (p.last_modified, StoredPart(p.part_number, p.size, p.etag))
        if not result.is_truncated:
            return [newest[n][1] for n in sorted(newest)]
        marker = str(result.next_part_number_marker)


@translated()
def complete_multipart(store: ObjectStore, key: str, upload_id: str, parts: list[StoredPart]) -> None:
    store.client._complete_multipart_upload(store.products_bucket, key, upload_id,
                                            [Part(p.number, p.etag) for p in parts])


@translated()
def abort_multipart(store: ObjectStore, key: str, upload_id: str) -> None:
    """Abort an upload and drop its parts; an upload S3 no longer knows counts as aborted."""
    try:
        with translated():
            store.client._abort_multipart_upload(store.products_bucket, key, upload_id)
    except ObjectMissing as exc:
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
        with translated():
            result = store.client._list_multipart_uploads(store.products_bucket, key_marker=key_marker,
                                                          upload_id_marker=upload_marker, max_uploads=1000)
        for upload in result.uploads:
            yield PendingUpload(upload.object_name, upload.upload_id, upload.initiated_time)
        if not result.is_truncated:
            return
        key_marker, upload_marker = result.next_key_marker, result.next_upload_id_marker


@translated()
def object_size(store: ObjectStore, bucket: str, key: str) -> int | None:
    """The size of an object, or None when there is none."""
    try:
        with translated():
            return store.client.stat_object(bucket, key).size
    except ObjectMissing as exc:
        if exc.code in NO_SUCH_OBJECT:
            return None
        raise


@translated()
def remove(store: ObjectStore, bucket: str, key: str) -> None:
    store.client.remove_object(bucket, key)


@translated()
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


@translated()
def quarantine(store: ObjectStore, key: str) -> str:
    """Move an object of the products bucket under the quarantine prefix; safe to repeat."""
    target = QUARANTINE_PREFIX + key
    if object_size(store, store.products_bucket, key) is not None:
        store.client.copy_object(store.products_bucket, target, CopySource(store.products_bucket, key))
        store.client.remove_object(store.products_bucket, key)
    return target


@translated()
def put_public(store: ObjectStore, key: str, data: bytes, media_type: str) -> None:
    store.client.put_object(store.public_bucket, key, io.BytesIO(data), len(data), content_type=media_type)


@translated()
def read_public(store: ObjectStore, key: str) -> bytes | None:
    try:
        with translated():
            response = store.client.get_object(store.public_bucket, key)
    except ObjectMissing as exc:
        if exc.code in NO_SUCH_OBJECT:
            return None
        raise
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def stream_object(store: ObjectStore, bucket: str, key: str, offset: int = 0, length: int | None = None,
                  chunk: int = MIB) -> Iterator[bytes]:
    """Yield ``length`` bytes (default: to the end) of an object from ``offset``, ``chunk`` at a time,
    as stored (never decoded: the length and SHA-256 are the stored bytes'). The S3 connection goes
    back to the pool however the caller stops (end, ``close()``, an error)."""
    with translated():
        response = store.client.get_object(bucket, key, offset=offset, length=length or 0)
    try:
        with translated():
            yield from response.stream(chunk, decode_content=False)
    finally:
        response.close()
        response.release_conn()
