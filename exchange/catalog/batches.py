"""Writes of many items of one collection in one unit of work: the bulk route (insert or upsert, each
item written or reported on its own), the all-or-nothing POST of a FeatureCollection and the
console import (an upsert).

Items are validated as they are written, so the database works on the first ones while the next
are checked (bulk.py). New items are drafts and replaced ones keep their status, unless the
platform itself (the console import) sets one. Existing ids are found by the unique index as the
rows are written, never asked for beforehand (see bulk.py) — except the few items sent back with
SDX's own download URLs in them, whose stored hrefs are looked up to be kept (see rendered.py).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from exchange.policy import Identity, require
from exchange.catalog import properties
from exchange.catalog.bulk import write_items
from exchange.catalog.models import Collection, Item, ItemStatus
from exchange.catalog.rendered import download_target, platform_roots
from exchange.catalog.stac import InvalidItem, shown, stored_document
from exchange.catalog.service import collection_for_write
from exchange.catalog.transactions import checked_item
from exchange.core.db import db, unit_of_work
from exchange.core.problems import Conflict, ValidationProblem

METHODS = ("insert", "upsert")


@dataclass
class BulkResult:
    written: int = 0
    failures: list[tuple[str, list[dict]]] = field(default_factory=list)  # (item id or position, errors)
    existing: list[str] = field(default_factory=list)  # ids not written because they exist (insert)


def _stored_assets(collection_id: str, docs: list) -> dict[str, dict]:
    """The stored assets of the items sent back with SDX's download URLs in them, by item id."""
    roots = platform_roots()
    ids = {doc["id"] for doc in docs if isinstance(doc, dict) and isinstance(doc.get("id"), str)
           and isinstance(doc.get("assets"), dict)
           and any(isinstance(a, dict) and download_target(a.get("href"), roots) for a in doc["assets"].values())}
    if not ids:
        return {}
    rows = db.session.execute(select(Item.item_id, Item.data).where(Item.collection_id == collection_id,
                                                                    Item.item_id.in_(ids)))
    return {item_id: data.get("assets") or {} for item_id, data in rows}


def _write(collection: Collection, docs: list, *, insert: bool, status: ItemStatus | None, repair: bool,
           label: Callable[[int, object], str], refile: bool = False) -> BulkResult:
    """Validate and write ``docs`` in the current transaction. Upsert: an id given more than once
    counts once, its last valid document wins. Insert: the first wins, the others are reported. An
    item naming another collection is refused, as on a single write, unless ``refile`` (the console
    import, told which collection to load into)."""
    result = BulkResult()
    carried: set[tuple[str, str]] = set()  # what the batch's items carry, for the queryables summary
    stored = None if insert else _stored_assets(collection.id, docs)
    occurrences = Counter(doc["id"] for doc in docs if isinstance(doc, dict) and isinstance(doc.get("id"), str))

    def rows() -> Iterator[dict]:
        repeated, seen = {}, set()  # upsert: ids given more than once, written at the end
        for offset, doc in enumerate(docs):
            item_id = doc.get("id") if isinstance(doc, dict) else None
            if not refile and isinstance(doc, dict) and doc.get("collection") not in (None, collection.id):
                result.failures.append((label(offset, doc), [{"field": "/collection", "message": (
                    f"is {shown(doc['collection'])} but the item is sent to {collection.id!r}")}]))
                continue
            try:
                promoted, doc = checked_item(doc, collection.id, None if stored is None else
                                             lambda: stored.get(item_id), repair=repair)
            except InvalidItem as exc:
                result.failures.append((label(offset, doc), exc.errors))
                continue
            row = dict(promoted.columns(), collection_id=collection.id, status=status or ItemStatus.draft,
                       data=stored_document(doc, collection.id, promoted),
                       provider_org_id=collection.owner_org_id)
            carried.update(properties.carried(row["data"].get("properties")))
            if insert and promoted.item_id in seen:
                result.failures.append((label(offset, doc), [{"field": "/id", "message": "repeats the id of an "
                                                              "earlier item of this request"}]))
            elif not insert and occurrences[promoted.item_id] > 1:
                repeated[promoted.item_id] = row
            else:
                seen.add(promoted.item_id)
                yield row
        yield from repeated.values()

    written = write_items(rows(), replace=not insert, keep_status=status is None)
    properties.record(collection.id, carried)
    result.written, result.existing = written.count, written.refused
    return result


def _in_one_transaction(write: Callable[[], BulkResult]) -> BulkResult:
    """``write`` in one unit of work, run again if a request running at the same moment inserted one
    of its ids between the lookup and the insert (SQLite; PostgreSQL's unique index settles it in
    place): the next run sees that item as existing."""
    for _ in range(3):
        try:
            with unit_of_work():
                return write()
        except IntegrityError as exc:
            if not _unique_violation(exc):  # a collection deleted meanwhile, say: not a race to retry
                raise Conflict("The items could not be written as the collection changed meanwhile; nothing "
                               "was written. Send the request again.") from None
    raise Conflict("Other requests kept writing the same items at the same moment; nothing was written. "
                   "Send the request again.")


def _unique_violation(exc: IntegrityError) -> bool:
    orig = exc.orig
    return getattr(orig, "sqlstate", None) == "23505" or "UNIQUE constraint failed" in str(orig)


def bulk_write(identity: Identity, collection_id: str, docs: list, *, method: str,
               status: ItemStatus | None = None, positions: Sequence[int] | None = None, repair: bool = False,
               refile: bool = False) -> BulkResult:
    """Insert (``method`` "insert": an existing id is reported, not replaced) or insert and replace
    ("upsert") many items; every item that cannot be written is reported with its errors, by its id
    or else as ``#n``: its place in the request, or in the import file (``positions``)."""
    if method not in METHODS:  # never a silent upsert for a method nobody meant
        raise ValidationProblem("The bulk request is invalid; see errors.", errors=[
            {"field": "/method", "message": f"must be one of {', '.join(METHODS)}"}])
    collection = collection_for_write(identity, collection_id)
    if status is not None:
        require(identity, "catalog:set-status", collection)

    def label(offset: int, doc: object) -> str:
        item_id = doc.get("id") if isinstance(doc, dict) else None
        return item_id if isinstance(item_id, str) else f"#{positions[offset] if positions else offset + 1}"

    result = _in_one_transaction(lambda: _write(collection, docs, insert=method == "insert", status=status,
                                                repair=repair, label=label, refile=refile))
    for item_id in result.existing:
        result.failures.append((item_id, [{"field": "/id", "message": f"item {item_id!r} already exists in "
                                           f"{collection_id!r}; use the method upsert to replace it"}]))
    return result


def bulk_upsert(identity: Identity, collection_id: str, docs: list, **options) -> BulkResult:
    """The console import and the benchmark: insert or replace, into ``collection_id`` whatever
    collection the items name (see ``bulk_write``)."""
    return bulk_write(identity, collection_id, docs, method="upsert", refile=True, **options)


def create_items(identity: Identity, collection_id: str, features: object, *, repair: bool = False) -> int:
    """A posted FeatureCollection: every item new and valid is written, else nothing (422 with every
    invalid item's errors, else 409 naming the ids that exist). Returns how many were created."""
    collection = collection_for_write(identity, collection_id)
    if not isinstance(features, list) or not features:
        raise ValidationProblem("The FeatureCollection is invalid; see errors.", errors=[
            {"field": "/features", "message": "must be a non-empty array of items"}])

    def write_all() -> BulkResult:  # a refusal raised inside rolls back whatever was written
        result = _write(collection, features, insert=True, status=None, repair=repair,
                        label=lambda offset, doc: f"/features/{offset}")
        errors = [dict(e, field=prefix + e["field"]) for prefix, item_errors in result.failures for e in item_errors]
        if errors:
            raise ValidationProblem("Some items are invalid; nothing was written. See errors.", errors=errors)
        if result.existing:
            raise Conflict(f"{len(result.existing)} of the items exist already ({', '.join(result.existing[:10])}"
                           f"{', …' if len(result.existing) > 10 else ''}); nothing was written. POST to "
                           f"/stac/collections/{collection_id}/bulk_items with method upsert to replace them.",
                           existing=result.existing)
        return result

    return _in_one_transaction(write_all).written
