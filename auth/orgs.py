"""Administrators find organisations, e.g. the pending ones waiting for approval.

Pages run oldest first by (created_at, id); the cursor holds the id of the last organisation of the
previous page, so an organisation signing up meanwhile never shifts or repeats a page.
"""
from __future__ import annotations

import uuid

from sqlalchemy import and_, func, or_, select

from auth.models import Organisation, OrgKind, OrgStatus, User
from exchange.policy import Identity, require
from exchange.core import paging
from exchange.core.db import db
from exchange.core.problems import NotFound, ValidationProblem


def _bad_cursor() -> ValidationProblem:
    return ValidationProblem("The cursor is not valid.", errors=[{"field": "after", "message": "bad cursor"}])


def _signup_emails(org_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Each organisation's first user: the one who signed it up."""
    emails: dict[uuid.UUID, str] = {}
    rows = db.session.execute(select(User.org_id, User.email).where(User.org_id.in_(org_ids))
                              .order_by(User.created_at, User.id))
    for org_id, email in rows:
        emails.setdefault(org_id, email)
    return emails


def _view(org: Organisation, emails: dict[uuid.UUID, str]) -> dict:
    return {"id": org.id, "name": org.name, "kind": org.kind, "status": org.status, "verified": org.verified, "created_at": org.created_at,
            "signup_email": emails.get(org.id)}


def list_orgs(identity: Identity, *, status: OrgStatus | None, after: str | None, limit: int,
              kind: OrgKind | None = None, name: str | None = None) -> tuple[list[dict], str | None]:
    """Organisations (optionally of one status and kind, or whose name contains ``name`` in any case),
    a page at a time, oldest first."""
    require(identity, "account:list-orgs")
    query = select(Organisation)
    if status is not None:
        query = query.where(Organisation.status == status)
    if kind is not None:
        query = query.where(Organisation.kind == kind)
    if name:
        query = query.where(func.lower(Organisation.name).contains(name.strip().lower(), autoescape=True))
    if after:
        try:
            last = db.session.get(Organisation, uuid.UUID(paging.decode_key(after)))
        except ValueError:  # paging.BadCursor is one
            raise _bad_cursor() from None
        if last is None:
            raise _bad_cursor()
        query = query.where(or_(Organisation.created_at > last.created_at,
                                and_(Organisation.created_at == last.created_at, Organisation.id > last.id)))
    page, more = paging.cut(list(db.session.scalars(query.order_by(Organisation.created_at, Organisation.id)
                                                    .limit(limit + 1))), limit)
    emails = _signup_emails([org.id for org in page]) if page else {}
    return [_view(org, emails) for org in page], (paging.encode(str(page[-1].id)) if more else None)


def get_org(identity: Identity, org_id: uuid.UUID) -> dict:
    """One organisation as the administrators' list shows it."""
    require(identity, "account:read-org")
    org = db.session.get(Organisation, org_id)
    if org is None:
        raise NotFound(f"No organisation {org_id}.")
    return _view(org, _signup_emails([org.id]))


def org_names(identity: Identity, org_ids) -> dict[uuid.UUID, str]:
    """Organisation id → name for many ids in one query (an administrator's pages name the
    organisations policies and requests refer to); unknown ids are left out."""
    require(identity, "account:list-orgs")
    ids = {org_id for org_id in org_ids if org_id is not None}
    if not ids:
        return {}
    return dict(db.session.execute(select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids))).all())
