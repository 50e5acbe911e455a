"""The Range, If-Range and If-None-Match rules on their own (the gateway's tests check them over HTTP)."""
from __future__ import annotations

import pytest

from exchange.metering.ranges import ByteRange, Unsatisfiable, not_modified, requested_range

ETAG = '"abc"'


@pytest.mark.parametrize("header, size, expected", [
    ("bytes=0-9", 100, (0, 9)), ("bytes= 5 - 9 ", 100, (5, 9)), ("BYTES=90-", 100, (90, 99)),
    ("bytes=-1", 100, (99, 99)), ("bytes=-1000", 100, (0, 99)), ("bytes=50-5000", 100, (50, 99)),
    ("bytes=0-", 1, (0, 0)),
])
def test_one_range(header, size, expected):
    found = requested_range(header, None, ETAG, size)
    assert (found.start, found.end, found.size) == (*expected, size)
    assert found.content_range() == f"bytes {expected[0]}-{expected[1]}/{size}"


@pytest.mark.parametrize("header", [None, "", "bytes=0-1,3-4", "bytes=9-2", "bytes=-", "bytes=a-b", "lines=0-1",
                                    "bytes=0-1;x", "bytes=1-2-3", "bytes=" + "9" * 5000 + "-",
                                    "bytes=-" + "9" * 20, "bytes=\u0661-\u0662", "bytes=" + " " * 8000 + "0-1x"])
def test_ignored_ranges_mean_the_whole_file(header):
    assert requested_range(header, None, ETAG, 100) is None


@pytest.mark.parametrize("header, size", [("bytes=100-", 100), ("bytes=100-200", 100), ("bytes=-0", 100),
                                          ("bytes=0-", 0), ("bytes=-5", 0)])
def test_unsatisfiable(header, size):
    with pytest.raises(Unsatisfiable) as raised:
        requested_range(header, None, ETAG, size)
    assert raised.value.size == size


def test_if_range_keeps_the_range_only_for_this_etag():
    assert requested_range("bytes=0-0", ETAG, ETAG, 10) == ByteRange(0, 0, 10)
    for validator in ('"other"', f"W/{ETAG}", "Fri, 27 Nov 2026 10:00:00 GMT", ""):
        assert requested_range("bytes=0-0", validator, ETAG, 10) is None


def test_if_none_match():
    assert not_modified(ETAG, ETAG) and not_modified(f'W/{ETAG}', ETAG) and not_modified("*", ETAG)
    assert not_modified(f'"x", {ETAG}', ETAG)
    assert not (not_modified(None, ETAG) or not_modified('"x"', ETAG) or not_modified("", ETAG))
