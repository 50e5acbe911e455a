"""The catalogue: collections, items (products) and search.

Reads go through the policy decision point: ``decide(identity, "item:read", item)`` for one item,
the same rule's query form (``visible_items``) for lists and search, so a list never shows what a
read would refuse (collections likewise, "collection:read"). Writes are for providers on what their
organisation owns.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import and_, func, literal, or_, select, text, true
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

from exchange.policy import Identity, decide, query_filter, require
from exchange.catalog import properties
from exchange.catalog.cql2_filter import FilterError, Queryable, to_sqlalchemy
from exchange.catalog.models import Collection, Item
from exchange.catalog.ordering import after, order_of, sort_values
from exchange.catalog.search import SearchError, SearchRequest, decode_token, encode_token
from exchange.catalog.spatial import SpatialOps
from exchange.catalog.stac import render_item
from exchange.core.db import db
from exchange.core.problems import NotFound, ServiceUnavailable

COUNT_CAP = 10_000

QUERYABLES: dict[str, Queryable] = {
    "id": Queryable(Item.item_id, "string"),
    "collection": Queryable(Item.collection_id, "string"),
    "datetime": Queryable(Item.dt_start, "timestamp"),
    "start_datetime": Queryable(Item.dt_start, "timestamp"),
    "end_datetime": Queryable(Item.dt_end, "timestamp"),
    "gsd": Queryable(Item.gsd, "number"),
    "eo:cloud_cover": Queryable(Item.cloud_cover, "number"),
    "view:off_nadir": Queryable(Item.off_nadir, "number"),
    "platform": Queryable(Item.platform, "string"),
    "constellation": Queryable(Item.constellation, "string"),
    "instruments": Queryable(Item.instruments, "string"),
    "geometry": Queryable(Item.geometry, "geometry"),
}

QUERY_OPS = {"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


def spatial_ops() -> SpatialOps:
    return SpatialOps(db.engine.dialect.name, Item.__table__)


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


def product_for(identity: Identity, product_id: int, action: str) -> Item:
    """A product by its id, if the caller may see it (else 404, as if absent) and ``action`` it (else 403)."""
    item = db.session.get(Item, product_id)
    if item is None or not decide(identity, "item:read", item):
        raise NotFound(f"No product {product_id}.")
    require(identity, action, item)
    return item


def query_to_cql2(query: dict) -> dict:
    """The STAC query extension as the equivalent CQL2 JSON."""
    clauses = []
    for prop, ops in query.items():
        if not isinstance(ops, dict):
            raise SearchError(f'query["{prop}"] must be an object like {{"lt": 10}}')
        for op, value in ops.items():
            ref = {"property": prop}
            if op in QUERY_OPS:
                clauses.append({"op": QUERY_OPS[op], "args": [ref, value]})
            elif op in ("startsWith", "endsWith", "contains") and isinstance(value, str):
                pattern = {"startsWith": f"{value}%", "endsWith": f"%{value}", "contains": f"%{value}%"}[op]
                clauses.append({"op": "like", "args": [ref, pattern]})
            elif op == "in" and isinstance(value, list):
                clauses.append({"op": "in", "args": [ref, value]})
            else:
                raise SearchError(f'query operator "{op}" on "{prop}" is not supported; use '
                                  "eq, neq, lt, lte, gt, gte, startsWith, endsWith, contains, in")
    if not clauses:
        raise SearchError('query names no operator; use e.g. {"eo:cloud_cover": {"lt": 10}}')
    return {"op": "and", "args": clauses} if len(clauses) > 1 else clauses[0]


def _scope(identity: Identity, collection_id: str | None):
    """The collections whose items' properties a caller may name: the one it is in, or every visible one."""
    return [collection_id] if collection_id else select(Collection.id).where(visible_collections(identity))


def carried_properties(identity: Identity, collection_id: str | None = None) -> dict[str, set[str]]:
    """The properties (name -> JSON types) the items carry, of one collection the caller may see
    (else 404) or of every visible one: what the queryables documents list."""
    if collection_id is not None:
        get_collection(identity, collection_id)
    return properties.types_by_name(_scope(identity, collection_id))


def _conditions(identity: Identity, request: SearchRequest, collection_id: str | None,
                order: list) -> tuple[list, list, list]:
    """The search's conditions for its page, for its count and for the planner's estimate of the
    count. All select the same rows; they differ only in whether the footprint test may use the
    spatial index (see ``_time_first``). The estimate always states it indexable: PostGIS estimates
    ``ST_Intersects`` from its statistics, ``_ST_Intersects`` as a third of the rows."""
    conditions = [visible_items(identity)]
    collections = [collection_id] if collection_id else request.collections
    if collections:  # one collection as "=": SQLite's planner matches a partial index's WHERE with that only
        conditions.append(Item.collection_id == collections[0] if len(collections) == 1
                          else Item.collection_id.in_(collections))
    if request.ids:
        conditions.append(Item.item_id.in_(request.ids))
    documents = properties.DocumentProperties()
    for ast in ([request.filter] if request.filter else []) + ([query_to_cql2(request.query)] if request.query else []):
        try:
            conditions.append(to_sqlalchemy(ast, QUERYABLES, spatial_ops(), documents))
        except FilterError as exc:
            raise SearchError(f"filter: {exc}") from None
    if documents.named:  # looked up only when a document property is named: other searches pay nothing
        missing = properties.unknown(documents.named, _scope(identity, collection_id))
        if missing:
            raise SearchError(f"filter: unknown property {', '.join(map(repr, missing))}: no item "
                              f"{'of this collection ' if collection_id else ''}carries it; see the queryables")
    timespan = _overlaps(*request.interval) if request.interval is not None else None
    if timespan is not None:
        conditions.append(timespan)
    if request.geometry is None:
        return conditions, conditions, conditions
    indexed = spatial_ops().intersects(Item.geometry, request.geometry)
    page_first, count_first = _time_first(order, timespan, indexed)
    unindexed = spatial_ops().intersects(Item.geometry, request.geometry, indexed=False) \
        if page_first or count_first else None
    counted = [*conditions, unindexed if count_first else indexed]
    return [*conditions, unindexed if page_first else indexed], counted, [*conditions, indexed] if count_first else counted


#: How many more rows the spatial index must hand over than the datetime index before reading the
#: datetime range and testing each footprint is the cheaper way to count (measured at 1M items:
#: ~2 µs per row so tested, ~0.28 µs per entry of an SP-GiST bitmap).
TIME_FIRST_RATIO = 6
#: The same for a page in datetime order: read newest first, it stops after ``limit`` matches.
PAGE_TIME_FIRST_RATIO = 1


def _time_first(order: list, timespan, spatial) -> tuple[bool, bool]:
    """Whether a search with both a datetime range and a footprint should leave the spatial index
    alone (PostgreSQL), for its page and for its count. A continent and a month: the spatial index
    yields ~30,000-115,000 entries, to be ANDed with the month's ~8,000; reading the month's rows
    is cheaper. The planner would pick the bitmap AND, as its cost model takes every heap page for
    a disk read."""
    if timespan is None or db.engine.dialect.name != "postgresql":
        return False, False
    in_time = _planned_rows(select(Item.key).where(timespan))
    in_space = _planned_rows(select(Item.key).where(spatial))
    by_datetime = order[0][1] is Item.dt_start
    page_ratio = PAGE_TIME_FIRST_RATIO if by_datetime else TIME_FIRST_RATIO
    return in_time * page_ratio < in_space, in_time * TIME_FIRST_RATIO < in_space


def _planned_rows(statement) -> int:
    return int(db.session.execute(Explain(statement)).scalar()[0]["Plan"]["Plan Rows"])


def _overlaps(start, end):
    """Items whose time overlaps [start, end], as one bounded range on the dt_start index.

    An item overlaps when dt_start <= end and dt_end >= start. For the index to bound the scan from
    below as well, the earliest start of any *range* item still running at ``start`` is looked up
    first (few items have ranges; ix_items_range_end finds them), so the lower bound is exact.

    ``dt_end >= start`` is only stated when such a range exists: every other item has
    dt_end == dt_start, so ``dt_start >= start`` implies it. Stated needlessly, it invites the planner
    to AND in a bitmap of ix_items_dt_end over every item since ``start`` — most of the table for an
    early month.
    """
    conditions = []
    if start is not None:
        earliest = db.session.scalar(select(func.min(Item.dt_start)).where(Item.range_end >= start))
        if earliest is not None and earliest < start:
            # Only rows starting before ``start`` need their end checked; the OR keeps ix_items_dt_end
            # out of the plan, as it cannot bound the rows that start after ``start``.
            conditions += [Item.dt_start >= earliest, or_(Item.dt_start >= start, Item.dt_end >= start)]
        else:
            conditions.append(Item.dt_start >= start)
    if end is not None:
        conditions.append(Item.dt_start <= end)
    return and_(*conditions) if conditions else true()


@dataclass(frozen=True)
class Matched:
    """How many items a search matches. ``exact`` only when counted; otherwise ``estimate`` (the
    planner's guess, possibly below the truth) and/or ``at_least`` (a lower bound: a capped count
    reached its cap), never to be passed off as a count."""
    exact: int | None = None
    estimate: int | None = None
    at_least: int | None = None


@dataclass
class Page:
    items: list[Item]
    next_token: str | None
    prev_token: str | None
    matched: Matched | None  # None on pages after the first


#: PostgreSQL's SQLSTATE for a statement cancelled, here by statement_timeout.
QUERY_CANCELED = "57014"


def search(identity: Identity, request: SearchRequest, *, collection_id: str | None = None) -> Page:
    if db.engine.dialect.name == "postgresql":
        # psycopg prepares a statement once it has run 5 times, and PostgreSQL may then plan it once
        # for any parameters. A search's best plan depends on them (a continent or a city block, a
        # month or ten years): plan each one for its own values. Until the transaction ends.
        # Measured (continental at 1M items): count p50 36 -> 19 ms, p95 217 -> 51 ms.
        db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        # A search the planner gets badly wrong must not hold a connection and a worker for minutes.
        timeout = int(current_app.config["SEARCH_TIMEOUT_MS"])
        db.session.execute(text(f"SET LOCAL statement_timeout = {timeout}"))
    try:
        return _search(identity, request, collection_id)
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != QUERY_CANCELED:
            raise
        db.session.rollback()
        raise ServiceUnavailable("The search took too long and was stopped; narrow it (a smaller area, a shorter "
                                 "time range, fewer or simpler filters) and try again.") from None


def _search(identity: Identity, request: SearchRequest, collection_id: str | None) -> Page:
    order = order_of(request, lambda: _scope(identity, collection_id))
    conditions, count_conditions, estimate_conditions = _conditions(identity, request, collection_id, order)
    direction, values = decode_token(request.token) if request.token else ("next", None)
    forward = direction == "next"
    page_conditions = list(conditions)
    if values is not None:
        page_conditions.append(after(order, values, forward))
    ordering = [(col.asc() if asc == forward else col.desc()) for _, col, asc in order]
    rows = list(db.session.scalars(select(Item).where(*page_conditions).order_by(*ordering)
                                   .limit(request.limit + 1)))
    more = len(rows) > request.limit
    rows = rows[:request.limit]
    if not forward:
        rows.reverse()
    next_token = prev_token = None
    if rows:
        if (forward and more) or (not forward and values is not None):
            next_token = encode_token("next", sort_values(rows[-1], order))
        if (forward and values is not None) or (not forward and more):
            prev_token = encode_token("prev", sort_values(rows[0], order))
    # Counted on the first page only: paging on must not pay for it again (numberMatched is optional).
    # A first page that holds every match has counted them already.
    if request.token is not None:
        matched = None
    elif not more:
        matched = Matched(exact=len(rows))
    else:
        matched = count_matches(count_conditions, estimate_conditions)
    return Page(rows, next_token, prev_token, matched)


class Explain(Executable, ClauseElement):
    """PostgreSQL's ``EXPLAIN (FORMAT JSON)`` of a statement, with its parameters bound as usual."""

    inherit_cache = False

    def __init__(self, statement) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _compile_explain(element: Explain, compiler, **kw) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


#: On PostgreSQL, the planner's estimated total cost of the capped count (``EXPLAIN``) above which
#: the planner's row estimate is given instead of a count. Measured at 1M items (2 cores):
#: small bboxes cost 30-350 (counted in < 1 ms); a continent + a month costs 8,100-11,300 on the
#: bitmap-AND route (13-28 ms) and 200,000-250,000 when it reads the month (40-60 ms). 500-vertex
#: intersects of radius 2-5° cost 10,000-66,000 (3-9 ms: PostGIS declares ST_Intersects at 25 per
#: row) — on the planner's scale no threshold keeps them exact without counting the continents too.
#: At 5,000 (≈ 10 ms of heap reads at worst), limit 10, p95: continental 63.7 -> 18.5 ms, intersects
#: 45.1 -> 30.5 ms (both now estimated); small bboxes stay counted.
COUNT_COST_LIMIT = 5_000


def count_matches(conditions, estimate_conditions=None) -> Matched:
    """How many rows match: counted exactly up to COUNT_CAP, else estimated or bounded.

    SQLite: exact up to COUNT_CAP, beyond that at least COUNT_CAP + 1.

    PostgreSQL: the capped count is EXPLAINed first (cost-based, as pgstac does). When the planner
    expects more than twice the cap, or the count would cost more than COUNT_COST_LIMIT, its row
    estimate is the answer and nothing is counted; otherwise the rows are counted, exact up to
    COUNT_CAP (beyond it, at least COUNT_CAP + 1, with the planner's estimate when it is higher).
    ``estimate_conditions`` (the same rows, stated so that the planner estimates them better) give
    the estimate when they differ.
    """
    capped = select(literal(1)).select_from(Item).where(*conditions).limit(COUNT_CAP + 1).subquery()
    count_query = select(func.count()).select_from(capped)
    estimate = None
    if db.engine.dialect.name == "postgresql":
        plan = db.session.execute(Explain(count_query)).scalar()[0]["Plan"]
        estimate = _uncapped_rows(plan)
        if estimate > 2 * COUNT_CAP or plan["Total Cost"] > COUNT_COST_LIMIT:
            if estimate_conditions is not None and estimate_conditions is not conditions:  # a better estimate
                estimate = _planned_rows(select(Item.key).where(*estimate_conditions))
            return Matched(estimate=estimate)
    count = db.session.scalar(count_query)
    if count <= COUNT_CAP:
        return Matched(exact=count)
    return Matched(at_least=COUNT_CAP + 1, estimate=estimate if estimate is not None and estimate > COUNT_CAP else None)


def _uncapped_rows(plan: dict) -> int:
    """The planner's row estimate below the LIMIT of a capped count's plan."""
    if plan["Node Type"] == "Limit":
        return int(plan["Plans"][0]["Plan Rows"])
    for child in plan.get("Plans", ()):
        return _uncapped_rows(child)
    return int(plan["Plan Rows"])


def render(item: Item, base_url: str, request: SearchRequest | None = None) -> dict:
    doc = render_item(item, base_url)
    return request.fields.apply(doc) if request is not None and request.fields is not None else doc
