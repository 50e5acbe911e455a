"""One decision, two forms: for generated organisations, items, policies and approvals, what
``decide(identity, "item:read", item)`` answers for each product is exactly what the catalogue's
search service returns to that caller (and how many it says match), on both backends.

The policies are written through the sharing service (so through the schema an administrator's JSON
goes through) and cover every part of a policy that narrows discovery: collections, a CQL2 filter on
a document property, a region, age, date-window and gsd constraints, purposes, assignee kinds, ids,
the verified flag and ``except``; effects permit, deny and require_approval, with approved (and
expired or pending) access requests lifting the hold or not.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings, strategies as st
from shapely.geometry import box, mapping
from sqlalchemy import delete, select

from auth.models import Organisation
from exchange.catalog import service as catalog
from exchange.catalog.models import Collection, Item, ItemStatus
from exchange.catalog.search import SearchRequest
from exchange.core.db import db
from exchange.policy import ANONYMOUS, SYSTEM, decide
from exchange.sharing import service
from exchange.sharing.models import AccessRequest, AccessRequestState, SharingPolicy, SharingPolicyVersion
from tests.conftest import add_user, identity_for

NOW = datetime.now(timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)
#: name -> kind; P owns c1 and c2, Q owns c3.
ORGS = {"P": "provider", "Q": "provider", "G": "government", "R": "research", "B1": "buyer", "B2": "buyer"}
COLLECTIONS = {"c1": "P", "c2": "P", "c3": "Q"}
#: Footprints on a row of cells, and regions over some of them (one straddles two cells' edges).
CELLS = [box(x, 0, x + 0.9, 0.9) for x in range(4)]
REGIONS = [box(-0.5, -0.5, 0.5, 0.5), box(1.5, 0.2, 2.2, 0.4), box(2.95, 0.95, 5, 5)]

items = st.lists(st.fixed_dictionaries({
    "collection": st.sampled_from(sorted(COLLECTIONS)),
    "status": st.sampled_from([ItemStatus.published] * 4 + [ItemStatus.draft]),
    "gsd": st.sampled_from([None, 0.3, 0.5, 2.0, 10.0]),
    "age_days": st.sampled_from([1, 29, 45, 91, 400]),  # at noon: never on a whole-day boundary
    "cell": st.integers(0, len(CELLS) - 1),
    "landcover": st.sampled_from([None, "urban", "forest", 7]),  # absent, two strings, another JSON type
}), min_size=1, max_size=7)


#: The parts of a policy that narrow it (whom it names, which products): each policy sets a few of
#: them, so that most policies apply to someone and something.
NARROWING = {"collections": [], "filter": None, "region": None, "ages": (None, None), "window": [], "gsd": {},
             "purposes": [], "kinds": [], "ids": [], "verified": None, "except_kinds": [], "except_ids": []}

policies = st.lists(st.fixed_dictionaries({
    "narrowed_by": st.sets(st.sampled_from(sorted(NARROWING)), max_size=3),
    "collections": st.sampled_from([["c1"], ["c1", "c3"], ["c2"]]),
    "filter": st.sampled_from([{"op": "=", "args": [{"property": "landcover"}, "urban"]},
                               {"op": "<>", "args": [{"property": "landcover"}, "forest"]},
                               {"op": "<", "args": [{"property": "gsd"}, 1]}]),
    "region": st.sampled_from(list(range(len(REGIONS)))),
    "ages": st.sampled_from([(30, None), (90, None), (None, 30), (None, 365), (30, 90)]),
    "window": st.sampled_from([[200], [60, 10], [10], [400, 30]]),  # days ago: from[, until]
    "gsd": st.sampled_from([{"gsd_lt": 0.5}, {"gsd_gte": 0.5}, {"gsd_gte": 1, "gsd_lt": 5}]),
    "purposes": st.sampled_from([["research"]]),
    "kinds": st.sampled_from([["buyer"], ["government", "research"], ["provider"]]),
    "ids": st.sampled_from([["B1"], ["G", "R"], ["P"]]),
    "verified": st.sampled_from([True, False]),
    "except_kinds": st.sampled_from([["government"], ["buyer"]]),
    "except_ids": st.sampled_from([["B2"], ["R"]]),
    "actions": st.sampled_from([["discover"], ["discover"], ["discover", "license"], ["license", "download"],
                                ["view_footprint"]]),
    "effect": st.sampled_from(["require_approval", "deny", "permit"]),  # Hypothesis favours the first
}), min_size=1, max_size=4)

approvals = st.lists(st.fixed_dictionaries({
    "org": st.sampled_from(["B1", "B1", "G", "R", "P"]),
    "on": st.one_of(st.integers(0, 1), st.sampled_from(sorted(COLLECTIONS))),  # an item (by position) or collection
    "state": st.sampled_from([AccessRequestState.approved, AccessRequestState.approved, AccessRequestState.pending]),
    "valid_days": st.sampled_from([None, 30, -1]),  # open-ended, running, expired
}), min_size=1, max_size=4)


def _world() -> tuple[dict, dict]:
    """The organisations (one member each) and their collections."""
    members, orgs = {}, {}
    for name, kind in ORGS.items():
        user = add_user(f"{name.lower()}@agree.example", roles=("provider",) if kind == "provider" else ("buyer",),
                        org=f"Org {name}", kind=kind)
        members[name], orgs[name] = user, user.org_id
    db.session.add_all([Collection(id=cid, owner_org_id=orgs[owner], data={}) for cid, owner in COLLECTIONS.items()])
    db.session.commit()
    identities = {name: identity_for(user, "catalog:read") for name, user in members.items()}
    identities["anonymous"] = ANONYMOUS
    return orgs, identities


def _document(spec: dict, orgs: dict) -> dict:
    spec = {**spec, **{part: empty for part, empty in NARROWING.items() if part not in spec["narrowed_by"]}}
    minimum, maximum = spec["ages"]
    if None not in (minimum, maximum) and minimum > maximum:
        minimum, maximum = maximum, minimum
    window = spec["window"]
    constraints = {"min_age_days": minimum, "max_age_days": maximum, "purposes": spec["purposes"], **spec["gsd"]}
    if window:
        constraints["from"] = (NOW - timedelta(days=window[0])).isoformat()
        if len(window) == 2:
            constraints["until"] = (NOW - timedelta(days=window[1])).isoformat()
    target = {"collections": spec["collections"], "filter": spec["filter"]}
    if spec["region"] is not None:
        target["region"] = mapping(REGIONS[spec["region"]])
    return {"name": "generated", "target": target, "actions": spec["actions"], "effect": spec["effect"],
            "assignee": {"org_kinds": spec["kinds"], "org_ids": [str(orgs[n]) for n in spec["ids"]],
                         "verified": spec["verified"]},
            "except": {"org_kinds": spec["except_kinds"], "org_ids": [str(orgs[n]) for n in spec["except_ids"]]},
            "constraints": constraints}


def _write(orgs: dict, verified: set, generated_items: list, generated_policies: list, requests: list) -> list[Item]:
    for model in (AccessRequest, SharingPolicyVersion, SharingPolicy, Item):
        db.session.execute(delete(model))
    for name, org_id in orgs.items():
        db.session.get(Organisation, org_id).verified = name in verified
    rows = []
    for n, spec in enumerate(generated_items):
        moment = NOW - timedelta(days=spec["age_days"])
        where = CELLS[spec["cell"]]
        props = {} if spec["landcover"] is None else {"landcover": spec["landcover"]}
        rows.append(Item(collection_id=spec["collection"], item_id=f"i{n}", status=spec["status"],
                         provider_org_id=orgs[COLLECTIONS[spec["collection"]]], dt_start=moment, dt_end=moment,
                         gsd=spec["gsd"], minx=where.bounds[0], miny=where.bounds[1], maxx=where.bounds[2],
                         maxy=where.bounds[3], geometry=where, data={"properties": props}))
    db.session.add_all(rows)
    db.session.flush()
    for spec in requests:
        on_item = isinstance(spec["on"], int)
        if on_item and spec["on"] >= len(rows):
            continue
        target = rows[spec["on"]] if on_item else None
        collection = target.collection_id if on_item else spec["on"]
        db.session.add(AccessRequest(
            org_id=orgs[spec["org"]], provider_org_id=orgs[COLLECTIONS[collection]], purpose="research",
            item_key=target.key if on_item else None, collection_id=None if on_item else collection,
            state=spec["state"], expires_at=NOW + timedelta(days=30),
            valid_until=None if spec["valid_days"] is None else NOW + timedelta(days=spec["valid_days"])))
    db.session.commit()
    for spec in generated_policies:
        service.create_policy(SYSTEM, _document(spec, orgs), own=False)
    return list(db.session.scalars(select(Item).order_by(Item.key)))


def test_decide_and_search_agree_for_every_caller_and_product(app):
    with app.app_context():
        orgs, identities = _world()

    @settings(max_examples=70, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(generated_items=items, generated_policies=policies, requests=approvals,
           verified=st.sets(st.sampled_from(sorted(ORGS))))
    def check(generated_items, generated_policies, requests, verified):
        with app.app_context():
            rows = _write(orgs, verified, generated_items, generated_policies, requests)
            for name, identity in identities.items():
                allowed = {row.item_id for row in rows if decide(identity, "item:read", row).allowed}
                page = catalog.search(identity, SearchRequest(limit=100))
                assert {row.item_id for row in page.items} == allowed, name
                assert page.matched.exact == len(allowed), name
                first = catalog.search(identity, SearchRequest(limit=1))  # counted, not taken from the page
                assert (first.matched.exact if first.matched.exact is not None else first.matched.estimate) \
                    == len(allowed), name

    check()


def test_the_generated_worlds_are_not_vacuous(app):
    """The agreement means something: a policy the generator can write does hide and show products."""
    with app.app_context():
        orgs, identities = _world()
        spec = {"narrowed_by": {"collections", "filter", "except_kinds"}, "collections": ["c1"], "filter": {"op": "=", "args": [{"property": "landcover"}, "urban"]},
                "region": None, "ages": (None, None), "window": [], "gsd": {}, "purposes": [], "kinds": [], "ids": [],
                "verified": None, "except_kinds": ["government"], "except_ids": [], "actions": ["discover"],
                "effect": "deny"}
        item = {"collection": "c1", "status": ItemStatus.published, "gsd": 1.0, "age_days": 1, "cell": 0}
        rows = _write(orgs, set(), [dict(item, landcover="urban"), dict(item, landcover="forest")], [spec], [])
        seen = {name: {row.item_id for row in catalog.search(identity, SearchRequest()).items}
                for name, identity in identities.items()}
        assert seen["B1"] == seen["R"] == seen["anonymous"] == {"i1"}
        assert seen["G"] == seen["P"] == {"i0", "i1"}
        assert decide(identities["B1"], "item:read", rows[0]).rule == "policy-deny"
        # an approved request lifts a hold, an expired one does not
        hold = dict(spec, effect="require_approval")
        _write(orgs, set(), [dict(item, landcover="urban")], [hold],
               [{"org": "B1", "on": 0, "state": AccessRequestState.approved, "valid_days": None},
                {"org": "B2", "on": "c1", "state": AccessRequestState.approved, "valid_days": -1}])
        assert [len(catalog.search(identities[n], SearchRequest()).items) for n in ("B1", "B2")] == [1, 0]
