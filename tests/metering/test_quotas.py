"""The quota service on its own, on both backends with commits: grants never pass the allowance under
concurrency, a settlement charges what was sent and releases the rest, COUNTER counts a download once,
the stream cap refuses the next stream, and the reaper charges only what a heartbeat observed."""
from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
from sqlalchemy import func, select, update

from auth.models import User
from exchange.catalog.models import Item
from exchange.core.db import db, unit_of_work
from exchange.ingest.models import ProductAsset
from exchange.licensing.models import Entitlement
from exchange.metering import gateway, quotas
from exchange.metering.models import DownloadReservation, DownloadVisit, MeterEvent
from exchange.metering.quotas import RequestMeta
from exchange.metering.refusals import DownloadRefused, TooManyStreams
from tests.conftest import add_user, identity_for
from tests.metering.conftest import BUYER_SCOPES

SIZE = 4096


def _who(app, name: str):
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == f"{name}@meter.example"))
        return identity_for(user, BUYER_SCOPES)


def _product(app, product: str) -> tuple[Item, ProductAsset]:
    item = db.session.scalar(select(Item).where(Item.item_id == product))
    asset = db.session.scalar(select(ProductAsset).where(ProductAsset.item_key == item.key))
    return item, asset


def _entitlement(app, ident: str) -> Entitlement:
    with app.app_context():
        row = db.session.get(Entitlement, uuid.UUID(ident))
        db.session.expunge(row)
        return row


def _race(app, identities, nbytes: int = SIZE) -> tuple[list, list]:
    """Every identity asks for the whole file at once; each granted download is settled in full."""
    granted, refused = [], []
    start = threading.Barrier(len(identities))

    def attempt(identity):
        with app.app_context():
            item, asset = _product(app, "alice-1")
            start.wait()
            try:
                hold = quotas.grant_download(identity, item, asset, nbytes, RequestMeta())
            except (DownloadRefused, TooManyStreams) as refusal:
                refused.append(refusal.rule)
                return
            quotas.settle(hold, bytes_sent=nbytes, status=200)
            granted.append(hold.reservation_id)

    threads = [threading.Thread(target=attempt, args=(identity,)) for identity in identities]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return granted, refused


def test_ten_at_once_against_bytes_for_two(shop):
    app = shop.live.app
    app.config["DOWNLOAD_MAX_STREAMS"] = 50
    shop.stored_file("alice-1", SIZE)
    held = shop.entitlement("buyer", "alice-1", downloads_per_asset=None, bytes_allowed=2 * SIZE)
    buyer = _who(app, "buyer")
    granted, refused = _race(app, [buyer] * 10)
    assert len(granted) == 2 and sorted(set(refused)) == ["bytes-used-up"] and len(refused) == 8
    row = _entitlement(app, held)
    assert (row.bytes_used, row.bytes_reserved) == (2 * SIZE, 0)
    with app.app_context():
        events = db.session.scalars(select(MeterEvent)).all()
        assert sorted(e.status for e in events) == [200, 200] + [403] * 8
        assert sum(e.bytes_sent for e in events) == 2 * SIZE


def test_ten_users_at_once_against_two_downloads(shop):
    app = shop.live.app
    app.config["DOWNLOAD_MAX_STREAMS"] = 50
    shop.stored_file("alice-1", SIZE)
    held = shop.entitlement("buyer", "alice-1", downloads_per_asset=2, bytes_allowed=None)
    people = []
    with app.app_context():
        for n in range(10):
            people.append(identity_for(add_user(f"member{n}@meter.example", org="Org buyer"), BUYER_SCOPES))
    granted, refused = _race(app, people)
    assert len(granted) == 2 and refused == ["downloads-used-up"] * 8
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DownloadVisit)
                                 .where(DownloadVisit.entitlement_id == uuid.UUID(held))) == 2


def test_settling_charges_what_was_sent_and_releases_the_rest(shop):
    app = shop.live.app
    shop.stored_file("alice-1", SIZE)
    held = shop.entitlement("buyer", "alice-1", bytes_allowed=10 * SIZE)
    buyer = _who(app, "buyer")
    with app.app_context():
        item, asset = _product(app, "alice-1")
        hold = quotas.grant_download(buyer, item, asset, SIZE, RequestMeta())
        assert hold.allowance.bytes_remaining == 9 * SIZE and hold.allowance.downloads_remaining == 2
        assert _entitlement(app, held).bytes_reserved == SIZE
        quotas.settle(hold, bytes_sent=SIZE // 3, status=200)
    row = _entitlement(app, held)
    assert (row.bytes_used, row.bytes_reserved) == (SIZE // 3, 0)
    with app.app_context():
        event = db.session.scalar(select(MeterEvent))
        assert (event.bytes_sent, event.status, event.counted, event.entitlement_id) == (SIZE // 3, 200, True, row.id)
        assert db.session.scalar(select(DownloadReservation.settled_at)) is not None


def test_counter_counts_a_visit_once(shop):
    app = shop.live.app
    shop.stored_file("alice-1", SIZE)
    held = shop.entitlement("buyer", "alice-1", downloads_per_asset=5, bytes_allowed=None)
    buyer = _who(app, "buyer")

    def download(range_start=0, sent=SIZE):
        with app.app_context():
            item, asset = _product(app, "alice-1")
            hold = quotas.grant_download(buyer, item, asset, SIZE - range_start,
                                         RequestMeta(range_start=range_start or None))
            quotas.settle(hold, bytes_sent=sent, status=200)
            return hold

    def a_minute_later():
        with app.app_context(), unit_of_work():
            earlier = quotas.utcnow() - dt.timedelta(minutes=1)
            db.session.execute(update(DownloadVisit).values(first_at=earlier, last_at=earlier))

    assert download(sent=1000).counted and not download(sent=1000).counted  # within 30 s: one download
    a_minute_later()
    assert not download(range_start=1000, sent=1000).counted  # resumed where it stopped: the same download
    a_minute_later()
    assert download(range_start=3000, sent=10).counted  # past where it stopped: not a resume
    a_minute_later()
    third = download()  # a new request from byte 0 a minute on: a new download
    assert third.counted and third.allowance.downloads_remaining == 2
    a_minute_later()
    assert download(range_start=2500).counted  # a finished download (the last one) is not resumed
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DownloadVisit)) == 4
        assert db.session.scalar(select(func.sum(MeterEvent.bytes_sent))) == 3010 + 2 * SIZE - 2500
    assert _entitlement(app, held).bytes_used == 3010 + 2 * SIZE - 2500  # unlimited bytes are still counted


def test_thirty_seconds_run_from_the_first_request(shop):
    """Asking again every 25 s does not stretch one download forever."""
    app = shop.live.app
    shop.stored_file("alice-1", SIZE)
    shop.entitlement("buyer", "alice-1", downloads_per_asset=1, bytes_allowed=None)
    buyer = _who(app, "buyer")
    with app.app_context():
        item, asset = _product(app, "alice-1")
        quotas.settle(quotas.grant_download(buyer, item, asset, SIZE, RequestMeta()), bytes_sent=SIZE, status=200)
        with unit_of_work():
            db.session.execute(update(DownloadVisit).values(first_at=quotas.utcnow() - dt.timedelta(seconds=31),
                                                            last_at=quotas.utcnow() - dt.timedelta(seconds=5)))
        with pytest.raises(DownloadRefused) as refused:
            quotas.grant_download(buyer, item, asset, SIZE, RequestMeta())
        assert refused.value.rule == "downloads-used-up"
        with pytest.raises(DownloadRefused):  # nor is a finished download "resumed"
            quotas.grant_download(buyer, item, asset, SIZE - 1, RequestMeta(range_start=1))


def test_a_stream_stalled_past_its_reservation_is_cut(shop, monkeypatch):
    """The reaper released a stalled stream's hold: when the client reads again, the stream ends after
    the block in flight, so the released bytes and stream place cannot be used twice."""
    app = shop.live.app
    shop.stored_file("alice-1", SIZE)
    held = shop.entitlement("buyer", "alice-1", bytes_allowed=10 * SIZE)
    buyer = _who(app, "buyer")
    monkeypatch.setattr(gateway, "HEARTBEAT_SECONDS", 0)  # the stall outlasted the heartbeat period
    with app.app_context():
        item, asset = _product(app, "alice-1")
        hold = quotas.grant_download(buyer, item, asset, SIZE, RequestMeta())
        later = quotas.utcnow() + dt.timedelta(seconds=app.config["DOWNLOAD_RESERVATION_SECONDS"] + 1)
        assert quotas.reap_expired(later) == 1
        assert not quotas.heartbeat(hold, 0)
        end = gateway._Ending(hold, buyer, item.key, asset.asset_key, hold.meta)
        blocks = list(gateway._stream(end, b"x" * 1000, iter([b"y" * 1000] * 3), 200))
    assert blocks == [b"x" * 1000]
    row = _entitlement(app, held)
    assert (row.bytes_used, row.bytes_reserved) == (1000, 0)
    with app.app_context():
        ends = db.session.execute(select(MeterEvent.status, MeterEvent.bytes_sent).order_by(MeterEvent.id)).all()
    assert [tuple(e) for e in ends] == [(0, 0), (gateway.STALLED, 1000)]


def test_the_stream_cap_refuses_the_next_stream(shop):
    app = shop.live.app
    app.config["DOWNLOAD_MAX_STREAMS"] = 2
    shop.stored_file("alice-1", SIZE)
    shop.entitlement("buyer", "alice-1", downloads_per_asset=None, bytes_allowed=None)
    buyer = _who(app, "buyer")
    with app.app_context():
        item, asset = _product(app, "alice-1")
        holds = [quotas.grant_download(buyer, item, asset, 1, RequestMeta()) for _ in range(2)]
        with pytest.raises(TooManyStreams) as refused:
            quotas.grant_download(buyer, item, asset, 1, RequestMeta())
        assert refused.value.status == 429 and refused.value.headers["Retry-After"]
        quotas.settle(holds[0], bytes_sent=1, status=200)
        quotas.settle(quotas.grant_download(buyer, item, asset, 1, RequestMeta()), bytes_sent=1, status=200)
        assert db.session.scalar(select(MeterEvent.rule).where(MeterEvent.status == 429)) == "streams"
        quotas.settle(holds[1], bytes_sent=1, status=200)


def test_the_reaper_charges_only_what_was_observed(shop):
    app = shop.live.app
    shop.stored_file("alice-1", SIZE)
    held = shop.entitlement("buyer", "alice-1", bytes_allowed=10 * SIZE)
    buyer = _who(app, "buyer")
    with app.app_context():
        item, asset = _product(app, "alice-1")
        hold = quotas.grant_download(buyer, item, asset, SIZE, RequestMeta())
        quotas.heartbeat(hold, 1000)
        assert quotas.reap_expired() == 0  # alive: not reclaimable yet
        later = quotas.utcnow() + dt.timedelta(seconds=app.config["DOWNLOAD_RESERVATION_SECONDS"] + 1)
        assert quotas.reap_expired(later) == 1 and quotas.reap_expired(later) == 0
    row = _entitlement(app, held)
    assert (row.bytes_used, row.bytes_reserved) == (1000, 0)
    with app.app_context():
        event = db.session.scalar(select(MeterEvent))
        assert (event.status, event.rule, event.bytes_sent, event.counted) == (0, "reaped", 1000, True)
        # the stream was only slow, not dead: its late settlement charges what the heartbeat had not seen
        quotas.settle(hold, bytes_sent=1500, status=200)
    assert _entitlement(app, held).bytes_used == 1500


def test_refusals_say_why_and_are_metered(shop):
    app = shop.live.app
    shop.stored_file("alice-1", SIZE)
    buyer = _who(app, "buyer")
    with app.app_context():
        item, asset = _product(app, "alice-1")
        with pytest.raises(DownloadRefused) as none:
            quotas.grant_download(buyer, item, asset, SIZE, RequestMeta(user_agent="curl/8"))
    assert none.value.rule == "no-license" and "holds no licence" in none.value.detail
    shop.entitlement("buyer", "alice-1", valid_from=quotas.utcnow() - dt.timedelta(days=9),
                     valid_until=quotas.utcnow() - dt.timedelta(days=1))
    with app.app_context():
        item, asset = _product(app, "alice-1")
        with pytest.raises(DownloadRefused) as expired:
            quotas.grant_download(buyer, item, asset, SIZE, RequestMeta())
        assert expired.value.rule == "license-expired" and "expired on" in expired.value.detail
        rules = db.session.scalars(select(MeterEvent.rule).order_by(MeterEvent.id)).all()
        assert rules == ["no-license", "license-expired"]
        assert db.session.scalar(select(func.count()).select_from(DownloadReservation)) == 0
