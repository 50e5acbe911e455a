"""What sharing policies cost: search and single-product decisions with 50 active policies against none.

    PYTHONPATH=. python bench/sharing.py [--items 100000] [--requests 200] [--policies 50]

One run: a fresh PostgreSQL+PostGIS database (migrated to head, dropped at the end unless ``--keep``),
``--items`` synthetic published items of bench/catalog_search.py (7 collections, one provider; loaded
and analysed as that bench does), a buyer organisation, and ``--policies`` sharing policies of mixed
shapes (``policy_documents``): platform and provider policies; targets by collection, by one of two
regions, by CQL2 filter, by gsd and age; assignees by kind, by organisation, by verification, with
exceptions and purposes; mostly ``deny`` / ``require_approval`` on ``discover`` (so search must apply
them), some permits on ``license`` / ``download``. The buyer holds one approved access request.

Prints:

1. Search p50/p95 per query shape (no filter, bbox, datetime, collection), each through the
   catalogue's search service (``exchange.catalog.service.search``, the path ``/stac/search`` takes,
   in a request context as a request has one, first page of 10 with its count) as the buyer: the
   policies active and inactive, alternating round by round in the same run; the ratio of the p95s
   (target <= 1.3).
2. ``decide(buyer, "item:read", product)`` and ``evaluation.evaluate(buyer, "download", product)`` for
   one product, each in a request context of its own: p50/p95 with the policies and without
   (target p95 <= 2 ms with them).

This is a benchmark, not a test: it prints figures and stops only if an answer is wrong.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import sqlalchemy as sa  # noqa: E402

from bench.catalog_search import (COLLECTIONS, DEFAULT_ADMIN_URL, DEFAULT_BATCH, DEFAULT_SEED, ORG,  # noqa: E402
                                  build_app, create_postgres_database, drop_postgres_database, free_port, load)

SCOPES = "catalog:read licenses:read data:download orders:write"
SHAPES = ("no filter", "bbox", "datetime", "collection")
EUROPE = {"type": "Polygon", "coordinates": [[[-10, 35], [30, 35], [30, 60], [-10, 60], [-10, 35]]]}
ANDES = {"type": "Polygon", "coordinates": [[[-80, -55], [-65, -55], [-60, 0], [-80, 10], [-80, -55]]]}


@dataclass
class World:
    buyer: object  # Identity
    provider: object  # Identity of a provider user of the items' organisation
    product_key: int  # the product the single-product decisions are asked about
    policy_ids: list[uuid.UUID]


def _cql2(n: int) -> dict:
    """A CQL2 filter of a few kinds, chosen by ``n``."""
    kinds = [
        {"op": ">", "args": [{"property": "eo:cloud_cover"}, 90 + n % 10]},
        {"op": "=", "args": [{"property": "platform"}, ("spot-7", "worldview-3", "skysat-c15")[n % 3]]},
        {"op": "and", "args": [{"op": "<", "args": [{"property": "gsd"}, 1]},
                               {"op": ">", "args": [{"property": "eo:cloud_cover"}, 95]}]},
    ]
    return kinds[n % len(kinds)]


def policy_documents(count: int, buyer_org_id: uuid.UUID, other_org_id: uuid.UUID) -> list[tuple[dict, bool]]:
    """``count`` policy documents, each with whether it is the provider's own (else the platform's).
    Each restricts a small slice of the catalogue, as real policies do; most name the buyer."""
    names = [spec.id for spec in COLLECTIONS]
    assignees = [{}, {"org_kinds": ["buyer"]}, {"org_ids": [str(buyer_org_id)]}, {"org_kinds": ["buyer", "research"]},
                 {"verified": False}, {"org_ids": [str(other_org_id)]}, {"org_kinds": ["government"]}]
    documents = []
    for n in range(count):
        kind = n % 10
        target: dict = {}
        constraints: dict = {}
        if kind in (0, 5):
            target = {"collections": [names[n % 7]], "filter": _cql2(n)}
        elif kind in (1, 6):
            target = {"region": EUROPE if n % 2 else ANDES, "collections": [names[n % 7]]}
        elif kind == 2:
            target = {"filter": _cql2(n)}
            constraints = {"max_age_days": 3650 + n}  # recent products
        elif kind == 3:
            target = {"collections": [names[n % 7], names[(n + 3) % 7]]}
            constraints = {"gsd_lt": 0.4, "min_age_days": 0} if n % 2 else {"gsd_gte": 30, "max_age_days": 3700}
        elif kind == 4:
            target = {"region": ANDES if n % 2 else EUROPE}
            constraints = {"gsd_lt": 0.5}
        elif kind == 7:
            target = {"collections": [names[n % 7]]}
            constraints = {"from": "2024-06-01T00:00:00+00:00", "until": "2024-06-30T00:00:00+00:00"}
        elif kind == 8:
            target = {"filter": _cql2(n), "region": EUROPE}
        else:
            target = {"collections": [names[n % 7]], "filter": _cql2(n + 1)}
            constraints = {"purposes": ["commercial"]} if n % 3 == 0 else {}
        if kind in (7, 9) and n % 4 == 1:  # some permits on the later uses
            actions, effect = ["license", "download"], "permit"
        else:
            actions, effect = ["discover"], ("deny", "require_approval")[n % 2]
        document = {"name": f"bench policy {n}", "target": target, "assignee": assignees[n % len(assignees)],
                    "actions": actions, "effect": effect, "constraints": constraints}
        if n % 11 == 3:
            document["except"] = {"org_kinds": ["government"]}
        documents.append((document, kind in (3, 7)))  # the provider writes its collection policies
    return documents


def seed_world(app, policies: int) -> World:
    """The buyer, a provider user of the items' organisation, ``policies`` active policies, and one
    approved access request of the buyer (so require_approval has something to let through)."""
    from auth import service as auth
    from auth.models import User
    from exchange.catalog.models import Item, ItemStatus
    from exchange.core.db import db, unit_of_work, utcnow
    from exchange.policy import SYSTEM, Identity
    from exchange.sharing import evaluation, service
    from exchange.sharing.models import AccessRequest, AccessRequestState, SharingPolicy

    def identity_of(user: User, scopes: str) -> Identity:
        return Identity(user_id=user.id, org_id=user.org_id, roles=frozenset(user.roles),
                        org_status=user.organisation.status, scopes=frozenset(scopes.split()))

    run = uuid.uuid4().hex[:6]
    with app.app_context():
        buyer_org = auth.create_org(SYSTEM, {"name": f"Bench Buyer {run}", "kind": "buyer"})
        other = auth.create_org(SYSTEM, {"name": f"Bench Other {run}", "kind": "buyer"})
        buyer = auth.create_user(SYSTEM, {"org": buyer_org.name, "email": f"buyer-{run}@bench.example",
                                          "password": uuid.uuid4().hex, "roles": ["buyer"]})
        maker = auth.create_user(SYSTEM, {"org": ORG, "email": f"provider-{run}@bench.example",
                                          "password": uuid.uuid4().hex, "roles": ["provider"]})
        world = World(identity_of(buyer, SCOPES), identity_of(maker, "catalog:read catalog:write"), 0, [])
        owned = []
        for document, own in policy_documents(policies, buyer_org.id, other.id):
            with app.test_request_context():
                policy = service.create_policy(SYSTEM, document, own=False)
            world.policy_ids.append(policy.id)
            if own:
                owned.append(policy.id)
        # made the provider's own here: create_policy(provider, own=True) asks its rule without an object
        db.session.execute(sa.update(SharingPolicy).where(SharingPolicy.id.in_(owned)).values(owner_org_id=maker.org_id))
        db.session.commit()
        # the product: a published one the buyer may discover, in a collection several policies target
        with app.test_request_context():
            item = db.session.scalar(sa.select(Item).where(
                Item.status == ItemStatus.published, Item.collection_id == COLLECTIONS[0].id,
                evaluation.discoverable(world.buyer, Item)).order_by(Item.key))
        world.product_key = item.key
        with unit_of_work():
            db.session.add(AccessRequest(org_id=buyer_org.id, requested_by=buyer.id, provider_org_id=maker.org_id,
                                         collection_id=COLLECTIONS[1].id, purpose="commercial",
                                         state=AccessRequestState.approved, expires_at=utcnow()))
        db.session.remove()
    return world


def set_active(app, active: bool) -> None:
    """All policies on or off at once (a benchmark's switch; the service deactivates one at a time)."""
    from exchange.core.db import db
    from exchange.sharing.models import SharingPolicy

    with app.app_context():
        db.session.execute(sa.update(SharingPolicy).values(active=active))
        db.session.commit()
        db.session.remove()


def plan_searches(count: int, seed: int) -> dict[str, list[dict]]:
    """``count`` GET /stac/search parameter sets per shape."""
    rng = random.Random(seed)
    plans: dict[str, list[dict]] = {shape: [] for shape in SHAPES}
    for _ in range(count):
        lon, lat = rng.uniform(-165, 160), rng.uniform(-55, 60)
        year, month = rng.randrange(2015, 2025), rng.randrange(1, 13)
        plans["no filter"].append({})
        plans["bbox"].append({"bbox": f"{lon:.3f},{lat:.3f},{lon + 5:.3f},{lat + 5:.3f}"})
        plans["datetime"].append({"datetime": f"{year}-{month:02d}-01T00:00:00Z/{year}-{month:02d}-28T00:00:00Z"})
        plans["collection"].append({"collections": rng.choice(COLLECTIONS).id})
    return plans


def search_once(app, identity, params: dict) -> float:
    """Seconds of one search as the route runs it: parse, search (page and count), read the rows."""
    from exchange.catalog import service
    from exchange.catalog.search import build_request
    from exchange.core.db import db

    with app.test_request_context("/stac/search", query_string=params):
        began = time.perf_counter()
        page = service.search(identity, build_request(dict(params), from_get=True))
        [item.item_id for item in page.items]
        elapsed = time.perf_counter() - began
        db.session.remove()
    return elapsed


def decide_once(app, identity, item_key: int, which: str) -> tuple[float, bool]:
    """Seconds of one decision on the product (its row already read, as services have it), and its answer."""
    from exchange.catalog.models import Item
    from exchange.core.db import db
    from exchange.policy import decide
    from exchange.sharing import evaluation

    with app.test_request_context("/"):
        item = db.session.get(Item, item_key)
        began = time.perf_counter()
        if which == "item:read":
            allowed = bool(decide(identity, "item:read", item))
        else:
            allowed = evaluation.evaluate(identity, "download", item).allowed
        elapsed = time.perf_counter() - began
        db.session.remove()
    return elapsed, allowed


def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if len(values) > 1 else values[0]


def measure(app, world: World, *, requests: int, rounds: int, warmup: int, seed: int = 7) -> dict:
    """Per search shape and per decision: the seconds with the policies (``on``) and without (``off``),
    alternating ``rounds`` rounds of ``requests / rounds`` timed calls each (after ``warmup`` untimed)."""
    plans = plan_searches(requests + warmup, seed)
    times = {name: {"on": [], "off": []} for name in (*SHAPES, "item:read", "download")}
    per_round = max(1, requests // rounds)
    for state in ("on", "off"):  # warm the caches (compiled policies, plans) of both states
        set_active(app, state == "on")
        for shape in SHAPES:
            for params in plans[shape][requests:]:
                search_once(app, world.buyer, params)
        for _ in range(warmup):
            decide_once(app, world.buyer, world.product_key, "item:read")
    answers = {}
    for number in range(rounds):
        for state in ("on", "off") if number % 2 == 0 else ("off", "on"):
            set_active(app, state == "on")
            for shape in SHAPES:
                for params in plans[shape][number * per_round:(number + 1) * per_round]:
                    times[shape][state].append(search_once(app, world.buyer, params))
            for which in ("item:read", "download"):
                for _ in range(per_round):
                    elapsed, allowed = decide_once(app, world.buyer, world.product_key, which)
                    times[which][state].append(elapsed)
                    answers[which, state] = allowed
    set_active(app, True)
    if not all(answers.values()):
        raise RuntimeError(f"the benchmark's product must be allowed to the buyer: {answers}")
    return times


def report(times: dict, items: int, policies: int) -> list[str]:
    lines = [f"{items:,} items, {policies} active policies against none (alternating rounds, one run)"]
    for shape in SHAPES:
        on, off = (percentile(times[shape][s], 95) * 1000 for s in ("on", "off"))
        lines.append(f"search, {shape:<10}: p50 {statistics.median(times[shape]['on']) * 1000:6.1f} ms / "
                     f"{statistics.median(times[shape]['off']) * 1000:6.1f} ms, p95 {on:6.1f} ms / {off:6.1f} ms "
                     f"(with / without); p95 ratio {on / off:.2f} (target <= 1.3)")
    for which, label in (("item:read", 'decide(buyer, "item:read", product)'),
                         ("download", 'evaluate(buyer, "download", product)')):
        on, off = (percentile(times[which][s], 95) * 1000 for s in ("on", "off"))
        lines.append(f"{label}: p50 {statistics.median(times[which]['on']) * 1000:.2f} ms, p95 {on:.2f} ms "
                     f"(target <= 2 ms); without policies p50 {statistics.median(times[which]['off']) * 1000:.2f} "
                     f"ms, p95 {off:.2f} ms")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres-admin-url", default=DEFAULT_ADMIN_URL,
                        help="PostgreSQL database to connect to for CREATE/DROP DATABASE")
    parser.add_argument("--items", type=int, default=100_000, help="items to load (default 100,000)")
    parser.add_argument("--policies", type=int, default=50, help="active policies (default 50)")
    parser.add_argument("--requests", type=int, default=200, help="timed calls per shape and state (default 200)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds (default 4)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed calls per shape and state first")
    parser.add_argument("--load-workers", type=int, default=2, help="writer processes of the import (default 2)")
    parser.add_argument("--keep", action="store_true", help="do not drop the database (to EXPLAIN it)")
    args = parser.parse_args()

    url = create_postgres_database(args.postgres_admin_url, "sdx_bench_sharing")
    try:
        with tempfile.TemporaryDirectory(prefix="sdx_bench_sharing") as tmp:
            app = build_app(url, tmp, free_port())
            began = time.perf_counter()
            load(app, args.items, DEFAULT_BATCH, DEFAULT_SEED, False, args.load_workers, tmp)
            print(f"loaded {args.items:,} items in {time.perf_counter() - began:.0f} s", flush=True)
            world = seed_world(app, args.policies)
            times = measure(app, world, requests=args.requests, rounds=args.rounds, warmup=args.warmup)
            print("\n".join(report(times, args.items, args.policies)))
            if args.keep:
                print(f"kept: {url}")
            with app.app_context():
                from exchange.core.db import db
                db.engine.dispose()
    finally:
        if not args.keep:
            drop_postgres_database(args.postgres_admin_url, url)


if __name__ == "__main__":
    main()
