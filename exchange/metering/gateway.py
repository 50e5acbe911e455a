"""The download gateway: a stored file of a product, whole or one byte range, streamed from S3
through the platform and metered.

A data file (an asset with the role "data") goes to whoever ``asset:download`` allows — the
product's own organisation and admins (metered, no allowance), a member of an organisation holding
a usable licence (metered against it) — with a token holding ``data:download`` (the provider's and
admins' ``catalog:write`` tokens also do for what they may download). Any other file the
product stores (metadata, previews…) goes to whoever may read the item (``catalog:read`` or
``data:download``, or anonymously for a published item): metered, drawing on no allowance.

A GET of a data file holds its bytes (``quotas.grant_download``) before the first byte, reports
progress while streaming (``quotas.heartbeat``) and settles what was actually sent when the
response ends however it ends (``quotas.settle``). Answers without a body (HEAD, 304, 416) and
refusals are metered too.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, replace
from typing import Iterator

from sqlalchemy import or_, select

from exchange.catalog.models import Item
from exchange.catalog.service import get_item
from exchange.core.db import db, utcnow
from exchange.core.problems import Conflict, NotFound, Problem
from exchange.ingest.models import AssetState, ProductAsset
from exchange.licensing.models import Entitlement, EntitlementStatus
from exchange.metering import quotas
from exchange.metering.quotas import Allowance, Hold, RequestMeta
from exchange.metering.refusals import DownloadRefused, refusal_of
from exchange.metering.ranges import ByteRange, Unsatisfiable, not_modified, requested_range, strong_etag
from exchange.policy import Identity, decide
from exchange.sharing import duties
from storage import transfers
from storage.errors import StorageError, StorageUnavailable
from storage.objectstore import get_store

#: Bytes read from S3 and written to the client at a time: big enough to run at S3's pace.
CHUNK = transfers.MIB
#: How often a stream tells the meter it is alive (whichever comes first). Each heartbeat is a commit
#: (~4 ms on PostgreSQL): every 8 MiB cost a fast stream about a quarter of its time (bench/download.py).
HEARTBEAT_BYTES = 64 * transfers.MIB
HEARTBEAT_SECONDS = 5.0
#: Status recorded for a response the client stopped reading (nginx's "client closed request").
CLIENT_GONE = 499
#: Status recorded for a response cut because its client stalled until the reaper released its hold.
STALLED = 408


class RangeNotSatisfiable(Problem):
    status = 416
    title = "Range not satisfiable"


class BadGateway(Problem):
    status = 502
    title = "Bad gateway"


class AuthenticationNeeded(Problem):
    status = 401
    title = "Unauthorized"


@dataclass(frozen=True)
class Wanted:
    """What the request asks for, besides the file: method, conditional and range headers, meter data."""

    meta: RequestMeta
    range: str | None = None
    if_range: str | None = None
    if_none_match: str | None = None

    @property
    def head(self) -> bool:
        return self.meta.method == "HEAD"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Iterator[bytes] | None = None


def download(identity: Identity, collection_id: str, item_id: str, key: str, wanted: Wanted) -> Answer:
    """The answer to a GET or HEAD of a stored file: 200/206 (with a body to stream for a GET), 304,
    or a problem (404 unseen item or no such file, 409 not ready, 401/403/429 refused, 416) that
    carries the file's validators."""
    item = get_item(identity, collection_id, item_id)
    asset = db.session.scalar(select(ProductAsset).where(ProductAsset.item_key == item.key,
                                                         ProductAsset.asset_key == key))
    if asset is None:
        raise NotFound(f"Item {item_id!r} holds no file {key!r} on SDX; an external asset's link is in the item.")
    ready = asset.state is AssetState.ready
    etag, item_key = strong_etag(asset.sha256) if ready else None, item.key
    validators = {"Accept-Ranges": "bytes", **({"ETag": etag} if ready else {}), "Cache-Control": "private, no-store"}
    try:
        return _answer(identity, item, asset, wanted, etag, validators)
    except Problem as problem:
        problem.headers = {**validators, **_used_up(problem, identity, item_key, key), **problem.headers}
        raise


#: Refusals after which the licence's (empty) allowance is worth showing.
USED_UP = ("bytes-used-up", "downloads-used-up")


def _used_up(problem: Problem, identity: Identity, item_key: int, asset_key: str) -> dict[str, str]:
    """The allowance headers of a "used up" refusal that does not carry them (the decision refused
    before any licence was drawn on): the organisation's licence in force that ends last (of the
    token's licences, for a licence-scoped token)."""
    if problem.extra.get("rule") not in USED_UP or identity.org_id is None:
        return {}
    now = utcnow()
    query = select(Entitlement).where(
        Entitlement.org_id == identity.org_id, Entitlement.item_key == item_key,
        Entitlement.status == EntitlementStatus.active, Entitlement.valid_from <= now,
        or_(Entitlement.valid_until.is_(None), Entitlement.valid_until > now))
    if identity.license_ids is not None:
        query = query.where(Entitlement.id.in_(identity.license_ids))
    licence = db.session.scalar(
        query.order_by(Entitlement.valid_until.is_(None).desc(), Entitlement.valid_until.desc()).limit(1))
    return quotas.allowance_for(licence, asset_key).headers()


def _answer(identity: Identity, item: Item, asset: ProductAsset, wanted: Wanted, etag: str | None,
            validators: dict[str, str]) -> Answer:
    file_headers = {**validators, "Content-Type": transfers.download_media_type(asset.media_type),
                    "Content-Disposition": transfers.content_disposition(asset.filename),
                    **duties.header(identity, item)}  # the attribution the sharing policies ask
    meta = wanted.meta
    if asset.is_data:
        _check_token(identity, item, asset, meta)
    elif not (identity.anonymous or identity.has_scope("catalog:read") or identity.has_scope("data:download")):
        quotas.record_refusal(identity, item, asset.asset_key, status=403, rule="scope", meta=meta)
        raise DownloadRefused("This token holds neither catalog:read nor data:download.", "scope")
    if asset.state is not AssetState.ready:
        _allowance(identity, item, asset, meta)  # refused first: who may not download learns nothing of the file
        raise Conflict(f"Asset {asset.asset_key!r} is {asset.state.value}, not ready for download.",
                       state=asset.state.value)
    try:
        byte_range = requested_range(wanted.range, wanted.if_range, etag, asset.size)
    except Unsatisfiable:
        byte_range = None
        unsatisfiable = True
    else:
        unsatisfiable = False
        if byte_range is not None:
            meta = replace(meta, range_start=byte_range.start, range_end=byte_range.end)
    status = 206 if byte_range else 200
    length = byte_range.length if byte_range else asset.size
    fresh = not_modified(wanted.if_none_match, etag)  # RFC 9110 §13.2.2: before Range, for GET and HEAD
    if fresh or unsatisfiable or wanted.head:
        allowance = _allowance(identity, item, asset, meta)
        if fresh:
            status, length, byte_range = 304, None, None
        elif unsatisfiable:
            quotas.record_answer(identity, item, asset.asset_key, status=416, meta=meta,
                                 entitlement_id=allowance.license_id)
            raise RangeNotSatisfiable(f"File {asset.asset_key!r} has {asset.size} bytes; the range asks for none.",
                                      headers={"Content-Range": f"bytes */{asset.size}", **allowance.headers()})
        quotas.record_answer(identity, item, asset.asset_key, status=status, meta=meta,
                             entitlement_id=allowance.license_id)
        return Answer(status, {**file_headers, **_length(length, byte_range), **allowance.headers()})
    hold = quotas.grant_download(identity, item, asset, length, meta) if asset.is_data else None
    headers = {**file_headers, **_length(length, byte_range), **(hold.allowance.headers() if hold else {})}
    key = asset.asset_key
    end = _Ending(hold, identity, item.key, key, meta)
    try:
        store = get_store()
        chunks = transfers.stream_object(store, store.products_bucket, asset.object_key,
                                         byte_range.start if byte_range else 0, length, CHUNK) if length else iter(())
        first = next(chunks, b"")  # S3 answers before the status line does: its failure is a problem, not a cut 200
    except StorageError as exc:
        end(sent=0, status=503 if isinstance(exc, StorageUnavailable) else 502)
        if isinstance(exc, StorageUnavailable):
            raise
        raise BadGateway(f"The store could not give file {key!r}; nothing was charged.") from exc
    except BaseException:
        end(sent=0, status=500)  # whatever it was, the hold goes now, not when the reaper comes
        raise
    db.session.close()  # the stream holds no connection: heartbeats and the settlement open their own
    return Answer(status, headers, _stream(end, first, chunks, status))


def _length(length: int | None, byte_range: ByteRange | None) -> dict[str, str]:
    headers = {} if length is None else {"Content-Length": str(length)}
    if byte_range is not None and length is not None:
        headers["Content-Range"] = byte_range.content_range()
    return headers


def _check_token(identity: Identity, item: Item, asset: ProductAsset, meta: RequestMeta) -> None:
    """A data file needs a signed-in caller whose token holds data:download (refusals metered); a
    provider's or admin's catalog:write token also passes here, for the products ``asset:download``
    lets it manage. A licence is drawn on with data:download only (the licence grant's own test)."""
    if identity.anonymous:
        quotas.record_refusal(identity, item, asset.asset_key, status=401, rule="authentication", meta=meta)
        raise AuthenticationNeeded("Data files are downloaded with an access token holding data:download.",
                                   rule="authentication", headers={"WWW-Authenticate": 'Bearer realm="sdx"'})
    if not (identity.has_scope("data:download") or identity.has_scope("catalog:write")):
        quotas.record_refusal(identity, item, asset.asset_key, status=403, rule="scope", meta=meta)
        raise DownloadRefused("This token lacks the data:download scope that downloading data files needs.", "scope")


def _allowance(identity: Identity, item: Item, asset: ProductAsset, meta: RequestMeta) -> Allowance:
    """For an answer without a body: ask ``asset:download`` (a data file; refusals metered), and say
    what the licence drawn on has left."""
    if not asset.is_data:
        return Allowance()
    decision = decide(identity, "asset:download", item)
    if not decision:
        refusal = refusal_of(identity, item, decision)
        quotas.record_refusal(identity, item, asset.asset_key, status=403, rule=refusal.rule, meta=meta)
        raise refusal
    return quotas.allowance_for(quotas.licence_drawn_on(identity, item, decision), asset.asset_key)


@dataclass(frozen=True)
class _Ending:
    """How a response that sends a body is closed: its hold settled, or (no allowance drawn on) metered."""

    hold: Hold | None
    identity: Identity
    item_key: int
    asset_key: str
    meta: RequestMeta

    def __call__(self, *, sent: int, status: int) -> None:
        if self.hold is not None:
            quotas.settle(self.hold, bytes_sent=sent, status=status)
        else:
            quotas.record_answer(self.identity, db.session.get(Item, self.item_key), self.asset_key, status=status,
                                 meta=self.meta, bytes_sent=sent)
        db.session.close()


def _stream(end: _Ending, first: bytes, chunks: Iterator[bytes], status: int) -> Iterator[bytes]:
    """Yield the bytes from S3, counting those the client took (a block counts once the server asks
    for the next); heartbeat the hold; settle at the end, however it comes: complete, the client gone
    (GeneratorExit), S3 failing."""
    sent = reported = 0
    beat = time.monotonic()
    ended = 502  # S3 failed, unless the loop ends or the client leaves
    try:
        for block in itertools.chain((first,) if first else (), chunks):
            yield block
            sent += len(block)
            if end.hold is not None and (sent - reported >= HEARTBEAT_BYTES
                                         or time.monotonic() - beat >= HEARTBEAT_SECONDS):
                if not quotas.heartbeat(end.hold, sent):  # stalled past its reservation: reaped, so stop
                    ended = STALLED
                    return
                reported, beat = sent, time.monotonic()
        ended = status
    except GeneratorExit:
        ended = CLIENT_GONE
        raise
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
        end(sent=sent, status=ended)
