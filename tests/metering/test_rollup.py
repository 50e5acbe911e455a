"""The daily roll-up: equal to its events, idempotent, and late events picked up by the next run."""
from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest

from sqlalchemy import select

from exchange.core.db import db, unit_of_work, utcnow
from exchange.metering import usage
from exchange.metering.models import DailyUsage, MeterEvent

ORGS = [uuid.uuid4() for _ in range(3)]
PROVIDERS = {1: uuid.uuid4(), 2: uuid.uuid4(), 3: uuid.uuid4()}
RULES = [None, None, None, "no-license", "bytes-used-up", "reaped"]


def add_events(rng: random.Random, n: int, start: dt.datetime, end: dt.datetime) -> None:
    span = (end - start).total_seconds()
    with unit_of_work():
        for _ in range(n):
            item_key = rng.choice([1, 2, 3, None])
            rule = rng.choice(RULES)
            db.session.add(MeterEvent(
                at=start + dt.timedelta(seconds=rng.uniform(0, span)), org_id=rng.choice(ORGS + [None]),
                provider_org_id=PROVIDERS.get(item_key), item_key=item_key,
                collection_id="c" if item_key else None, item_id=f"i{item_key}" if item_key else None,
                asset_key="data", bytes_sent=0 if rule and rule != "reaped" else rng.randrange(0, 10**9),
                status=403 if rule and rule != "reaped" else rng.choice([200, 206, 0]),
                counted=rule is None and rng.random() < 0.6, rule=rule))


def expected() -> dict:
    """The events summed per UTC day × organisation × product, straight from the table."""
    sums = defaultdict(lambda: [0, 0, 0, 0])
    for event in db.session.scalars(select(MeterEvent)):
        entry = sums[(event.at.date(), str(event.org_id or ""), event.item_key or 0)]
        entry[0] += 1
        entry[1] += int(event.counted)
        entry[2] += event.bytes_sent
        entry[3] += int(event.rule is not None and event.rule != "reaped")
    return dict(sums)


def rolled() -> dict:
    return {(row.day, row.org_key, row.item_key_or_zero): [row.events, row.downloads, row.bytes, row.refusals]
            for row in db.session.scalars(select(DailyUsage))}


def test_the_roll_up_equals_the_events_and_is_idempotent(app):
    rng = random.Random(14)
    now = utcnow()
    with app.app_context():
        add_events(rng, 400, now - dt.timedelta(days=4), now - dt.timedelta(minutes=20))
        add_events(rng, 40, now - dt.timedelta(minutes=2), now)  # today's, newer than the next run's watermark
        first = usage.roll_up()
        assert first == len(expected()) > 20
        assert rolled() == expected()
        today = {key: value for key, value in expected().items() if key[0] == now.date()}
        assert usage.roll_up() == len(today) > 0  # run twice: today rebuilt, the same rows, the same totals
        assert rolled() == expected()
        assert db.session.scalar(select(DailyUsage).where(DailyUsage.org_key == "", DailyUsage.item_key_or_zero == 0))


def test_events_committed_after_a_run_are_picked_up_by_the_next(app):
    """A slow settlement stamps its event before the roll-up runs and commits after it: the next
    run rebuilds that day from all its events."""
    rng = random.Random(7)
    now = utcnow()
    with app.app_context():
        add_events(rng, 100, now - dt.timedelta(days=2), now - dt.timedelta(seconds=5))
        usage.roll_up(now=now)
        before = rolled()
        add_events(rng, 30, now - dt.timedelta(seconds=4), now - dt.timedelta(seconds=1))  # stamped before the run
        assert rolled() == before != expected()
        usage.roll_up(now=now + dt.timedelta(minutes=5))
        assert rolled() == expected()


def test_reaped_streams_are_not_refusals_and_counted_downloads_are_downloads(app):
    now = utcnow()
    org = uuid.uuid4()
    with app.app_context():
        with unit_of_work():
            for counted, rule, nbytes in ((True, None, 100), (False, None, 50), (True, "reaped", 7),
                                          (False, "no-license", 0)):
                db.session.add(MeterEvent(at=now, org_id=org, item_key=9, asset_key="data", bytes_sent=nbytes,
                                          status=200, counted=counted, rule=rule))
        usage.roll_up()
        row = db.session.scalar(select(DailyUsage).where(DailyUsage.org_id == org))
        assert (row.events, row.downloads, row.bytes, row.refusals) == (4, 2, 157, 1)
        assert (row.day, row.org_key, row.item_key_or_zero) == (now.date(), str(org), 9)


def test_nothing_to_roll_up(app):
    with app.app_context():
        assert usage.roll_up() == 0
        assert db.session.scalar(select(DailyUsage)) is None


@pytest.mark.committed  # each thread commits on a connection of its own
def test_concurrent_roll_ups_give_the_same_rows(app):
    """Beat and a hand-run at once (or two beats): one waits for the other (PostgreSQL: an advisory
    lock; SQLite: its write lock); neither fails, and the rows equal the events."""
    now = utcnow()
    with app.app_context():
        add_events(random.Random(3), 1500, now - dt.timedelta(days=40), now)

    def run(_):
        with app.app_context():
            return usage.roll_up()

    for _ in range(3):
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(run, range(4)))
        with app.app_context():
            assert rolled() == expected()


def test_a_stream_reaped_then_settled_counts_one_download(shop):
    """The reaper settles a stream whose heartbeats stopped; when the stream then ends after all, its
    own event must count neither the download nor the reaped bytes a second time (quotas.settle)."""
    from auth.models import User
    from auth.policies import identity_of
    from exchange.catalog.models import Item
    from exchange.ingest.models import ProductAsset
    from exchange.metering import quotas

    shop.stored_file("alice-1", 1000)
    licence = shop.entitlement("buyer", "alice-1")
    with shop.live.app.app_context():
        identity = identity_of(db.session.get(User, shop.users["buyer"]))
        item = db.session.get(Item, shop.products["alice-1"])
        asset = db.session.scalar(select(ProductAsset).where(ProductAsset.item_key == item.key))
        hold = quotas.grant_download(identity, item, asset, 1000, quotas.RequestMeta())
        quotas.heartbeat(hold, 400)
        assert quotas.reap_expired(now=utcnow() + dt.timedelta(hours=1)) == 1
        quotas.settle(hold, bytes_sent=1000, status=200)
        usage.roll_up()
        row = db.session.scalar(select(DailyUsage).where(DailyUsage.org_id == shop.orgs["buyer"]))
        assert (row.events, row.downloads, row.bytes, row.refusals) == (2, 1, 1000, 0)
    assert shop.read_entitlement(licence).bytes_used == 1000  # the meter and the charge agree
