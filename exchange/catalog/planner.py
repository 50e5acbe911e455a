"""What PostgreSQL's planner is asked before a search runs: its row and cost estimates (``EXPLAIN``),
to choose which index leads and whether counting the matches is worth it, and the per-search plan
settings. SQLite has no such planner to ask: every function here answers as if nothing were known.
"""
from __future__ import annotations

from flask import current_app
from sqlalchemy import select, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable
from sqlalchemy.sql.visitors import InternalTraversal

from exchange.catalog.models import Item
from exchange.core.db import db

#: How many more rows the spatial index must hand over than the datetime index before reading the
#: datetime range and testing each footprint is the cheaper way to count (measured at 1M items:
#: ~2 µs per row so tested, ~0.28 µs per entry of an SP-GiST bitmap).
TIME_FIRST_RATIO = 6
#: The same for a page in datetime order: read newest first, it stops after ``limit`` matches.
PAGE_TIME_FIRST_RATIO = 1

#: On PostgreSQL, the planner's estimated total cost of the capped count (``EXPLAIN``) above which
#: the planner's row estimate is given instead of a count. Measured at 1M items (2 cores):
#: small bboxes cost 30-350 (counted in < 1 ms); a continent + a month costs 8,100-11,300 on the
#: bitmap-AND route (13-28 ms) and 200,000-250,000 when it reads the month (40-60 ms). 500-vertex
#: intersects of radius 2-5° cost 10,000-66,000 (3-9 ms: PostGIS declares ST_Intersects at 25 per
#: row) — on the planner's scale no threshold keeps them exact without counting the continents too.
#: At 5,000 (≈ 10 ms of heap reads at worst), limit 10, p95: continental 63.7 -> 18.5 ms, intersects
#: 45.1 -> 30.5 ms (both now estimated); small bboxes stay counted.
COUNT_COST_LIMIT = 5_000


class Explain(Executable, ClauseElement):
    """PostgreSQL's ``EXPLAIN (FORMAT JSON)`` of a statement, with its parameters bound as usual."""

    # Cached like the statement it explains: compiling anew the EXPLAIN of a search carrying
    # sharing policies' predicates cost ~5 ms each time (bench/sharing.py).
    inherit_cache = True
    _traverse_internals = [("statement", InternalTraversal.dp_clauseelement)]
    _all_selected_columns = ()  # its one JSON column is not the statement's

    def __init__(self, statement) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _compile_explain(element: Explain, compiler, **kw) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


def plan_each_search() -> None:
    """On PostgreSQL, for the rest of the transaction: plan each statement for its own values, and
    stop one that runs longer than SEARCH_TIMEOUT_MS.

    psycopg prepares a statement once it has run 5 times, and PostgreSQL may then plan it once for
    any parameters. A search's best plan depends on them (a continent or a city block, a month or
    ten years). Measured (continental at 1M items): count p50 36 -> 19 ms, p95 217 -> 51 ms.
    A search the planner gets badly wrong must not hold a connection and a worker for minutes.

    No JIT compilation: sharing policies' predicates (ST_Intersects is declared dear) put a page's
    estimated cost in the millions though it stops after ``limit`` rows, and compiling it took
    ~650 ms of a search that runs in 0.2 ms (bench/sharing.py)."""
    if db.engine.dialect.name != "postgresql":
        return
    db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    db.session.execute(text("SET LOCAL jit = off"))
    timeout = int(current_app.config["SEARCH_TIMEOUT_MS"])
    db.session.execute(text(f"SET LOCAL statement_timeout = {timeout}"))


def planned_rows(statement) -> int:
    return int(db.session.execute(Explain(statement)).scalar()[0]["Plan"]["Plan Rows"])


def time_first(order: list, timespan, spatial) -> tuple[bool, bool]:
    """Whether a search with both a datetime range and a footprint should leave the spatial index
    alone (PostgreSQL), for its page and for its count. A continent and a month: the spatial index
    yields ~30,000-115,000 entries, to be ANDed with the month's ~8,000; reading the month's rows
    is cheaper. The planner would pick the bitmap AND, as its cost model takes every heap page for
    a disk read."""
    if timespan is None or db.engine.dialect.name != "postgresql":
        return False, False
    in_time = planned_rows(select(Item.key).where(timespan))
    in_space = planned_rows(select(Item.key).where(spatial))
    by_datetime = order[0][1] is Item.dt_start
    page_ratio = PAGE_TIME_FIRST_RATIO if by_datetime else TIME_FIRST_RATIO
    return in_time * page_ratio < in_space, in_time * TIME_FIRST_RATIO < in_space


def count_estimate(count_query, cap: int) -> tuple[int, bool]:
    """The planner's estimate of the rows a count capped at ``cap`` reads (PostgreSQL), and whether
    counting them is worth it: not when it expects more than twice the cap, or when the count would
    cost more than COUNT_COST_LIMIT (cost-based, as pgstac does)."""
    plan = db.session.execute(Explain(count_query)).scalar()[0]["Plan"]
    estimate = _uncapped_rows(plan)
    return estimate, not (estimate > 2 * cap or plan["Total Cost"] > COUNT_COST_LIMIT)


def _uncapped_rows(plan: dict) -> int:
    """The planner's row estimate below the LIMIT of a capped count's plan."""
    if plan["Node Type"] == "Limit":
        return int(plan["Plans"][0]["Plan Rows"])
    for child in plan.get("Plans", ()):
        return _uncapped_rows(child)
    return int(plan["Plan Rows"])
