"""Catalogue writes (the STAC transaction extension), for providers on what their organisation owns.
Every write asks ``decide`` first and runs in one unit of work. Writes of many items: batches.py.
"""
from __future__ import annotations

import copy
import uuid
from collections.abc import Callable

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from exchange.policy import Identity, decide, require
from exchange.catalog import hooks, properties
from exchange.catalog.models import Collection, CollectionProperty, Item, ItemStatus, PropertyIndex
from exchange.catalog.property_indexes import enqueue_drop
from exchange.catalog.rendered import restore_stored_hrefs
from exchange.catalog.service import collection_for_write
from exchange.catalog.stac import ID_RULE, STAC_VERSION, InvalidItem, Promoted, href_problems, shown, \
    full_document, stored_document, valid_id, validate_item
from exchange.catalog.validation import check_extent, error
from exchange.core.db import db, unit_of_work
from exchange.core.problems import Conflict, NotFound, ValidationProblem


#: A collection id is the first segment of its products' object keys: none may look like the
#: platform's own prefixes (quarantined copies, previews).
RESERVED_COLLECTION_IDS = {"quarantine", "thumbnails"}


def _invalid(errors: list[dict]) -> ValidationProblem:
    """Every error of a document, each ``{"field": JSON pointer, "message"}``."""
    return ValidationProblem("The STAC document is invalid; see errors.", errors=errors)


def validate_collection(doc: object, collection_id: str | None = None) -> dict:
    if not isinstance(doc, dict):
        raise _invalid([error("", "a collection must be a JSON object")])
    errors = []
    cid = doc.get("id")
    if not valid_id(cid):
        errors.append(error("/id", f"must be {ID_RULE}"))
    elif cid.lower() in RESERVED_COLLECTION_IDS:
        errors.append(error("/id", f"{cid!r} is reserved (the store keeps its own objects under that prefix)"))
    elif collection_id is not None and cid != collection_id:
        errors.append(error("/id", f"{cid!r} does not match the URL ({collection_id!r})"))
    if not isinstance(doc.get("description", ""), str):
        errors.append(error("/description", "must be a string"))
    if "extent" in doc:
        check_extent(doc["extent"], errors)
    if "assets" in doc and not isinstance(doc["assets"], dict):
        errors.append(error("/assets", "must be an object"))
    if "links" in doc and not isinstance(doc["links"], list):
        errors.append(error("/links", "must be an array"))
    errors += href_problems(doc, files=False)
    if errors:
        raise _invalid(errors)
    stored = {k: copy.deepcopy(v) for k, v in doc.items() if not k.startswith("sdx:")}  # sdx:owner is ours
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
    exists = Conflict(f"A collection {stored['id']!r} already exists.")
    if db.session.get(Collection, stored["id"]) is not None:
        raise exists
    try:
        with unit_of_work() as uow:
            collection = Collection(id=stored["id"], owner_org_id=owner_org_id or identity.org_id,
                                    title=stored.get("title"), data=stored)
            uow.add(collection)
    except IntegrityError:  # the same id created by a request running at the same moment
        raise exists from None
    return collection


def update_collection(identity: Identity, collection_id: str, doc: dict) -> Collection:
    collection = collection_for_write(identity, collection_id)
    stored = validate_collection(doc, collection_id)
    with unit_of_work():
        collection.data = stored
        collection.title = stored.get("title")
    return collection


def delete_collection(identity: Identity, collection_id: str) -> None:
    collection = collection_for_write(identity, collection_id)
    if db.session.scalar(select(Item.key).where(Item.collection_id == collection_id).limit(1)) is not None:
        raise Conflict(f"Collection {collection_id!r} still holds items; delete or move them first.")
    indexes = list(db.session.scalars(select(PropertyIndex).where(PropertyIndex.collection_id == collection_id)))
    with unit_of_work() as uow:
        # SQLite does not enforce the foreign keys' ON DELETE CASCADE: the summary and indexes go by hand
        db.session.execute(delete(CollectionProperty).where(CollectionProperty.collection_id == collection_id))
        for index in indexes:
            db.session.delete(index)
            uow.after_commit(enqueue_drop, index.index_name)
        db.session.delete(collection)


def checked_item(doc: object, collection_id: str, stored: Callable[[], dict] | None = None,
                 uploaded: set[str] = frozenset(), *, repair: bool = False) -> tuple[Promoted, dict]:
    """An item document a provider sent, checked (the core rules plus what a provider may write in
    hrefs), and the document to keep: its own rendered download URLs hold the stored hrefs again
    (see rendered.py; ``stored`` gives the stored assets, None on create). Assets whose file SDX
    holds (``uploaded``) keep the href the platform wrote (see ``_keep_platform_hrefs``)."""
    errors, restored = [], set()
    if isinstance(doc, dict):
        doc, restored, errors = restore_stored_hrefs(doc, collection_id, stored)
    try:
        promoted = validate_item(doc, repair=repair)
    except InvalidItem as exc:
        errors, promoted = exc.errors + errors, None
    if isinstance(doc, dict):  # an href error inside a field already refused would say it twice
        errors += [e for e in href_problems(doc, platform_assets=uploaded | restored)
                   if not any(e["field"] == f["field"] or e["field"].startswith(f["field"] + "/") for f in errors)]
    if errors:
        raise InvalidItem(errors)
    return promoted, doc


def _keep_platform_hrefs(doc: dict, item: Item, uploaded: set[str]) -> dict:
    """The document with the platform's href for every asset whose file SDX holds: a provider's href
    never replaces the record of where the platform put the bytes."""
    stored = item.data.get("assets") or {}
    assets = doc.get("assets")
    if not uploaded or not isinstance(assets, dict):
        return doc
    kept = {key: dict(asset, href=stored[key]["href"]) if key in uploaded and key in stored
            and isinstance(asset, dict) else asset for key, asset in assets.items()}
    return {**doc, "assets": kept}


def _uploaded_keys(item: Item) -> set[str]:
    """Assets of the item whose file SDX holds and whose href the stored document already records."""
    stored = item.data.get("assets") or {}
    return {key for keys in hooks.all_answers(hooks.stored_asset_keys, item) for key in keys if key in stored}


def _check_url_fields(doc: dict, collection_id: str, item_id: str | None = None) -> None:
    """An item's ``collection`` (and on PUT its ``id``) may be left out but may not contradict the URL:
    a 400 naming each, as the transaction extension asks, before anything else is checked."""
    if not isinstance(doc, dict):
        return
    errors = []
    if doc.get("collection") not in (None, collection_id):
        errors.append(error("/collection", f"is {shown(doc['collection'])} but the item is sent to {collection_id!r}"))
    if item_id is not None and doc.get("id") not in (None, item_id):
        errors.append(error("/id", f"{shown(doc['id'])} does not match the URL ({item_id!r})"))
    if errors:
        raise ValidationProblem("The item does not match the URL it is sent to; see errors.", status=400,
                                title="Bad request", errors=errors)


def create_item(identity: Identity, collection_id: str, doc: dict, *, repair: bool = False) -> Item:
    collection = collection_for_write(identity, collection_id)
    _check_url_fields(doc, collection_id)
    try:
        promoted, doc = checked_item(doc, collection_id, repair=repair)
    except InvalidItem as exc:
        raise _invalid(exc.errors) from None
    exists = Conflict(f"Item {promoted.item_id!r} already exists in {collection_id!r}; use PUT to replace it.")
    if db.session.scalar(select(Item.key).where(Item.collection_id == collection_id,
                                                Item.item_id == promoted.item_id)) is not None:
        raise exists
    try:
        with unit_of_work() as uow:
            item = Item(collection_id=collection.id, provider_org_id=collection.owner_org_id, status=ItemStatus.draft,
                        data=stored_document(doc, collection_id, promoted), **promoted.columns())
            uow.add(item)
            properties.record(collection_id, properties.carried(item.data.get("properties")))
    except IntegrityError:  # the same id created by a request running at the same moment
        raise exists from None
    return item


def _item_for_write(identity: Identity, collection_id: str, item_id: str) -> Item:
    """The item, if the caller may see it (else 404, as if absent) and change it (else 403)."""
    item = db.session.scalar(select(Item).where(Item.collection_id == collection_id, Item.item_id == item_id))
    if item is None or not decide(identity, "item:read", item):
        raise NotFound(f"No item {item_id!r} in collection {collection_id!r}.")
    require(identity, "catalog:write-item", item)
    return item


def replace_item(identity: Identity, collection_id: str, item_id: str, doc: dict, *, repair: bool = False) -> Item:
    item = _item_for_write(identity, collection_id, item_id)
    _check_url_fields(doc, collection_id, item_id)
    uploaded = _uploaded_keys(item)
    doc = {**doc, "id": item_id} if isinstance(doc, dict) else doc
    try:
        promoted, doc = checked_item(doc, collection_id, lambda: item.data.get("assets"), uploaded, repair=repair)
    except InvalidItem as exc:
        raise _invalid(exc.errors) from None
    doc = _keep_platform_hrefs(doc, item, uploaded)
    with unit_of_work():  # the status stays: it changes only through the product lifecycle
        for name, value in promoted.columns().items():
            setattr(item, name, value)
        item.data = stored_document(doc, collection_id, promoted)
        properties.record(collection_id, properties.carried(item.data.get("properties")))
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
    return replace_item(identity, collection_id, item_id, merge_patch(full_document(item), patch), repair=repair)


def delete_item(identity: Identity, collection_id: str, item_id: str) -> None:
    """Delete an item; what other domains keep for it goes in the same commit (``hooks.item_deleting``),
    and its uploaded files leave the store once committed."""
    item = _item_for_write(identity, collection_id, item_id)
    with unit_of_work() as uow:
        hooks.item_deleting.send(item, uow=uow)
        db.session.delete(item)
