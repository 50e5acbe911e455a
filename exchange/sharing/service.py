"""Writing and reading sharing policies. Every change is a new version; the old ones stay readable.

Administrators (``admin:policies``) write the platform's policies; a provider (``catalog:write``)
writes policies restricted to its own organisation's collections, which reach only its own products.
"""
from __future__ import annotations

import uuid

from sqlalchemy import and_, func, select

from exchange.catalog.models import Collection
from exchange.core import paging
from exchange.core.db import db, unit_of_work, utcnow
from exchange.core.problems import Conflict, NotFound, ValidationProblem, load_or_problem
from exchange.policy import Identity, decide, query_filter, require, require_own
from exchange.sharing import audit, evaluation
from exchange.sharing.models import SharingPolicy, SharingPolicyVersion
from exchange.sharing.schemas import PolicySchema, normalised


def _checked(identity: Identity, body: object, *, own: bool) -> dict:
    """The policy document, loaded and normalised, checked as ``checked_document`` does."""
    return checked_document(identity, load_or_problem(PolicySchema(), body), own=own)


def checked_document(identity: Identity, loaded: dict, *, own: bool) -> dict:
    """A loaded policy, normalised; for a provider's own policy, its target must name collections,
    all of the provider's organisation (each foreign or unknown one is named)."""
    document = normalised(loaded)
    if own:
        names = document["target"]["collections"]
        if not names:
            raise ValidationProblem("A provider's policy must name its collections.",
                                    errors=[{"field": "target.collections",
                                             "message": "name at least one of your organisation's collections"}])
        found = {c.id: c for c in db.session.scalars(select(Collection).where(Collection.id.in_(names)))}
        bad = [name for name in names
               if name not in found or not decide(identity, "sharing-policy:write-own", found[name])]
        if bad:
            raise ValidationProblem("A provider's policy may only target its own organisation's collections.",
                                    errors=[{"field": "target.collections",
                                             "message": f"not a collection of your organisation: {name!r}"}
                                            for name in bad])
    return document


def _audit(actor: Identity, event: str, policy: SharingPolicy, document: dict | None) -> None:
    audit.record(event, actor_user_id=actor.user_id, actor_org_id=actor.org_id, object_type="policy",
                 object_id=policy.id, details={"version": policy.current_version, "document": document})


#: Active policies an owner may have: every active policy naming a caller is a clause of each of that
#: caller's searches, so a provider must not be able to slow every search down with thousands.
MAX_ACTIVE = {"provider": 100, "platform": 500}


def _check_room(owner_org_id: uuid.UUID | None, policy_id: uuid.UUID | None = None) -> None:
    """409 when the owner already has its most active policies (``policy_id``: one being changed)."""
    query = select(func.count()).select_from(SharingPolicy).where(
        SharingPolicy.active, SharingPolicy.owner_org_id.is_(None) if owner_org_id is None
        else SharingPolicy.owner_org_id == owner_org_id)
    if policy_id is not None:
        query = query.where(SharingPolicy.id != policy_id)
    limit = MAX_ACTIVE["platform" if owner_org_id is None else "provider"]
    if db.session.scalar(query) >= limit:
        raise Conflict(f"At most {limit} policies may be active at once for one owner: deactivate or merge "
                       "some first.")


def create_policy(identity: Identity, body: object, *, own: bool) -> SharingPolicy:
    """Version 1 of a new policy: the platform's (``own`` False, administrators) or the caller's
    organisation's (``own`` True, providers)."""
    require(identity, "sharing-policy:write-own" if own else "sharing-policy:administer")
    document = _checked(identity, body, own=own)
    _check_room(identity.org_id if own else None)
    with unit_of_work():
        policy = SharingPolicy(owner_org_id=identity.org_id if own else None, current_version=1,
                               created_by=identity.user_id)
        db.session.add(policy)
        db.session.flush()
        db.session.add(SharingPolicyVersion(policy_id=policy.id, version=1, name=document["name"],
                                            document=document, created_by=identity.user_id))
        _audit(identity, "policy.created", policy, document)
    evaluation.forget()
    return policy


def _policy_for_write(identity: Identity, policy_id: uuid.UUID, *, own: bool) -> SharingPolicy:
    """The policy if the caller may change it: 404 when absent or, on the providers' routes, another
    organisation's (or the platform's); administrators reach every policy on theirs."""
    policy = db.session.get(SharingPolicy, policy_id)
    if own:
        if policy is not None and policy.owner_org_id is None:
            policy = None
        require_own(identity, "sharing-policy:write-own", policy, "policy", policy_id)
    else:
        require(identity, "sharing-policy:administer")
        if policy is None:
            raise NotFound(f"No policy {policy_id}.")
    return policy


def update_policy(identity: Identity, policy_id: uuid.UUID, body: object, *, own: bool) -> SharingPolicy:
    """A new version of the policy, replacing its whole document (a deactivated policy is reactivated)."""
    policy = _policy_for_write(identity, policy_id, own=own)
    document = _checked(identity, body, own=own and policy.owner_org_id is not None)
    _check_room(policy.owner_org_id, policy.id)
    with unit_of_work():
        policy = db.session.scalar(select(SharingPolicy).where(SharingPolicy.id == policy.id).with_for_update())
        policy.current_version += 1
        policy.active = True
        policy.updated_at = utcnow()
        db.session.add(SharingPolicyVersion(policy_id=policy.id, version=policy.current_version,
                                            name=document["name"], document=document, created_by=identity.user_id))
        _audit(identity, "policy.updated", policy, document)
    evaluation.forget()
    return policy


def deactivate_policy(identity: Identity, policy_id: uuid.UUID, *, own: bool) -> SharingPolicy:
    """Stop enforcing the policy (its versions stay readable; a PUT activates it again)."""
    policy = _policy_for_write(identity, policy_id, own=own)
    with unit_of_work():
        policy.active = False
        policy.updated_at = utcnow()
        _audit(identity, "policy.deactivated", policy, None)
    evaluation.forget()
    return policy


def policy_view(policy: SharingPolicy, version: SharingPolicyVersion | None = None) -> dict:
    """A policy at one version (its current one by default), as the API shows it."""
    version = version or db.session.scalar(select(SharingPolicyVersion).where(
        SharingPolicyVersion.policy_id == policy.id, SharingPolicyVersion.version == policy.current_version))
    return {"id": str(policy.id), "version": version.version, "current_version": policy.current_version,
            "active": policy.active, "owner_org_id": str(policy.owner_org_id) if policy.owner_org_id else None,
            "created_at": policy.created_at.isoformat(), "updated_at": policy.updated_at.isoformat(),
            "version_created_at": version.created_at.isoformat(), **version.document}


#: The largest version number an INTEGER column holds: a larger one is absent, not asked of the database.
MAX_VERSION = 2**31 - 1


def policy_for_read(identity: Identity, policy_id: uuid.UUID, *, own: bool) -> SharingPolicy:
    """The policy if the caller may read it: administrators any, on their routes; a provider its
    organisation's, on its own (another organisation's or the platform's reads as absent: 404)."""
    policy = db.session.get(SharingPolicy, policy_id)
    if own:
        require_own(identity, "sharing-policy:read-own", policy, "policy", policy_id)
    else:
        require(identity, "sharing-policy:read-all")
        if policy is None:
            raise NotFound(f"No policy {policy_id}.")
    return policy


def get_policy(identity: Identity, policy_id: uuid.UUID, *, own: bool) -> dict:
    """One policy at its current version (administrators: any; providers: their organisation's)."""
    return policy_view(policy_for_read(identity, policy_id, own=own))


def list_policies(identity: Identity, *, own: bool, active: bool | None = None,
                  owner_org_id: uuid.UUID | None = None, after: str | None = None,
                  limit: int = 50) -> tuple[list[dict], str | None]:
    """The policies the caller may read at their current versions, in id order, a page at a time."""
    action = "sharing-policy:read-own" if own else "sharing-policy:read-all"
    require(identity, action)
    query = (select(SharingPolicy, SharingPolicyVersion)
             .join(SharingPolicyVersion, and_(SharingPolicyVersion.policy_id == SharingPolicy.id,
                                              SharingPolicyVersion.version == SharingPolicy.current_version))
             .where(query_filter(identity, action, SharingPolicy)))
    if active is not None:
        query = query.where(SharingPolicy.active.is_(active))
    if owner_org_id is not None:
        query = query.where(SharingPolicy.owner_org_id == owner_org_id)
    if after:
        try:
            query = query.where(SharingPolicy.id > uuid.UUID(paging.decode_key(after)))
        except ValueError:  # paging.BadCursor is one
            raise ValidationProblem("The cursor is not valid.", errors=[
                {"field": "after", "message": "is not a cursor this listing issued"}]) from None
    rows, more = paging.cut(list(db.session.execute(query.order_by(SharingPolicy.id).limit(limit + 1))), limit)
    return [policy_view(p, v) for p, v in rows], (paging.encode(str(rows[-1][0].id)) if more else None)


def list_versions(identity: Identity, policy_id: uuid.UUID, *, own: bool) -> list[dict]:
    """Every version of a policy, oldest first (deactivated policies' too)."""
    policy = policy_for_read(identity, policy_id, own=own)
    versions = db.session.scalars(select(SharingPolicyVersion).where(SharingPolicyVersion.policy_id == policy.id)
                                  .order_by(SharingPolicyVersion.version))
    return [policy_view(policy, version) for version in versions]


def get_version(identity: Identity, policy_id: uuid.UUID, number: int, *, own: bool) -> dict:
    """One version of a policy (versions never change)."""
    policy = policy_for_read(identity, policy_id, own=own)
    version = None if not 0 < number <= MAX_VERSION else db.session.scalar(select(SharingPolicyVersion).where(
        SharingPolicyVersion.policy_id == policy.id, SharingPolicyVersion.version == number))
    if version is None:
        raise NotFound(f"Policy {policy_id} has no version {number}.")
    return policy_view(policy, version)
