"""Sort orders of a search and its keyset tokens: what a row sorts by, and the rows after a token's values.

Every sort key sorts nulls after every value ascending (first descending), the same on both backends,
so that a token's values can be compared in one row-value comparison; the row key breaks ties.
"""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import and_, func, literal, or_, tuple_

from exchange.catalog import properties
from exchange.catalog.models import Item
from exchange.catalog.properties import NULL_LAST
from exchange.catalog.search import SearchError, SearchRequest
from exchange.catalog.stac import parse_rfc3339

SORTABLE = {
    "datetime": Item.dt_start, "start_datetime": Item.dt_start, "end_datetime": Item.dt_end,
    "id": Item.item_id, "collection": Item.collection_id,
    "gsd": func.coalesce(Item.gsd, NULL_LAST), "eo:cloud_cover": func.coalesce(Item.cloud_cover, NULL_LAST),
    "view:off_nadir": func.coalesce(Item.off_nadir, NULL_LAST),
}
TIMESTAMP_SORTS = {"datetime", "start_datetime", "end_datetime"}


def order_of(request: SearchRequest, scope: Callable[[], object]) -> list[tuple[object, object, bool]]:
    """(name or DocumentSort, sort expression, ascending) per sort key, then the row key. ``scope()``:
    the collections whose items' properties may be sorted on (asked only for a document property)."""
    sortby = request.sortby or [("datetime", False)]
    order = []
    for name, ascending in sortby:
        column = name if name in SORTABLE else name.removeprefix("properties.")
        if column in SORTABLE:
            order.append((column, SORTABLE[column], ascending))
            continue
        document = properties.property_name(name)
        try:
            sort = document and properties.document_sort(document, scope())
        except ValueError as exc:
            raise SearchError(str(exc)) from None
        if not sort:
            raise SearchError(f"cannot sort by {name!r}; sortable fields: {', '.join(SORTABLE)} and the "
                              "properties items carry (see the queryables)")
        order.append((sort, properties.sort_expression(sort.name, sort.kind), ascending))
    order.append(("key", Item.key, order[-1][2]))  # unique tie-breaker, same direction as the last key
    return order


def after(order, values: list, forward: bool):
    """Rows strictly after ``values`` in ``order`` (or before, when paging backwards)."""
    if len(values) != len(order):
        raise SearchError("token does not match this search's sort order; start again from the first page")
    try:
        bound = [_bound(name, v) for (name, _, _), v in zip(order, values)]
    except ValueError:
        raise SearchError("token is damaged; start again from the first page") from None
    directions = {asc == forward for _, _, asc in order}
    if len(directions) == 1:  # one direction: a row-value comparison the index can serve
        columns = tuple_(*(col for _, col, _ in order))
        return columns > tuple_(*(literal(v) for v in bound)) if directions.pop() else \
            columns < tuple_(*(literal(v) for v in bound))
    clauses = []
    for i, (_, col, asc) in enumerate(order):
        equal = [order[j][1] == bound[j] for j in range(i)]
        clauses.append(and_(*equal, col > bound[i] if asc == forward else col < bound[i]))
    return or_(*clauses)


def _bound(name, value):
    """A token's value for sort key ``name``, of the type the key's expression has (ValueError if not)."""
    if name in TIMESTAMP_SORTS:
        return parse_rfc3339(value)
    if isinstance(name, properties.DocumentSort) and not (
            isinstance(value, str) if name.kind == "string"
            else isinstance(value, (int, float)) and not isinstance(value, bool)):
        raise ValueError(name)
    return value


def sort_values(row, order) -> list:
    values = []
    for name, _, _ in order:
        if name == "key":
            values.append(row.key)
        elif isinstance(name, properties.DocumentSort):
            values.append(properties.sort_value(row.data, name.name, name.kind))
        elif name in TIMESTAMP_SORTS:
            values.append(row.dt_end if name == "end_datetime" else row.dt_start)
        else:
            attr = {"id": "item_id", "collection": "collection_id", "eo:cloud_cover": "cloud_cover",
                    "view:off_nadir": "off_nadir"}.get(name, name)
            value = getattr(row, attr)
            values.append(NULL_LAST if value is None and attr in ("gsd", "cloud_cover", "off_nadir") else value)
    return values
