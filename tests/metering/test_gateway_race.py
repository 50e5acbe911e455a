"""Ten downloads at once against an allowance of two: exactly two get the file, on both backends —
whether the allowance is bytes (one user) or downloads per asset (ten users of one organisation)."""
from __future__ import annotations

import os
import threading
from collections import Counter

import pytest
import requests

from tests.conftest import serving
from tests.metering.meter import entitlement, events

pytestmark = pytest.mark.usefixtures("backend")


N = 10
SIZE = 2 * 1024 * 1024


@pytest.fixture
def live(make_app):
    """The shop's server with a stream cap no test here reaches: only the allowance refuses."""
    with serving(make_app, DOWNLOAD_MAX_STREAMS=50) as server:
        yield server


def race(url: str, tokens: list[str]) -> list[requests.Response]:
    """GET ``url`` once per token, all threads released together."""
    start = threading.Barrier(len(tokens))
    answers: list = [None] * len(tokens)

    def fetch(n: int) -> None:
        start.wait()
        answers[n] = requests.get(url, headers={"Authorization": f"Bearer {tokens[n]}"}, timeout=60)

    threads = [threading.Thread(target=fetch, args=(n,)) for n in range(len(tokens))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def outcome(answers: list[requests.Response], data: bytes) -> Counter:
    seen = Counter()
    for answer in answers:
        if answer.status_code == 200:
            assert answer.content == data
            seen[200] += 1
        else:
            seen[(answer.status_code, answer.json()["rule"])] += 1
    return seen


def test_ten_downloads_by_one_user_against_bytes_for_two(shop):
    data = os.urandom(SIZE)
    path = shop.stored_file("alice-1", data)
    licence = shop.entitlement("buyer", "alice-1", bytes_allowed=2 * SIZE, downloads_per_asset=None)
    answers = race(shop.live.url + path, [shop.tokens["buyer"]] * N)
    assert outcome(answers, data) == {200: 2, (403, "bytes-used-up"): N - 2}
    row = entitlement(shop, licence)
    assert (row.bytes_used, row.bytes_reserved) == (2 * SIZE, 0)
    metered = events(shop, item_id="alice-1")
    assert sorted((e.status, e.bytes_sent, e.rule) for e in metered) == sorted(
        [(200, SIZE, None)] * 2 + [(403, 0, "bytes-used-up")] * (N - 2))


def test_ten_users_of_one_organisation_against_two_downloads_per_asset(shop):
    data = os.urandom(SIZE)
    path = shop.stored_file("alice-1", data)
    licence = shop.entitlement("buyer", "alice-1", bytes_allowed=None, downloads_per_asset=2)
    tokens = []
    for n in range(N):
        email = f"member{n}@meter.example"
        shop.live.user(email, roles=["buyer"], org="Org buyer")
        client_id, _ = shop.live.client(email, "data:download")
        tokens.append(shop.live.minted_token(client_id))
    answers = race(shop.live.url + path, tokens)
    assert outcome(answers, data) == {200: 2, (403, "downloads-used-up"): N - 2}
    row = entitlement(shop, licence)
    assert (row.bytes_used, row.bytes_reserved) == (2 * SIZE, 0)
    metered = events(shop, item_id="alice-1")
    assert sum(e.counted for e in metered) == 2 and len({e.user_id for e in metered}) == N
