"""What the gateway's tests read back: the meter's rows and the licences once every response has
settled, and COUNTER's visits moved into the past."""
from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import func, select

from exchange.core.db import db, unit_of_work
from exchange.metering.models import DownloadReservation, DownloadVisit, MeterEvent

MIB = 1024 * 1024


def settled(shop, timeout: float = 20) -> None:
    """Wait for every response to settle: the client may read the last byte just before the server
    notices the end of the stream and settles it."""
    deadline = time.monotonic() + timeout
    while open_streams(shop) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert open_streams(shop) == 0


def entitlement(shop, licence: str):
    settled(shop)
    return shop.read_entitlement(licence)


def events(shop, wait_for: int = 0, **where) -> list[MeterEvent]:
    """The meter's rows, once every hold is settled (and at least ``wait_for`` rows are written: a file
    drawing on no allowance holds nothing, its row comes after its last byte)."""
    settled(shop)
    deadline = time.monotonic() + 20
    while True:
        with shop.live.app.app_context():
            rows = list(db.session.scalars(select(MeterEvent).filter_by(**where).order_by(MeterEvent.id)))
            db.session.expunge_all()
            db.session.remove()
        if len(rows) >= wait_for or time.monotonic() > deadline:
            return rows
        time.sleep(0.02)


def age_visits(shop, by: dt.timedelta = dt.timedelta(hours=1)) -> None:
    """Move every download visit into the past: the next request is past COUNTER's 30 s window."""
    settled(shop)
    with shop.live.app.app_context(), unit_of_work():
        for visit in db.session.scalars(select(DownloadVisit)):
            visit.first_at, visit.last_at = visit.first_at - by, visit.last_at - by


def days(n: int) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=n)


def open_streams(shop) -> int:
    with shop.live.app.app_context():
        count = db.session.scalar(select(func.count()).select_from(DownloadReservation)
                                  .where(DownloadReservation.settled_at.is_(None)))
        db.session.remove()
        return count
