"""Item search as SQL: a search's conditions, its page cut by keyset tokens, and how many items it matches.

This module decides no access: the service passes it the visibility predicate (``visible``) and the
collections whose properties the caller may name (``scope``), both from the policy's rule.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import and_, func, literal, or_, select, true

from exchange.catalog import hooks, planner, properties
from exchange.catalog.cql2_filter import FilterError, Queryable, to_sqlalchemy
from exchange.catalog.models import Item
from exchange.catalog.ordering import after, sort_values
from exchange.catalog.search import SearchError, SearchRequest, decode_token, encode_token
from exchange.catalog.spatial import SpatialOps
from exchange.core import paging
from exchange.core.db import db

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


def conditions(request: SearchRequest, order: list, *, visible, scope: Callable[[], object],
               collection_id: str | None) -> tuple[list, list, list]:
    """The search's conditions for its page, for its count and for the planner's estimate of the
    count. All select the same rows; they differ only in whether the footprint test may use the
    spatial index (see ``planner.time_first``). The estimate always states it indexable: PostGIS
    estimates ``ST_Intersects`` from its statistics, ``_ST_Intersects`` as a third of the rows."""
    found = [visible]
    collections = [collection_id] if collection_id else request.collections
    if collections:  # one collection as "=": SQLite's planner matches a partial index's WHERE with that only
        found.append(Item.collection_id == collections[0] if len(collections) == 1
                     else Item.collection_id.in_(collections))
    if request.ids:
        found.append(Item.item_id.in_(request.ids))
    for name, value in request.answered.items():
        answered = hooks.first_answer(hooks.search_condition, name, value=value)
        if answered is None:
            raise SearchError(f"{name}: this server cannot filter on it")
        found.append(answered)
    documents = properties.DocumentProperties()
    for ast in ([request.filter] if request.filter else []) + ([query_to_cql2(request.query)] if request.query else []):
        try:
            found.append(to_sqlalchemy(ast, QUERYABLES, spatial_ops(), documents))
        except FilterError as exc:
            raise SearchError(f"filter: {exc}") from None
    if documents.named:  # looked up only when a document property is named: other searches pay nothing
        missing = properties.unknown(documents.named, scope())
        if missing:
            raise SearchError(f"filter: unknown property {', '.join(map(repr, missing))}: no item "
                              f"{'of this collection ' if collection_id else ''}carries it; see the queryables")
    timespan = overlaps(*request.interval) if request.interval is not None else None
    if timespan is not None:
        found.append(timespan)
    if request.geometry is None:
        return found, found, found
    indexed = spatial_ops().intersects(Item.geometry, request.geometry)
    page_first, count_first = planner.time_first(order, timespan, indexed)
    unindexed = spatial_ops().intersects(Item.geometry, request.geometry, indexed=False) \
        if page_first or count_first else None
    counted = [*found, unindexed if count_first else indexed]
    return [*found, unindexed if page_first else indexed], counted, [*found, indexed] if count_first else counted


def overlaps(start, end):
    """Items whose time overlaps [start, end], as one bounded range on the dt_start index.

    An item overlaps when dt_start <= end and dt_end >= start. For the index to bound the scan from
    below as well, the earliest start of any *range* item still running at ``start`` is looked up
    first (few items have ranges; ix_items_range_end finds them), so the lower bound is exact.

    ``dt_end >= start`` is only stated when such a range exists: every other item has
    dt_end == dt_start, so ``dt_start >= start`` implies it. Stated needlessly, it invites the planner
    to AND in a bitmap of ix_items_dt_end over every item since ``start`` — most of the table for an
    early month.
    """
    bounds = []
    if start is not None:
        earliest = db.session.scalar(select(func.min(Item.dt_start)).where(Item.range_end >= start))
        if earliest is not None and earliest < start:
            # Only rows starting before ``start`` need their end checked; the OR keeps ix_items_dt_end
            # out of the plan, as it cannot bound the rows that start after ``start``.
            bounds += [Item.dt_start >= earliest, or_(Item.dt_start >= start, Item.dt_end >= start)]
        else:
            bounds.append(Item.dt_start >= start)
    if end is not None:
        bounds.append(Item.dt_start <= end)
    return and_(*bounds) if bounds else true()


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
    #: The items shown only coarsened (item key -> the refusal), which the service fills in.
    withheld: dict = field(default_factory=dict)


def page(request: SearchRequest, order: list, found: tuple[list, list, list]) -> Page:
    """The page a search's token points at (the first without one), with tokens to the pages
    either side; ``found``: the conditions for the page, its count and its estimate."""
    page_conditions, count_conditions, estimate_conditions = found
    direction, values = decode_token(request.token) if request.token else ("next", None)
    forward = direction == "next"
    page_conditions = list(page_conditions)
    if values is not None:
        page_conditions.append(after(order, values, forward))
    ordering = [(col.asc() if asc == forward else col.desc()) for _, col, asc in order]
    rows, more = paging.cut(list(db.session.scalars(select(Item).where(*page_conditions).order_by(*ordering)
                                                   .limit(request.limit + 1))), request.limit)
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


def count_matches(found, estimate_conditions=None) -> Matched:
    """How many rows match: counted exactly up to COUNT_CAP, else estimated or bounded.

    SQLite: exact up to COUNT_CAP, beyond that at least COUNT_CAP + 1.

    PostgreSQL: the planner is asked first (``planner.count_estimate``); when it finds the count
    too dear, its row estimate is the answer and nothing is counted; otherwise the rows are counted,
    exact up to COUNT_CAP (beyond it, at least COUNT_CAP + 1, with the planner's estimate when it is
    higher). ``estimate_conditions`` (the same rows, stated so that the planner estimates them
    better) give the estimate when they differ.
    """
    capped = select(literal(1)).select_from(Item).where(*found).limit(COUNT_CAP + 1).subquery()
    count_query = select(func.count()).select_from(capped)
    estimate = None
    if db.engine.dialect.name == "postgresql":
        estimate, worth_counting = planner.count_estimate(count_query, COUNT_CAP)
        if not worth_counting:
            if estimate_conditions is not None and estimate_conditions is not found:  # a better estimate
                estimate = planner.planned_rows(select(Item.key).where(*estimate_conditions))
            return Matched(estimate=estimate)
    count = db.session.scalar(count_query)
    if count <= COUNT_CAP:
        return Matched(exact=count)
    return Matched(at_least=COUNT_CAP + 1, estimate=estimate if estimate is not None and estimate > COUNT_CAP else None)
