"""Catalogue writes (the STAC transaction extension and bulk import), for providers on what their
organisation owns. Every write asks ``decide`` first and runs in one unit of work; a bulk load
validates each item on its own, writes the good ones and reports every bad one with its reasons.
"""
from __future__ import annotations

import copy
import uuid
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select

from auth.policy import Identity, require
from exchange.catalog.bulk import upsert_items
from exchange.catalog.models import Collection, Item, ItemStatus
from exchange.catalog.stac import STAC_VERSION, InvalidItem, stored_document, validate_item
from exchange.catalog.validation import check_extent
from exchange.core.db import db, unit_of_work
from exchange.core.problems import Conflict, NotFound, ValidationProblem

WRITABLE_STATUSES = {ItemStatus.draft.value, ItemStatus.published.value, ItemStatus.withdrawn.value}


def _invalid(reasons: list[str | dict]) -> ValidationProblem:
    return ValidationProblem("The STAC document is invalid; see errors.",
                             errors=[r if isinstance(r, dict) else {"field": None, "message": r} for r in reasons])


def validate_collection(doc: object, collection_id: str | None = None) -> dict:
    if not isinstance(doc, dict):
        raise _invalid(["a collection must be a JSON object"])
    reasons = []
    cid = doc.get("id")
    if not isinstance(cid, str) or not cid.strip() or "/" in cid or len(cid) > 255:
        reasons.append('"id" must be a non-empty string without "/"')
    elif collection_id is not None and cid != collection_id:
        reasons.append(f'"id" {cid!r} does not match the URL ({collection_id!r})')
    if not isinstance(doc.get("description", ""), str):
        reasons.append({"field": "/description", "message": "must be a string"})
    if "extent" in doc:
        check_extent(doc["extent"], reasons)
    if reasons:
        raise _invalid(reasons)
    stored = copy.deepcopy(doc)
    stored["type"] = "Collection"
    stored.setdefault("stac_version", STAC_VERSION)
    stored.setdefault("description", "")
    stored.setdefault("license", "proprietary")
    stored.setdefault("extent", {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}})
    stored["links"] = [link for link in stored.get("links", []) if isinstance(link, dict)
                       and link.get("rel") not in {"self", "root", "parent", "items"}]
    return stored


def create_collection(identity: Identity, doc: dict, *, owner_org_id: uuid.UUID | None = None) -> Collection:
    require(identity, "catalog:create-collection")
    stored = validate_collection(doc)
    if db.session.get(Collection, stored["id"]) is not None:
        raise Conflict(f"A collection {stored['id']!r} already exists.")
    with unit_of_work() as uow:
        collection = Collection(id=stored["id"], owner_org_id=owner_org_id or identity.org_id,
                                title=stored.get("title"), data=stored)
        uow.add(collection)
    return collection


def _collection_for_write(identity: Identity, collection_id: str) -> Collection:
    collection = db.session.get(Collection, collection_id)
    if collection is None:
        raise NotFound(f"No collection {collection_id!r}.")
    require(identity, "catalog:write-collection", collection)
    return collection


def update_collection(identity: Identity, collection_id: str, doc: dict) -> Collection:
    collection = _collection_for_write(identity, collection_id)
    stored = validate_collection(doc, collection_id)
    with unit_of_work():
        collection.data = stored
        collection.title = stored.get("title")
    return collection


def delete_collection(identity: Identity, collection_id: str) -> None:
    collection = _collection_for_write(identity, collection_id)
    if db.session.scalar(select(Item.key).where(Item.collection_id == collection_id).limit(1)) is not None:
        raise Conflict(f"Collection {collection_id!r} still holds items; delete or move them first.")
    with unit_of_work():
        db.session.delete(collection)


def _status_of(doc: dict, default: ItemStatus) -> ItemStatus:
    value = (doc.get("properties") or {}).get("sdx:status", default.value)
    if value not in WRITABLE_STATUSES:
        raise _invalid([f'"properties.sdx:status" must be one of {", ".join(sorted(WRITABLE_STATUSES))}'])
    return ItemStatus(value)


def _check_collection_field(doc: dict, collection_id: str) -> None:
    stated = doc.get("collection") if isinstance(doc, dict) else None
    if stated is not None and stated != collection_id:
        raise _invalid([{"field": "/collection",
                         "message": f"is {stated!r} but the item is sent to {collection_id!r}"}])


def create_item(identity: Identity, collection_id: str, doc: dict, *, repair: bool = False) -> Item:
    collection = _collection_for_write(identity, collection_id)
    _check_collection_field(doc, collection_id)
    try:
        promoted = validate_item(doc, repair=repair)
    except InvalidItem as exc:
        raise _invalid(exc.errors) from None
    status = _status_of(doc, ItemStatus.published)
    if db.session.scalar(select(Item.key).where(Item.collection_id == collection_id,
                                                Item.item_id == promoted.item_id)) is not None:
        raise Conflict(f"Item {promoted.item_id!r} already exists in {collection_id!r}; use PUT to replace it.")
    with unit_of_work() as uow:
        item = Item(collection_id=collection.id, provider_org_id=collection.owner_org_id, status=status,
                    data=stored_document({**doc, **promoted.amend}, collection_id), **promoted.columns())
        uow.add(item)
    return item


def _item_for_write(identity: Identity, collection_id: str, item_id: str) -> Item:
    item = db.session.scalar(select(Item).where(Item.collection_id == collection_id, Item.item_id == item_id))
    if item is None:
        raise NotFound(f"No item {item_id!r} in collection {collection_id!r}.")
    require(identity, "catalog:write-item", item)
    return item


def replace_item(identity: Identity, collection_id: str, item_id: str, doc: dict, *, repair: bool = False) -> Item:
    item = _item_for_write(identity, collection_id, item_id)
    _check_collection_field(doc, collection_id)
    if isinstance(doc, dict) and doc.get("id") not in (None, item_id):
        raise _invalid([f'"id" {doc.get("id")!r} does not match the URL ({item_id!r})'])
    doc = {**doc, "id": item_id} if isinstance(doc, dict) else doc
    try:
        promoted = validate_item(doc, repair=repair)
    except InvalidItem as exc:
        raise _invalid(exc.errors) from None
    status = _status_of(doc, item.status)
    with unit_of_work():
        for name, value in promoted.columns().items():
            setattr(item, name, value)
        item.status = status
        item.data = stored_document({**doc, **promoted.amend}, collection_id)
    return item


def merge_patch(target: dict, patch: dict) -> dict:
    """RFC 7396 JSON merge patch."""
    result = copy.deepcopy(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge_patch(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def patch_item(identity: Identity, collection_id: str, item_id: str, patch: dict, *, repair: bool = False) -> Item:
    item = _item_for_write(identity, collection_id, item_id)
    current = copy.deepcopy(item.data)
    current.setdefault("properties", {})["sdx:status"] = item.status.value
    return replace_item(identity, collection_id, item_id, merge_patch(current, patch), repair=repair)


def delete_item(identity: Identity, collection_id: str, item_id: str) -> None:
    """Delete an item; once committed, its uploaded files leave the store too."""
    from exchange.ingest.pipeline import thumbnail_object
    from exchange.ingest.service import delete_product_records, files_of_product, remove_files

    item = _item_for_write(identity, collection_id, item_id)
    files = files_of_product(item)
    with unit_of_work() as uow:
        delete_product_records(item)
        db.session.delete(item)
        uow.after_commit(remove_files, files, thumbnail_object(item))


@dataclass
class BulkResult:
    written: int = 0
    failures: list[tuple[str, list[dict]]] = field(default_factory=list)  # (item id or position, errors)


def bulk_upsert(identity: Identity, collection_id: str, docs: list[dict], *, status: ItemStatus,
                first_position: int = 0, repair: bool = False) -> BulkResult:
    """Insert or replace many items of one collection in one unit of work; bad ones are reported.

    Items are validated as they are written, so the database works on the first ones while the
    next are checked. An id given more than once counts once: its last valid document wins."""
    collection = _collection_for_write(identity, collection_id)
    result = BulkResult()
    occurrences = Counter(doc["id"] for doc in docs if isinstance(doc, dict) and isinstance(doc.get("id"), str))

    def rows():
        repeated = {}  # ids given more than once: written at the end, the last valid document
        for offset, doc in enumerate(docs):
            label = doc.get("id") if isinstance(doc, dict) and isinstance(doc.get("id"), str) else \
                f"#{first_position + offset + 1}"
            try:
                promoted = validate_item(doc, repair=repair)
            except InvalidItem as exc:
                result.failures.append((label, exc.errors))
                continue
            row = dict(promoted.columns(), collection_id=collection.id, status=status,
                       data=stored_document({**doc, **promoted.amend} if promoted.amend else doc, collection_id),
                       provider_org_id=collection.owner_org_id)
            if occurrences[promoted.item_id] > 1:
                repeated[promoted.item_id] = row
            else:
                yield row
        yield from repeated.values()

    with unit_of_work():
        result.written = upsert_items(rows())
    return result
