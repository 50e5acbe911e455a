"""The read rules' two forms agree: what ``decide`` allows for one item (or collection) is exactly
what the rule's query form selects, on both backends, for every kind of caller."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from shapely.geometry import box
from sqlalchemy import delete, select

from auth import service
from auth.models import OrgStatus, Role
from exchange.catalog.models import Collection, Item, ItemStatus
from exchange.catalog.service import visible_collections, visible_items
from exchange.core.db import db
from exchange.policy import ANONYMOUS, SYSTEM, Identity, decide

#: collection id -> owning organisation; "empty" never gets an item.
COLLECTIONS = {"a1": "A", "a2": "A", "b1": "B", "empty": "B"}
ITEMS = st.lists(st.tuples(st.sampled_from(["a1", "a2", "b1"]), st.sampled_from(list(ItemStatus)),
                           st.sampled_from(["A", "B"])), max_size=6)


def _identities(orgs: dict[str, uuid.UUID]) -> dict[str, Identity]:
    def member(role: Role, org: str, status: OrgStatus = OrgStatus.active) -> Identity:
        return Identity(user_id=uuid.uuid4(), org_id=orgs[org], roles=frozenset({role}), org_status=status)

    return {"anonymous": ANONYMOUS, "system": SYSTEM, "buyer": member(Role.buyer, "buyers"),
            "provider A": member(Role.provider, "A"), "provider B": member(Role.provider, "B"),
            "admin": member(Role.admin, "platform"),
            "suspended provider A": member(Role.provider, "A", OrgStatus.suspended),
            "pending admin": member(Role.admin, "platform", OrgStatus.pending),
            "buyer-provider A": Identity(user_id=uuid.uuid4(), org_id=orgs["A"], org_status=OrgStatus.active,
                                         roles=frozenset({Role.buyer, Role.provider}))}


def _setup(app) -> dict[str, Identity]:
    with app.app_context():
        orgs = {}
        for name, kind in (("A", "provider"), ("B", "provider"), ("buyers", "buyer"), ("platform", "platform")):
            orgs[name] = service.create_org(SYSTEM, {"name": f"Org {name}", "kind": kind}).id
        db.session.add_all([Collection(id=cid, owner_org_id=orgs[owner], data={})
                            for cid, owner in COLLECTIONS.items()])
        db.session.commit()
        return orgs


def _insert(items, orgs) -> None:
    db.session.execute(delete(Item))
    moment = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for n, (collection, status, owner) in enumerate(items):
        db.session.add(Item(collection_id=collection, item_id=f"i{n}", provider_org_id=orgs[owner], status=status,
                            dt_start=moment, dt_end=moment, minx=0, miny=0, maxx=1, maxy=1,
                            geometry=box(0, 0, 1, 1), data={}))
    db.session.commit()


@pytest.mark.parametrize("action, model, key, visible", [
    ("item:read", Item, Item.key, visible_items),
    ("collection:read", Collection, Collection.id, visible_collections),
], ids=["items", "collections"])
def test_read_rule_per_object_and_query_forms_agree(app, action, model, key, visible):
    orgs = _setup(app)
    identities = _identities(orgs)

    @settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(items=ITEMS)
    def check(items):
        with app.app_context():
            _insert(items, orgs)
            rows = list(db.session.scalars(select(model)))
            for name, identity in identities.items():
                listed = set(db.session.scalars(select(key).where(visible(identity))))
                for row in rows:
                    assert decide(identity, action, row).allowed == (getattr(row, key.key) in listed), (name, row)

    check()


def test_the_forms_name_what_a_user_sees(app):
    """The agreement is not vacuous: each caller sees what the catalogue promises them."""
    orgs = _setup(app)
    who = _identities(orgs)
    with app.app_context():
        _insert([("a1", ItemStatus.published, "A"), ("a2", ItemStatus.draft, "A"), ("b1", ItemStatus.withdrawn, "B")],
                orgs)

        def seen(identity):
            items = {i.item_id for i in db.session.scalars(select(Item).where(visible_items(identity)))}
            collections = set(db.session.scalars(select(Collection.id).where(visible_collections(identity))))
            return items, collections

        assert seen(who["anonymous"]) == ({"i0"}, {"a1"})
        assert seen(who["buyer"]) == ({"i0"}, {"a1"})
        assert seen(who["provider A"]) == ({"i0", "i1"}, {"a1", "a2"})
        assert seen(who["provider B"]) == ({"i0", "i2"}, {"a1", "b1", "empty"})
        assert seen(who["suspended provider A"]) == ({"i0"}, {"a1"})
        assert seen(who["admin"]) == ({"i0", "i1", "i2"}, set(COLLECTIONS))
        item = db.session.scalar(select(Item).where(Item.item_id == "i1"))
        assert decide(who["provider A"], "item:read", item).rule == "ownership"
        assert decide(who["buyer"], "item:read", item).rule == "unpublished"
