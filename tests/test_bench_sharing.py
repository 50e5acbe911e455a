"""bench/sharing.py at a tiny scale: it loads items, writes its mixed policies through the service,
and its search and decision timings run with the policies on and off — and the policies it writes
do hide products from the buyer's search, so the "with" figures measure something."""
import pytest

from bench.catalog_search import load
from bench.sharing import SHAPES, World, measure, plan_searches, report, search_once, seed_world, set_active
from exchange.catalog import service
from exchange.catalog.search import build_request
from exchange.core.db import db

ITEMS = 210


def _found(app, world: World) -> int:
    with app.test_request_context("/stac/search"):
        page = service.search(world.buyer, build_request({"limit": "1000"}, from_get=True))
        found = len(page.items)
        db.session.remove()
    return found


@pytest.mark.committed  # loads items and policies through services that commit
def test_the_sharing_bench_measures_search_and_decisions_with_and_without_policies(app, tmp_path):
    load(app, ITEMS, 30, 7, False, 1, str(tmp_path))
    world = seed_world(app, 50)
    assert len(world.policy_ids) == 50

    set_active(app, False)
    assert _found(app, world) == ITEMS
    set_active(app, True)
    assert 0 < _found(app, world) < ITEMS  # the policies hide some products from the buyer, not all

    times = measure(app, world, requests=4, rounds=2, warmup=1)
    assert set(times) == {*SHAPES, "item:read", "download"}
    assert all(len(times[name][state]) == 4 for name in times for state in ("on", "off"))
    lines = report(times, ITEMS, 50)
    assert len(lines) == 1 + len(SHAPES) + 2 and "p95 ratio" in lines[1]
    assert all(search_once(app, world.buyer, params) > 0 for params in (p[0] for p in plan_searches(1, 3).values()))
