"""What can go wrong with the object store, in the platform's words rather than the SDK's.

Every call to S3 (``storage/objectstore.py``, ``storage/transfers.py``) runs inside ``translated()``,
the one place MinIO's and urllib3's exceptions are read; callers above ``storage/`` catch only these
classes. The web layer answers ``StorageUnavailable`` with a 503 and ``Retry-After`` (see
``exchange/core/problems.py``); a Celery task retries on it.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import urllib3
from minio.error import MinioException, S3Error, ServerError


class StorageError(RuntimeError):
    """The store refused a request for a reason retrying will not cure (for example access denied)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class StorageUnavailable(StorageError):
    """The S3 server could not be reached or answered with a server error: try again later."""


class ObjectMissing(StorageError):
    """The object (or multipart upload) asked for is not in the store."""


class StorageNotConfigured(StorageError):
    """No S3 endpoint is known (embedded mode outside ``sdx run``, or a missing SDX_S3_ENDPOINT)."""


#: S3 error codes meaning the store is down or overloaded, not that the request was wrong.
UNAVAILABLE_CODES = frozenset({"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout"})
#: S3 error codes meaning the named object, bucket or upload does not exist (servers differ in which they use).
MISSING_CODES = frozenset({"NoSuchKey", "NoSuchObject", "ResourceNotFound", "NoSuchUpload"})


@contextmanager
def translated() -> Iterator[None]:
    """Run S3 calls; the SDK's and the HTTP stack's exceptions leave as the classes above."""
    try:
        yield
    except S3Error as exc:
        if exc.code in MISSING_CODES:
            raise ObjectMissing(str(exc), exc.code) from exc
        kind = StorageUnavailable if exc.code in UNAVAILABLE_CODES else StorageError
        raise kind(str(exc), exc.code) from exc
    except (ServerError, urllib3.exceptions.HTTPError, OSError) as exc:
        raise StorageUnavailable(str(exc)) from exc
    except MinioException as exc:  # an answer that is not S3's (for example a proxy's error page)
        raise StorageError(str(exc)) from exc
