"""The catalogue's read side and its access gate: finding collections and items, and search.

Reads go through the policy decision point: ``decide(identity, "item:read", item)`` for one item,
the same rule's query form (``visible_items``, ``visible_collections``) for lists and search, so a
list never shows what a read would refuse. The catalogue keeps clearly named services rather than one:
this module reads (and hands writers the collection or product they may change); ``transactions``
writes one collection or item, ``batches`` many items, ``lifecycle`` publishes and withdraws, and
``property_indexes`` and ``assets`` serve their own routes. Each takes the acting identity first and
asks the policy here. The SQL of a search is in ``query`` (told what the caller may see, never
deciding it), the planner's part in ``planner``, the STAC documents in ``schemas``.
"""
from __future__ import annotations

from functools import partial

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from exchange.policy import Decision, Identity, decide, query_filter, require
from exchange.catalog import hooks, planner, properties, query
from exchange.catalog.models import Collection, Item
from exchange.catalog.ordering import order_of
from exchange.catalog.search import SearchRequest
from exchange.core.db import db
from exchange.core.problems import NotFound, ServiceUnavailable


def visible_items(identity: Identity):
    """The items a caller may discover: the query form of the "item:read" rule."""
    return query_filter(identity, "item:read", Item)


# -- collections -------------------------------------------------------------------------------------
def visible_collections(identity: Identity):
    """The collections a caller may discover: those holding a published item, plus a provider's own
    (admins: all). One rule for lists and for reads by id, so a listing never shows what a read
    hides: the query form of the "collection:read" rule."""
    return query_filter(identity, "collection:read", Collection)


def list_collections(identity: Identity) -> list[Collection]:
    return list(db.session.scalars(select(Collection).where(visible_collections(identity)).order_by(Collection.id)))


def find_collection(identity: Identity, collection_id: str) -> Collection | None:
    """The collection if the caller may see it, else None (absent and hidden read the same)."""
    return db.session.scalar(select(Collection).where(Collection.id == collection_id,
                                                      visible_collections(identity)))


def get_collection(identity: Identity, collection_id: str) -> Collection:
    collection = find_collection(identity, collection_id)
    if collection is None:
        raise NotFound(f"No collection {collection_id!r}.")
    return collection


def collection_for_write(identity: Identity, collection_id: str) -> Collection:
    """The collection, if the caller may see it (else 404, as if absent) and write to it (else 403)."""
    collection = find_collection(identity, collection_id)
    if collection is None:
        raise NotFound(f"No collection {collection_id!r}.")
    require(identity, "catalog:write-collection", collection)
    return collection


# -- items ---------------------------------------------------------------------------------------------
def get_item(identity: Identity, collection_id: str, item_id: str) -> Item:
    item = db.session.scalar(select(Item).where(Item.collection_id == collection_id, Item.item_id == item_id))
    if item is None or not decide(identity, "item:read", item):
        raise NotFound(f"No item {item_id!r} in collection {collection_id!r}.")  # hidden reads as absent
    return item


def withheld_footprints(identity: Identity, rows: list[Item]) -> dict[int, Decision]:
    """Which of ``rows`` (read through "item:read") the caller may see only coarsened, with the
    refusal that says why: one answer for a whole page, from the rule sets answering
    ``hooks.footprints_withheld`` (the sharing policies' "view_footprint")."""
    withheld: dict[int, Decision] = {}
    for answer in hooks.all_answers(hooks.footprints_withheld, rows, identity=identity) if rows else ():
        withheld.update(answer or {})
    return withheld


def product_for(identity: Identity, product_id: int, action: str) -> Item:
    """A product by its id, if the caller may see it (else 404, as if absent) and ``action`` it (else 403)."""
    # A product id is a BIGINT key: a bigger number names nothing (and would overflow the query).
    item = db.session.get(Item, product_id) if 0 < product_id < 2 ** 63 else None
    if item is None or not decide(identity, "item:read", item):
        raise NotFound(f"No product {product_id}.")
    require(identity, action, item)
    return item


def _scope(identity: Identity, collection_id: str | None):
    """The collections whose items' properties a caller may name: the one it is in, or every visible one."""
    return [collection_id] if collection_id else select(Collection.id).where(visible_collections(identity))


def carried_properties(identity: Identity, collection_id: str | None = None) -> dict[str, set[str]]:
    """The properties (name -> JSON types) the items carry, of one collection the caller may see
    (else 404) or of every visible one: what the queryables documents list."""
    if collection_id is not None:
        get_collection(identity, collection_id)
    return properties.types_by_name(_scope(identity, collection_id))


#: PostgreSQL's SQLSTATE for a statement cancelled, here by statement_timeout.
QUERY_CANCELED = "57014"


def search(identity: Identity, request: SearchRequest, *, collection_id: str | None = None) -> query.Page:
    """A page of the items the caller may see that match ``request`` (in one collection, when given)."""
    planner.plan_each_search()
    try:
        scope = partial(_scope, identity, collection_id)  # asked only when a document property is named
        order = order_of(request, scope)
        found = query.conditions(request, order, visible=visible_items(identity), scope=scope,
                                 collection_id=collection_id)
        page = query.page(request, order, found)
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != QUERY_CANCELED:
            raise
        db.session.rollback()
        raise ServiceUnavailable("The search took too long and was stopped; narrow it (a smaller area, a shorter "
                                 "time range, fewer or simpler filters) and try again.") from None
    page.withheld = withheld_footprints(identity, page.items)
    return page
