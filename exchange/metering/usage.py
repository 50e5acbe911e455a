"""Usage: meter events rolled up into daily usage per UTC day × licensee organisation × product, and
the usage report read from them.

What a row counts: ``downloads`` the events that started a COUNTER visit (``counted``), ``bytes``
the bytes sent, ``refusals`` the events a rule refused (``rule`` set) — except ``reaped``, which
names how a stream of a dead process ended, not a refusal. ``events`` counts every attempt.

The roll-up rebuilds whole days (delete + insert from all the day's events, in one transaction for
the run), so running it twice gives the same rows and a row always equals its events. Which days:
those with events stamped since the previous run began, less ``OVERLAP``. Events are stamped by
the quota service when they are written, a moment before their commit, so one committed late (a
slow settlement) is still newer than the watermark and its day is rebuilt by the next run.

The report reads the roll-up for the days before the watermark and the events themselves from its
day on, so what happened a second ago is in it whether or not the beat task has run.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import and_, case, delete, func, insert, select, text

from auth.models import Organisation, Role
from exchange.core import paging
from exchange.core.db import db, unit_of_work, utcnow
from exchange.core.problems import Forbidden, ValidationProblem
from exchange.core.spreadsheets import csv_text
from exchange.metering.models import DailyUsage, MeterEvent
from exchange.policy import Identity, query_filter, require

#: How long before its commit an event may have been stamped (the quota service's transactions last
#: milliseconds; ten minutes is a wide margin). Days with events this close to the last run are rebuilt.
OVERLAP = dt.timedelta(minutes=10)
#: The longest report, in days.
MAX_DAYS = 366
GROUPS = ("day", "product", "org")
#: A rule that ended an attempt without refusing it.
NOT_REFUSALS = ("reaped",)
#: PostgreSQL advisory lock key: one roll-up at a time (SQLite: its write lock does it).
ROLL_UP_LOCK = 0x5D1_0014
SUMS = ("events", "downloads", "bytes", "refusals")


def _bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
    return start, start + dt.timedelta(days=1)


def _days(first: dt.date, last: dt.date):
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


def _day_groups(day: dt.date, *where) -> list[dict]:
    """The events of one UTC day summed per licensee organisation × product (``where`` narrows them)."""
    start, end = _bounds(day)
    refused = and_(MeterEvent.rule.is_not(None), MeterEvent.rule.not_in(NOT_REFUSALS))
    rows = db.session.execute(
        select(MeterEvent.org_id, MeterEvent.item_key, MeterEvent.provider_org_id, MeterEvent.collection_id,
               MeterEvent.item_id, func.count(), func.sum(case((MeterEvent.counted.is_(True), 1), else_=0)),
               func.coalesce(func.sum(MeterEvent.bytes_sent), 0), func.sum(case((refused, 1), else_=0)))
        .where(MeterEvent.at >= start, MeterEvent.at < end, *where)
        .group_by(MeterEvent.org_id, MeterEvent.item_key, MeterEvent.provider_org_id, MeterEvent.collection_id,
                  MeterEvent.item_id))
    groups: dict[tuple, dict] = {}
    for org_id, item_key, provider, collection_id, item_id, events, downloads, nbytes, refusals in rows:
        # One product's events agree on its provider and names; merged all the same, so that the
        # (day, organisation, product) key stays unique whatever they say.
        group = groups.setdefault((org_id, item_key), {
            "day": day, "org_id": org_id, "item_key": item_key, "provider_org_id": provider,
            "collection_id": collection_id, "item_id": item_id, **dict.fromkeys(SUMS, 0)})
        for name, value in (("events", events), ("downloads", downloads), ("bytes", nbytes), ("refusals", refusals)):
            group[name] += int(value or 0)
        for name, value in (("provider_org_id", provider), ("collection_id", collection_id), ("item_id", item_id)):
            group[name] = group[name] or value
    return list(groups.values())


# -- the roll-up ------------------------------------------------------------------------------------------
def roll_up(now: dt.datetime | None = None) -> int:
    """Rebuild the daily usage of every day with events newer than the last run (all days on the
    first run), in one transaction; the number of rows written."""
    now = now or utcnow()
    written = 0
    with unit_of_work():
        if db.session.get_bind().dialect.name == "postgresql":
            db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ROLL_UP_LOCK})
        last = db.session.scalar(select(func.max(DailyUsage.rolled_at)))
        newer = select(func.min(MeterEvent.at))
        if last is not None:
            newer = newer.where(MeterEvent.at >= last - OVERLAP)
        first = db.session.scalar(newer)
        if first is None:
            return 0
        for day in _days(first.date(), max(now.date(), first.date())):
            db.session.execute(delete(DailyUsage).where(DailyUsage.day == day))
            rows = [{**group, "org_key": str(group["org_id"] or ""), "item_key_or_zero": group["item_key"] or 0,
                     "rolled_at": now} for group in _day_groups(day)]
            if rows:
                db.session.execute(insert(DailyUsage), rows)
            written += len(rows)
    return written


def live_from() -> dt.date | None:
    """The first day the roll-up may not hold all of (None: every day, nothing rolled up yet)."""
    last = db.session.scalar(select(func.max(DailyUsage.rolled_at)))
    return (last - OVERLAP).date() if last is not None else None


# -- the report -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Report:
    items: list[dict]
    totals: dict
    next: str | None


def _visible(identity: Identity, model, side: str | None, org_id: uuid.UUID | None,
             provider_org_id: uuid.UUID | None) -> list:
    """The rows of ``model`` (events or daily usage) the report shows: what the policy lets the caller
    read, on one side (non-admins: their own use as licensee, or their products' use as provider —
    the default for providers, so that a provider that also buys never sees both mixed up)."""
    where = [query_filter(identity, "usage:read", model)]
    if not identity.acts_as(Role.admin) and not identity.is_system:
        side = side or ("provider" if identity.acts_as(Role.provider) else "licensee")
        if side == "provider":
            if not identity.acts_as(Role.provider):
                raise Forbidden("Only providers see the use of their products (side=provider).", rule="role-provider")
            where.append(model.provider_org_id == identity.org_id)
        else:
            where.append(model.org_id == identity.org_id)
    if org_id is not None:
        where.append(model.org_id == org_id)
    if provider_org_id is not None:
        where.append(model.provider_org_id == provider_org_id)
    return where


#: The columns of daily usage each grouping reads.
KEY_COLUMNS = {"day": ("day",), "product": ("item_key", "collection_id", "item_id", "provider_org_id"),
               "org": ("org_id",)}


def _rolled_rows(start: dt.date, end: dt.date, group_by: tuple[str, ...], where: list) -> list[dict]:
    """The rolled-up days of the range, summed by the database per group."""
    names = [name for part in group_by for name in KEY_COLUMNS[part]]
    columns = [getattr(DailyUsage, name) for name in names]
    rows = db.session.execute(
        select(*columns, *(func.sum(getattr(DailyUsage, name)) for name in SUMS))
        .where(DailyUsage.day >= start, DailyUsage.day <= end, *where).group_by(*columns))
    return [{**dict(zip(names, row)), **{name: int(total or 0) for name, total in zip(SUMS, row[len(names):])}}
            for row in rows]


def _rows(identity: Identity, start: dt.date, end: dt.date, group_by: tuple[str, ...], side, org_id,
          provider_org_id) -> list[dict]:
    """Rows of the range to group: rolled up before ``live_from`` (already summed per group), and
    day × organisation × product sums of the events after."""
    today = utcnow().date()
    live = live_from()
    if live is None:
        live = min(db.session.scalar(select(func.min(MeterEvent.at))) or utcnow(), utcnow()).date()
    rows = []
    rolled_end = min(end, live - dt.timedelta(days=1))
    if start <= rolled_end:
        rows += _rolled_rows(start, rolled_end, group_by,
                             _visible(identity, DailyUsage, side, org_id, provider_org_id))
    where = _visible(identity, MeterEvent, side, org_id, provider_org_id)
    for day in _days(max(start, live), min(end, today)):
        rows += _day_groups(day, *where)
    return rows


def _key(row: dict, group_by: tuple[str, ...]) -> tuple:
    """A group's sort key (also the paging cursor): ISO day, product id (0: none), organisation id."""
    parts = {"day": lambda: row["day"].isoformat(), "product": lambda: row["item_key"] or 0,
             "org": lambda: str(row["org_id"] or "")}
    return tuple(parts[name]() for name in group_by)


def report(identity: Identity, start: dt.date, end: dt.date, group_by: tuple[str, ...], *, side: str | None = None,
           org_id: uuid.UUID | None = None, provider_org_id: uuid.UUID | None = None, limit: int | None = None,
           after: str | None = None) -> Report:
    """Usage from ``start`` to ``end`` (UTC days, inclusive) summed per ``group_by``, in key order;
    ``limit`` rows after the cursor ``after`` (None: all)."""
    require(identity, "usage:read")
    cursor = None
    if after is not None:
        try:
            cursor = tuple(paging.decode(after))
            kinds = tuple(int if name == "product" else str for name in group_by)
            if len(cursor) != len(group_by) or any(type(part) is not kind for part, kind in zip(cursor, kinds)):
                raise paging.BadCursor
        except (paging.BadCursor, TypeError):
            raise ValidationProblem("Not a cursor of this report.", errors=[{"field": "after", "message": "invalid"}])
    groups: dict[tuple, dict] = {}
    totals = dict.fromkeys(("downloads", "bytes", "refusals"), 0)
    for row in _rows(identity, start, end, group_by, side, org_id, provider_org_id):
        key = _key(row, group_by)
        group = groups.get(key)
        if group is None:
            group = groups[key] = _group_fields(row, group_by)
        for name in totals:
            group[name] += row[name]
            totals[name] += row[name]
    keys = sorted(groups)
    if cursor is not None:
        keys = [key for key in keys if key > cursor]
    following = None
    if limit is not None and len(keys) > limit:
        keys = keys[:limit]
        following = paging.encode(list(keys[-1]))
    items = [groups[key] for key in keys]
    _name_organisations(items)
    return Report(items, totals, following)


def _group_fields(row: dict, group_by: tuple[str, ...]) -> dict:
    group = {}
    if "day" in group_by:
        group["day"] = row["day"]
    if "product" in group_by:
        group.update(product_id=row["item_key"], collection_id=row["collection_id"], item_id=row["item_id"],
                     provider_org_id=row["provider_org_id"])
    if "org" in group_by:
        group.update(org_id=row["org_id"], org_name=None)
    return {**group, "downloads": 0, "bytes": 0, "refusals": 0}


def _name_organisations(items: list[dict]) -> None:
    ids = {item["org_id"] for item in items if item.get("org_id") is not None}
    if ids:
        names = dict(db.session.execute(select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids))).all())
        for item in items:
            if "org_id" in item:
                item["org_name"] = names.get(item["org_id"])


# -- CSV --------------------------------------------------------------------------------------------------
def report_csv(items: list[dict], group_by: tuple[str, ...]) -> str:
    """The report as CSV: a header row, then one row per group (the same columns as the JSON items)."""
    columns = list(_group_fields({"day": None, "item_key": None, "collection_id": None, "item_id": None,
                                  "provider_org_id": None, "org_id": None}, group_by))
    return csv_text(columns, ([item.get(column) for column in columns] for item in items))
