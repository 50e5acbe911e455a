"""The combining rule on one product and in SQL: a few hand-made cases on both backends (the
property-based agreement test generates many more)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from shapely.geometry import box, mapping
from sqlalchemy import select

from exchange.catalog.models import Collection, Item, ItemStatus
from exchange.core.db import db
from exchange.policy import SYSTEM
from exchange.sharing import evaluation, service
from tests.conftest import add_user, identity_for

NOW = datetime.now(timezone.utc)


@pytest.fixture
def world(app):
    with app.app_context():
        yield _world()


def _world() -> dict:
    provider = add_user("p@example.com", roles=("provider",), org="Provider", kind="provider")
    gov = add_user("g@example.com", org="Gov", kind="government")
    buyer = add_user("b@example.com", org="Buyers", kind="buyer")
    admin = add_user("a@example.com", roles=("admin",), org="Platform", kind="platform")
    db.session.add(Collection(id="c1", owner_org_id=provider.org_id, data={}))
    items = {}
    for name, where, gsd, age in (("inside", box(0, 0, 1, 1), 0.3, 10), ("outside", box(10, 10, 11, 11), 10.0, 200),
                                  ("no-gsd", box(20, 20, 21, 21), None, 5)):
        moment = NOW - timedelta(days=age)
        item = Item(collection_id="c1", item_id=name, provider_org_id=provider.org_id, status=ItemStatus.published,
                    dt_start=moment, dt_end=moment, gsd=gsd, minx=where.bounds[0], miny=where.bounds[1],
                    maxx=where.bounds[2], maxy=where.bounds[3], geometry=where, data={"properties": {}})
        db.session.add(item)
        items[name] = item
    db.session.commit()
    scopes = "catalog:read data:download orders:write"
    return {"provider": identity_for(provider, scopes), "gov": identity_for(gov, scopes),
            "buyer": identity_for(buyer, scopes), "admin": identity_for(admin, scopes), "items": items}


def _policy(**document) -> None:
    service.create_policy(SYSTEM, {"name": "p", **document}, own=False)


def _searched(identity) -> set[str]:
    return set(db.session.scalars(select(Item.item_id).where(evaluation.discoverable(identity, Item))))


def test_a_sensitive_region_hides_its_products_from_all_but_government(world):
    _policy(target={"region": mapping(box(-1, -1, 2, 2))}, actions=["discover"], effect="deny",
            **{"except": {"org_kinds": ["government"]}})
    inside = world["items"]["inside"]
    assert not evaluation.evaluate(world["buyer"], "discover", inside).allowed
    assert evaluation.evaluate(world["buyer"], "discover", inside).rule == "policy-deny"
    assert evaluation.evaluate(world["gov"], "discover", inside).allowed
    assert evaluation.evaluate(world["provider"], "download", inside).allowed  # its own product
    assert _searched(world["buyer"]) == {"outside", "no-gsd"}
    assert _searched(world["gov"]) == {"inside", "outside", "no-gsd"}
    assert _searched(world["admin"]) == {"inside", "outside", "no-gsd"}
    # what one may not discover one may not license either
    assert evaluation.evaluate(world["buyer"], "license", inside).rule == "policy-deny"


def test_a_missing_gsd_never_matches_a_gsd_constraint_and_never_hides_a_product(world):
    _policy(target={"collections": ["c1"]}, constraints={"gsd_lt": 0.5}, actions=["discover"], effect="deny")
    assert _searched(world["buyer"]) == {"outside", "no-gsd"}
    assert evaluation.evaluate(world["buyer"], "discover", world["items"]["no-gsd"]).allowed


def test_require_approval_and_free_access(world):
    _policy(target={"collections": ["c1"]}, constraints={"min_age_days": 90}, actions=["download"], effect="permit",
            free_access=True, duties={"attribution": "Contains data © Provider"})
    old, new = world["items"]["outside"], world["items"]["inside"]
    decision = evaluation.evaluate(world["buyer"], "download", old)
    assert decision.allowed and decision.free_access and decision.attributions == ("Contains data © Provider",)
    assert evaluation.evaluate(world["buyer"], "download", new).effect is None  # not yet 90 days: base rules
    _policy(target={"collections": ["c1"]}, assignee={"verified": False}, actions=["download"],
            effect="require_approval")
    assert evaluation.evaluate(world["buyer"], "download", old).rule == "approval-required"
