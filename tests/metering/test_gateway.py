"""The download gateway against a live server and the real S3 store: whole files and ranges byte for
byte, conditional requests, the headers, allowances falling, COUNTER counting, refusals and streams."""
from __future__ import annotations

import hashlib
import os

import pytest
from sqlalchemy import select

from exchange.core.db import db
from exchange.metering.models import MeterEvent

pytestmark = pytest.mark.usefixtures("backend")


def events(shop, **where) -> list[MeterEvent]:
    with shop.live.app.app_context():
        rows = list(db.session.scalars(select(MeterEvent).filter_by(**where).order_by(MeterEvent.id)))
        db.session.expunge_all()
        return rows


def test_a_licensee_downloads_the_whole_file(shop):
    data = os.urandom(3 * 1024 * 1024 + 17)
    path = shop.stored_file("alice-1", data)
    licence = shop.entitlement("buyer", "alice-1", bytes_allowed=10 * len(data))
    answer = shop.api("GET", path, "buyer")
    assert answer.status_code == 200, answer.text
    assert answer.content == data
    sha = hashlib.sha256(data).hexdigest()
    assert answer.headers["ETag"] == f'"{sha}"'
    assert answer.headers["Accept-Ranges"] == "bytes"
    assert answer.headers["Content-Length"] == str(len(data))
    assert answer.headers["Content-Type"] == "image/tiff"
    assert answer.headers["Cache-Control"] == "private, no-store"
    assert answer.headers["Content-Disposition"] == "attachment; filename=\"scene.tif\"; filename*=UTF-8''scene.tif"
    assert answer.headers["SDX-License-Id"] == licence
    assert answer.headers["SDX-Downloads-Remaining"] == "2"
    assert answer.headers["SDX-Bytes-Remaining"] == str(9 * len(data))
    row = shop.read_entitlement(licence)
    assert (row.bytes_used, row.bytes_reserved) == (len(data), 0)
    [event] = events(shop, item_id="alice-1")
    assert (event.status, event.bytes_sent, event.counted, event.method) == (200, len(data), True, "GET")
