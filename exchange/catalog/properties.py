"""Item properties beyond the promoted columns: read from the stored document, typed, summarised.

Any property an item carries can be filtered and sorted on. Its SQL is one expression per (name,
kind) — the same text in a filter, a sort and a property index, so that an expression index serves
the query on both backends — which yields the value only when the JSON value has that type: a value
of another type never matches and never makes a cast fail.

What properties exist is kept in ``collection_properties`` (collection, name, JSON type), added to on
every item write and never shrunk on delete (``flask sdx refresh-queryables`` recomputes it). It
answers the queryables documents, refuses a filter on a property no item carries (a typo) and gives
a sort its type.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Boolean, Float, String, delete, func, literal_column, select, text
from sqlalchemy.dialects import postgresql, sqlite

from exchange.catalog.models import CollectionProperty
from exchange.core.db import db

#: Property names that may be queried: rendered into SQL as text (an expression index must match the
#: query's expression), so no quote or other SQL-significant character can pass.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_:.\-]{0,99}")
#: Kinds a JSON property is read as, and the SQL type each yields.
KINDS = {"number": Float(), "string": String(), "boolean": Boolean()}
#: A JSON value's type as JSON Schema names it, from Python.
PYTHON_TYPES = ((bool, "boolean"), ((int, float), "number"), (str, "string"), (list, "array"), (dict, "object"))
#: The promoted columns' names: they keep their columns and are not summarised.
PROMOTED = frozenset({"datetime", "start_datetime", "end_datetime", "gsd", "eo:cloud_cover", "view:off_nadir",
                      "platform", "constellation", "instruments"})
#: Sort keys of a missing value: after every real number or string when ascending (nulls last), the
#: same on both backends; keyset tokens carry them, so columns and document properties share them.
NULL_LAST = 1e300
STRING_LAST = "\U0010ffff"


def property_name(name: str) -> str | None:
    """The property ``name`` (``properties.NAME`` accepted) if it may be queried, else None."""
    name = name.removeprefix("properties.")
    return name if NAME_PATTERN.fullmatch(name) else None


def expression_sql(name: str, kind: str, dialect: str, column: str = "items.data") -> str:
    """The SQL of property ``name`` read as ``kind``; NULL when absent or of another JSON type."""
    if dialect == "postgresql":
        path = f"{column}->'properties'"
        guard = f"jsonb_typeof({path}->'{name}')"
        value = f"({path}->>'{name}')"
        return {"number": f"CASE WHEN {guard} = 'number' THEN {value}::float8 END",
                "string": f"CASE WHEN {guard} = 'string' THEN {value} COLLATE \"C\" END",
                "boolean": f"CASE WHEN {guard} = 'boolean' THEN {value}::boolean END"}[kind]
    path = f"'$.properties.\"{name}\"'"
    guard = f"json_type({column}, {path})"
    condition = {"number": "IN ('integer','real')", "string": "= 'text'", "boolean": "IN ('true','false')"}[kind]
    return f"CASE WHEN {guard} {condition} THEN json_extract({column}, {path}) END"


def expression(name: str, kind: str):
    """Property ``name`` read as ``kind``, as a column expression for a query on items."""
    return literal_column(expression_sql(name, kind, db.engine.dialect.name), KINDS[kind])


def is_null(name: str):
    """The property is absent or JSON null (objects and arrays are values)."""
    if db.engine.dialect.name == "postgresql":
        return literal_column(f"(items.data->'properties'->>'{name}')").is_(None)
    return literal_column(f"json_extract(items.data, '$.properties.\"{name}\"')").is_(None)


def sort_expression(name: str, kind: str):
    """The sort key of a JSON property: nulls (and values of other types) after every value ascending."""
    last = literal_column(repr(NULL_LAST), Float()) if kind == "number" else literal_column(f"'{STRING_LAST}'", String())
    return func.coalesce(expression(name, kind), last)


def sort_value(document: dict, name: str, kind: str):
    """What ``sort_expression`` yields for one stored item document (a keyset token's value)."""
    value = (document.get("properties") or {}).get(name)
    if kind == "number":
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else NULL_LAST
    return value if isinstance(value, str) else STRING_LAST


def json_type(value) -> str | None:
    for python, name in PYTHON_TYPES:
        if isinstance(value, python):
            return name
    return None


def carried(properties: object) -> set[tuple[str, str]]:
    """The (name, JSON type) pairs of an item's properties (nulls say nothing of a type); cheap, as a
    bulk load gathers them per item: ``record`` picks the ones worth keeping, once per batch."""
    if not isinstance(properties, dict):
        return set()
    return {(name, kind) for name, value in properties.items() if (kind := json_type(value)) is not None}


def record(collection_id: str, pairs: set[tuple[str, str]]) -> None:
    """Add what items of the collection carry to the summary (one statement; known pairs are kept)."""
    rows = [{"collection_id": collection_id, "name": name, "json_type": kind} for name, kind in sorted(pairs)
            if name not in PROMOTED and NAME_PATTERN.fullmatch(name)]
    if not rows:
        return
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    db.session.execute(insert(CollectionProperty).values(rows).on_conflict_do_nothing())


def types_by_name(collection_ids, names: set[str] | None = None) -> dict[str, set[str]]:
    """JSON types of each property carried by items of ``collection_ids`` (a list or a subquery)."""
    query = select(CollectionProperty.name, CollectionProperty.json_type).where(
        CollectionProperty.collection_id.in_(collection_ids)).distinct()
    if names is not None:
        query = query.where(CollectionProperty.name.in_(sorted(names)))
    found: dict[str, set[str]] = {}
    for name, kind in db.session.execute(query):
        found.setdefault(name, set()).add(kind)
    return found


#: Every (collection, name, JSON type) the stored items carry, per backend (also the migration's backfill).
SCAN_SQL = {
    "postgresql": "SELECT DISTINCT i.collection_id, p.key, jsonb_typeof(p.value) FROM items i "
                  "CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(i.data->'properties') = 'object' "
                  "THEN i.data->'properties' ELSE '{}'::jsonb END) p "
                  "WHERE jsonb_typeof(p.value) <> 'null'",
    "sqlite": "SELECT DISTINCT i.collection_id, p.key, CASE p.type WHEN 'integer' THEN 'number' "
              "WHEN 'real' THEN 'number' WHEN 'text' THEN 'string' WHEN 'true' THEN 'boolean' "
              "WHEN 'false' THEN 'boolean' ELSE p.type END FROM items i, json_each(i.data, '$.properties') p "
              "WHERE p.type <> 'null'",
}


def refresh(collection_id: str | None = None) -> None:
    """Recompute the summary from the stored items (of one collection, or all). On PostgreSQL, writers'
    summary rows wait until it commits: one inserted during the scan would be deleted, never re-added."""
    dialect = db.engine.dialect.name
    if dialect == "postgresql":
        db.session.execute(text("LOCK TABLE collection_properties IN SHARE ROW EXCLUSIVE MODE"))
    scan = SCAN_SQL[dialect] + (" AND i.collection_id = :cid" if collection_id else "")
    found: dict[str, set] = {}
    for cid, name, kind in db.session.execute(text(scan), {"cid": collection_id} if collection_id else {}):
        found.setdefault(cid, set()).add((name, kind))
    cleared = delete(CollectionProperty)
    db.session.execute(cleared.where(CollectionProperty.collection_id == collection_id) if collection_id else cleared)
    for cid, pairs in found.items():
        record(cid, pairs)


class DocumentProperties:
    """The translator's view of document properties; remembers which were named, to check they exist."""

    def __init__(self) -> None:
        self.named: set[str] = set()

    def name(self, name: str) -> str | None:
        return property_name(name)

    def typed(self, name: str, kind: str):
        self.named.add(name)
        return expression(name, kind)

    def is_null(self, name: str):
        self.named.add(name)
        return is_null(name)


def unknown(names: set[str], collection_ids) -> list[str]:
    """Those of ``names`` that no item of ``collection_ids`` carries (one summary lookup)."""
    return sorted(names - set(types_by_name(collection_ids, names)))


@dataclass(frozen=True)
class DocumentSort:
    """A sort on a document property, read as the kind its items mostly have (numbers before strings)."""

    name: str
    kind: str


def document_sort(name: str, collection_ids) -> DocumentSort | None:
    """How to sort by document property ``name`` in ``collection_ids``; None if no item carries it.
    Raises ValueError when its values cannot be ordered (booleans, objects, arrays)."""
    types = types_by_name(collection_ids, {name}).get(name)
    if not types:
        return None
    for kind in ("number", "string"):
        if kind in types:
            return DocumentSort(name, kind)
    raise ValueError(f"cannot sort by {name!r}: its values are {' and '.join(sorted(types))}, which have no order")
