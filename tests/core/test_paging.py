"""The shared cursor helper: what a listing hands out comes back as it was, and nothing else gets in."""
from __future__ import annotations

import pytest

from exchange.core import paging


def test_a_cursor_round_trips_and_is_opaque():
    cursor = paging.encode({"d": "next", "v": ["2024-05-01T10:00:00+00:00", 42]})
    assert cursor.replace("-", "").replace("_", "").isalnum() and "=" not in cursor
    assert paging.decode(cursor) == {"d": "next", "v": ["2024-05-01T10:00:00+00:00", 42]}
    assert paging.decode_key(paging.encode("a-client-id")) == "a-client-id"


@pytest.mark.parametrize("cursor", ["garbage!", "", "\x00", paging.encode([[["deep"]]]), "A" * 20_000,
                                    paging.encode(["not", "a", "key"])])
def test_a_cursor_not_issued_here_is_refused(cursor):
    with pytest.raises(paging.BadCursor):
        paging.decode_key(cursor)


def test_a_page_is_cut_from_one_row_more_than_its_limit():
    assert paging.cut([1, 2, 3], 2) == ([1, 2], True)
    assert paging.cut([1, 2], 2) == ([1, 2], False)


def test_the_next_link_keeps_the_request_and_replaces_its_cursor():
    assert paging.link("https://x.example/stac/search", {"limit": "2", "token": "old"}, "new") \
        == "https://x.example/stac/search?limit=2&token=new"
