"""Property indexes (issue 10 item 8): the collection's provider or an admin asks for an index on a property;
it is built after the commit and a filter on that property within the collection uses it."""
from __future__ import annotations

import json
import time
import uuid

import pytest
from sqlalchemy import select, text

from exchange.policy import SYSTEM
from tests.catalog.test_tenancy import ITEM, token_for
from tests.conftest import serving

PATH = "/stac/collections/orbits/property-indexes"


def load_orbits(live) -> str:
    """A provider's collection of items carrying ``sat:relative_orbit`` (numbers) and ``s2:mgrs_tile``
    (strings); the provider's token."""
    token = token_for(live, "olga@o.example", "Orbit Sat")
    assert live.api("POST", "/stac/collections", token, json={"id": "orbits", "description": "o"}).status_code == 201
    for n in range(1, 31):
        doc = json.loads(json.dumps(ITEM))
        doc["id"] = f"o{n}"
        doc["properties"].update({"sat:relative_orbit": n, "s2:mgrs_tile": f"T{n:02d}ABC"})
        assert live.api("POST", "/stac/collections/orbits/items", token, json=doc).status_code == 201
    return token


def drop_orbit_indexes(app) -> None:
    """The tables are emptied after each test; the indexes a test made go here."""
    with app.app_context():
        from sqlalchemy import text

        from exchange.catalog.property_indexes import drop_sql_index
        from exchange.core.db import PROPERTY_INDEX_PREFIX, db

        listing = "SELECT indexname FROM pg_indexes" if db.engine.dialect.name == "postgresql" else \
            "SELECT name FROM sqlite_master WHERE type = 'index'"
        names = [n for n in db.session.scalars(text(listing)) if n.startswith(PROPERTY_INDEX_PREFIX)]
        db.session.rollback()
        for name in names:
            drop_sql_index(name)


@pytest.fixture
def orbits(live):
    yield load_orbits(live)
    drop_orbit_indexes(live.app)


def test_the_owner_asks_for_an_index_which_is_built_listed_and_dropped(live, orbits, backend):
    answer = live.api("POST", PATH, orbits, json={"name": "sat:relative_orbit", "kind": "number"})
    assert answer.status_code == 202, answer.json()
    assert answer.json()["status"] == "ready" and answer.json()["index"].startswith("ixp_")  # embedded: built at once
    assert live.api("POST", PATH, orbits, json={"name": "properties.s2:mgrs_tile", "kind": "string"}).status_code == 202
    listed = live.api("GET", PATH, orbits).json()["indexes"]
    assert [(i["name"], i["kind"], i["status"]) for i in listed] == \
        [("s2:mgrs_tile", "string", "ready"), ("sat:relative_orbit", "number", "ready")]
    again = live.api("POST", PATH, orbits, json={"name": "sat:relative_orbit", "kind": "number"})
    assert again.status_code == 409
    search = {"collections": ["orbits"], "filter": "\"sat:relative_orbit\" < 4 AND \"s2:mgrs_tile\" > 'T01'"}
    found = live.api("POST", "/stac/search", orbits, json=search).json()["features"]
    assert sorted(f["id"] for f in found) == ["o1", "o2", "o3"]
    assert live.api("DELETE", f"{PATH}/properties.sat:relative_orbit", orbits).status_code == 204
    assert [i["name"] for i in live.api("GET", PATH, orbits).json()["indexes"]] == ["s2:mgrs_tile"]
    assert live.api("DELETE", f"{PATH}/sat:relative_orbit", orbits).status_code == 404
    with live.app.app_context():
        from exchange.core.db import db

        catalogue = "SELECT indexname FROM pg_indexes" if backend == "postgresql" else \
            "SELECT name FROM sqlite_master WHERE type = 'index'"
        names = set(db.session.scalars(text(catalogue)))
    assert listed[0]["index"] in names and listed[1]["index"] not in names  # dropped from the database too


def test_only_the_owner_or_an_admin_may_index_and_bad_requests_are_422(live, orbits):
    buyer = token_for(live, "bea@b.example", "Buyer Co", roles=("buyer",), scopes="catalog:read")
    rival = token_for(live, "ron@r.example", "Rival Sat")
    body = {"name": "sat:relative_orbit", "kind": "number"}
    assert live.api("POST", PATH, json=body).status_code == 401
    assert live.api("GET", PATH).status_code == 401
    assert live.api("POST", PATH, buyer, json=body).status_code == 403
    assert live.api("POST", PATH, rival, json=body).status_code == 404  # its items are drafts: hidden, as absent
    assert live.api("GET", PATH, rival).status_code == 404
    assert live.api("DELETE", f"{PATH}/x", rival).status_code == 404
    assert live.api("POST", "/stac/collections/nosuch/property-indexes", orbits, json=body).status_code == 404
    bad = live.api("POST", PATH, orbits, json={"name": "a'b", "kind": "date"})
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} == {"/name", "/kind"}
    assert live.api("POST", PATH, orbits, json={"name": "gsd", "kind": "number"}).status_code == 422
    assert live.api("GET", PATH, orbits).json()["indexes"] == []  # a refused request changes nothing
    admin = token_for(live, "ada@p.example", "Platform Ops", roles=("admin",), scopes="catalog:read catalog:write")
    assert live.api("POST", PATH, admin, json=body).status_code == 202
    assert live.api("DELETE", f"{PATH}/sat:relative_orbit", admin).status_code == 204
    with live.app.app_context():  # published: the rival sees the collection, and may still not index it
        from sqlalchemy import update

        from exchange.catalog.models import Item, ItemStatus
        from exchange.core.db import db

        db.session.execute(update(Item).values(status=ItemStatus.published))
        db.session.commit()
    assert live.api("POST", PATH, rival, json=body).status_code == 403
    assert live.api("GET", PATH, rival).status_code == 403


def test_the_cli_indexes_a_property(live, orbits):
    result = live.app.test_cli_runner().invoke(
        args=["sdx", "index-property", "orbits", "s2:mgrs_tile", "--kind", "string"])
    assert result.exit_code == 0 and ": ready" in result.output, result.output
    assert [i["status"] for i in live.api("GET", PATH, orbits).json()["indexes"]] == ["ready"]
    result = live.app.test_cli_runner().invoke(args=["sdx", "index-property", "orbits", "x", "--kind", "boolean"])
    assert result.exit_code != 0


def test_a_filter_on_an_indexed_property_within_the_collection_uses_the_index(live, orbits, backend):
    """The search's own conditions (as the page and the count use them), EXPLAINed."""
    answer = live.api("POST", PATH, orbits, json={"name": "sat:relative_orbit", "kind": "number"}).json()
    with live.app.app_context():
        from exchange.catalog import planner, query, service
        from exchange.catalog.ordering import order_of
        from exchange.catalog.models import Item
        from exchange.catalog.search import build_request
        from exchange.core.db import db

        request = build_request({"collections": ["orbits"], "filter": "\"sat:relative_orbit\" < 3"}, from_get=False)
        conditions = query.conditions(request, order_of(request, lambda: None), visible=service.visible_items(SYSTEM),
                                      scope=lambda: service._scope(SYSTEM, None), collection_id=None)[0]
        statement = select(Item.key).where(*conditions)
        db.session.execute(text("ANALYZE items"))
        if backend == "postgresql":
            db.session.execute(text("SET LOCAL enable_seqscan = off"))  # 30 rows: a scan would be cheaper anyway
            plan = json.dumps(db.session.execute(planner.Explain(statement)).scalar())
        else:
            compiled = statement.compile(dialect=db.engine.dialect)
            plan = str(db.session.connection().exec_driver_sql(
                f"EXPLAIN QUERY PLAN {compiled.string}", tuple(compiled.params[n] for n in compiled.positiontup)).all())
        db.session.rollback()
    assert answer["index"] in plan, plan


def test_a_built_index_comes_with_statistics_of_its_values(live, orbits, backend):
    """Without them the planner guesses 0.5 % of the collection for any value and, at millions of items,
    walks the datetime index instead of this one."""
    answer = live.api("POST", PATH, orbits, json={"name": "sat:relative_orbit", "kind": "number"}).json()
    with live.app.app_context():
        from exchange.core.db import db

        if backend == "postgresql":  # an expression index's statistics are listed under its name
            seen = db.session.scalar(text("SELECT count(*) FROM pg_stats WHERE tablename = :name"),
                                     {"name": answer["index"]})
        else:
            seen = db.session.scalar(text("SELECT count(*) FROM sqlite_stat1 WHERE idx = :name"),
                                     {"name": answer["index"]})
    assert seen >= 1


def test_with_a_broker_the_index_is_building_until_a_worker_has_built_it(make_app, redis_url):
    from celery.contrib.testing.worker import start_worker

    with serving(make_app, BROKER_URL=redis_url) as live:
        celery = live.app.extensions["celery"]
        celery.conf.task_default_queue = f"sdx-test-{uuid.uuid4().hex[:8]}"
        token = load_orbits(live)
        answer = live.api("POST", PATH, token, json={"name": "sat:relative_orbit", "kind": "number"})
        assert answer.status_code == 202 and answer.json()["status"] == "building"
        with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=10.0):
            deadline = time.monotonic() + 60
            while live.api("GET", PATH, token).json()["indexes"][0]["status"] == "building":
                assert time.monotonic() < deadline, "no worker built the index"
                time.sleep(0.2)
        assert live.api("GET", PATH, token).json()["indexes"][0]["status"] == "ready"
        drop_orbit_indexes(live.app)
