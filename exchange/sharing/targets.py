"""A stored policy version, compiled: who it applies to (asked of the caller, in Python) and which
products it targets (one SQL predicate over ``items``, used both for one product and inside search).

The product side is SQL in both forms on purpose: ``decide`` for one product runs the very predicate
search runs (``matching``), so the two can only disagree in how matches are combined, which
``exchange.sharing.evaluation`` does identically in both forms. Compiled versions are cached per
process by (policy id, version): a version never changes, so the cache needs no invalidation.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from functools import lru_cache

import shapely
from shapely.geometry import shape
from sqlalchemy import and_, case, literal, select, true

from exchange.catalog import properties
from exchange.catalog.cql2_filter import to_sqlalchemy
from exchange.catalog.models import Item
from exchange.catalog.query import QUERYABLES, spatial_ops
from exchange.core.db import db
from exchange.sharing.models import SharingPolicy, SharingPolicyVersion


@dataclass(frozen=True)
class Caller:
    """What policies ask of the acting party: its organisation (None: anonymous) and declared purpose."""

    org_id: uuid.UUID | None
    kind: str | None
    verified: bool
    purpose: str | None


@dataclass(frozen=True, eq=False)
class CompiledPolicy:
    id: uuid.UUID
    version: int
    name: str
    owner_org_id: uuid.UUID | None
    effect: str
    actions: frozenset[str]
    free_access: bool
    attribution: str | None
    document: dict
    # assignee / except
    org_kinds: frozenset[str]
    org_ids: frozenset[uuid.UUID]
    verified: bool | None
    except_kinds: frozenset[str]
    except_ids: frozenset[uuid.UUID]
    purposes: frozenset[str]
    # target and the constraints on the product
    collections: tuple[str, ...]
    filter: dict | None
    region: shapely.Geometry | None
    min_age_days: int | None
    max_age_days: int | None
    window_from: dt.datetime | None
    window_until: dt.datetime | None
    gsd_lt: float | None
    gsd_gte: float | None

    @property
    def ref(self) -> dict:
        """How decisions and problems name it: ``{"id", "version", "name"}``."""
        return {"id": str(self.id), "version": self.version, "name": self.name}

    def applies_to(self, caller: Caller) -> bool:
        """Whether the policy's assignee names the caller (and its ``except`` does not)."""
        if caller.org_id is None:  # anonymous: only "everyone" policies, without a purpose condition
            return not (self.org_kinds or self.org_ids or self.verified is not None or self.purposes)
        if caller.kind in self.except_kinds or caller.org_id in self.except_ids:
            return False
        if (self.org_kinds or self.org_ids) and not (caller.kind in self.org_kinds or caller.org_id in self.org_ids):
            return False
        if self.verified is not None and caller.verified != self.verified:
            return False
        return not self.purposes or caller.purpose in self.purposes

    def predicate(self, items, now: dt.datetime):
        """The products the policy targets, as SQL over ``items`` (true or false, never NULL)."""
        if self.min_age_days is None and self.max_age_days is None:
            return _fixed_predicate(self, items, db.engine.dialect.name)
        parts = list(_fixed_parts(self, items, db.engine.dialect.name))
        if self.min_age_days is not None:
            parts.append(items.dt_start <= now - dt.timedelta(days=self.min_age_days))
        if self.max_age_days is not None:
            parts.append(items.dt_start >= now - dt.timedelta(days=self.max_age_days))
        if not parts:
            return true()
        # CASE makes a NULL (a product without gsd, say) a plain no, so NOT(...) keeps the row.
        return case((and_(*parts), literal(True)), else_=literal(False))

    def targets(self, item, now: dt.datetime) -> bool | None:
        """``predicate`` for one loaded product, in Python — the same comparisons, the same GEOS
        intersection test — or None when only the database can say (a CQL2 filter, run by
        ``matching``). Deciding one product this way skips building and running a statement."""
        if self.owner_org_id is not None and item.provider_org_id != self.owner_org_id:
            return False
        if self.collections and item.collection_id not in self.collections:
            return False
        start = item.dt_start
        if self.min_age_days is not None and not start <= now - dt.timedelta(days=self.min_age_days):
            return False
        if self.max_age_days is not None and not start >= now - dt.timedelta(days=self.max_age_days):
            return False
        if (self.window_from is not None and not start >= self.window_from) or \
                (self.window_until is not None and not start <= self.window_until):
            return False
        if (self.gsd_lt is not None and not (item.gsd is not None and item.gsd < self.gsd_lt)) or \
                (self.gsd_gte is not None and not (item.gsd is not None and item.gsd >= self.gsd_gte)):
            return False
        if self.region is not None and (item.geometry is None or not self.region.intersects(item.geometry)):
            return False
        return None if self.filter is not None else True

    def opens_at(self, item) -> dt.datetime | None:
        """When a min_age_days constraint will be met by ``item`` (for "wait until" remedies)."""
        if self.min_age_days is None or item.dt_start is None:
            return None
        return item.dt_start + dt.timedelta(days=self.min_age_days)


@lru_cache(maxsize=8192)
def _fixed_predicate(policy: CompiledPolicy, items, dialect: str):
    """The whole predicate of a policy that does not move with the clock (no age constraint)."""
    parts = _fixed_parts(policy, items, dialect)
    return case((and_(*parts), literal(True)), else_=literal(False)) if parts else true()


@lru_cache(maxsize=8192)
def _fixed_parts(policy: CompiledPolicy, items, dialect: str) -> tuple:
    """The parts of ``policy.predicate`` that do not move with the clock, built once per policy
    version, table and dialect: building a CQL2 filter or a region's SQL on every search and
    decision cost more than running them (bench/sharing.py)."""
    parts = []
    if policy.owner_org_id is not None:  # a provider's policy reaches only its own products
        parts.append(items.provider_org_id == policy.owner_org_id)
    if policy.collections:
        parts.append(items.collection_id.in_(policy.collections))
    if policy.filter is not None:
        parts.append(to_sqlalchemy(policy.filter, QUERYABLES, spatial_ops(), properties.DocumentProperties()))
    if policy.region is not None:
        parts.append(spatial_ops().intersects(items.geometry, policy.region))
    if policy.window_from is not None:
        parts.append(items.dt_start >= policy.window_from)
    if policy.window_until is not None:
        parts.append(items.dt_start <= policy.window_until)
    if policy.gsd_lt is not None:
        parts.append(items.gsd < policy.gsd_lt)
    if policy.gsd_gte is not None:
        parts.append(items.gsd >= policy.gsd_gte)
    return tuple(parts)


def _prepared(region: dict | None) -> shapely.Geometry | None:
    """The region as a prepared geometry: many products are tested against one region."""
    if not region:
        return None
    geometry = shapely.force_2d(shape(region))
    shapely.prepare(geometry)
    return geometry


def _ids(values) -> frozenset[uuid.UUID]:
    return frozenset(uuid.UUID(str(value)) for value in values or ())


def _instant(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value).astimezone(dt.timezone.utc) if value else None


@lru_cache(maxsize=4096)
def _compiled(policy_id: uuid.UUID, version: int, owner_org_id: uuid.UUID | None) -> CompiledPolicy:
    row = db.session.scalar(select(SharingPolicyVersion).where(SharingPolicyVersion.policy_id == policy_id,
                                                               SharingPolicyVersion.version == version))
    return compile_document(row.document, policy_id=policy_id, version=version, owner_org_id=owner_org_id)


def compile_document(document: dict, *, policy_id: uuid.UUID | None = None, version: int = 0,
                     owner_org_id: uuid.UUID | None = None) -> CompiledPolicy:
    """A normalised policy document (``schemas.normalised``) compiled; drafts (dry-run) too."""
    target, assignee, excepted = document["target"], document["assignee"], document["except"]
    constraints = document["constraints"]
    return CompiledPolicy(
        id=policy_id or uuid.UUID(int=0), version=version, name=document["name"], owner_org_id=owner_org_id,
        effect=document["effect"], actions=frozenset(document["actions"]),
        free_access=bool(document.get("free_access")), attribution=(document.get("duties") or {}).get("attribution"),
        document=document,
        org_kinds=frozenset(assignee.get("org_kinds") or ()), org_ids=_ids(assignee.get("org_ids")),
        verified=assignee.get("verified"),
        except_kinds=frozenset(excepted.get("org_kinds") or ()), except_ids=_ids(excepted.get("org_ids")),
        purposes=frozenset(constraints.get("purposes") or ()),
        collections=tuple(target.get("collections") or ()), filter=target.get("filter"),
        region=_prepared(target.get("region")),
        min_age_days=constraints.get("min_age_days"), max_age_days=constraints.get("max_age_days"),
        window_from=_instant(constraints.get("from")), window_until=_instant(constraints.get("until")),
        gsd_lt=constraints.get("gsd_lt"), gsd_gte=constraints.get("gsd_gte"))


def active_policies() -> list[CompiledPolicy]:
    """Every active policy at its current version, oldest first (the order that names a decision)."""
    rows = db.session.execute(select(SharingPolicy.id, SharingPolicy.current_version, SharingPolicy.owner_org_id)
                              .where(SharingPolicy.active).order_by(SharingPolicy.created_at, SharingPolicy.id))
    return [_compiled(policy_id, version, owner) for policy_id, version, owner in rows]


def matching_one(policies: list[CompiledPolicy], item, now: dt.datetime) -> list[bool]:
    """Which of ``policies`` target one loaded product: in Python where it can say, in one query
    for the policies with a CQL2 filter whose other parts matched."""
    answers = [policy.targets(item, now) for policy in policies]
    undecided = [policy for policy, answer in zip(policies, answers) if answer is None]
    if undecided:
        found = iter(matching(undecided, [item.key], now)[item.key])
        answers = [next(found) if answer is None else answer for answer in answers]
    return answers


def matching(policies: list[CompiledPolicy], item_keys: list[int], now: dt.datetime) -> dict[int, list[bool]]:
    """For each product key, which of ``policies`` target it: one query over those rows, running
    the same predicates search runs."""
    if not policies or not item_keys:
        return {key: [False] * len(policies) for key in item_keys}
    columns = [policy.predicate(Item, now).label(f"p{n}") for n, policy in enumerate(policies)]
    rows = db.session.execute(select(Item.key, *columns).where(Item.key.in_(item_keys)))
    found = {row[0]: [bool(value) for value in row[1:]] for row in rows}
    return {key: found.get(key, [False] * len(policies)) for key in item_keys}
