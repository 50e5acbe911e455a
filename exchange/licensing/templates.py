"""Licence templates: versioned terms. Posting a code writes its next version; a version, once
written, never changes, so offers and entitlements can cite ``code@version`` for good. Reading is
public (anyone may read the terms before buying); writing is for administrators."""
from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from exchange.core import paging
from exchange.core.db import db, unit_of_work
from exchange.core.problems import Conflict, NotFound, ValidationProblem, load_or_problem
from exchange.licensing.models import LicenseTemplate
from exchange.licensing.schemas import MAX_VERSION, REF_PATTERN, TemplateInSchema
from exchange.policy import Identity, query_filter, require

TERMS = ("code", "version", "title", "terms", "uses", "redistribution", "derivatives", "attribution", "seats",
         "duration_days", "downloads_per_asset", "bytes_multiple", "aoi_restricted")


def terms_of(template: LicenseTemplate) -> dict:
    """The template's terms as a plain dict: what a view shows and what an entitlement copies."""
    return {name: getattr(template, name) for name in TERMS} | {"ref": template.ref}


def view(template: LicenseTemplate) -> dict:
    return terms_of(template) | {"created_at": template.created_at}


def _readable(identity: Identity):
    return query_filter(identity, "license-template:read", LicenseTemplate)


def _latest_versions():
    """The newest version number of each code, as a subquery (code, version)."""
    return select(LicenseTemplate.code, func.max(LicenseTemplate.version).label("version")) \
        .group_by(LicenseTemplate.code).subquery()


def list_latest(identity: Identity, *, after: str | None = None, limit: int = 50) -> tuple[list[dict], str | None]:
    """The newest version of every template, by code: a page and the cursor of the next."""
    latest = _latest_versions()
    query = select(LicenseTemplate).join(latest, (LicenseTemplate.code == latest.c.code)
                                         & (LicenseTemplate.version == latest.c.version)).where(_readable(identity))
    if after:
        try:
            query = query.where(LicenseTemplate.code > paging.decode_key(after))
        except paging.BadCursor:
            raise ValidationProblem("The cursor is not valid.", errors=[
                {"field": "after", "message": "is not a cursor this listing issued"}]) from None
    rows, more = paging.cut(list(db.session.scalars(query.order_by(LicenseTemplate.code).limit(limit + 1))), limit)
    return [view(t) for t in rows], (paging.encode(rows[-1].code) if more else None)


def versions(identity: Identity, code: str) -> list[dict]:
    """Every version of a template, oldest first (404 if the code is unknown)."""
    rows = list(db.session.scalars(select(LicenseTemplate).where(LicenseTemplate.code == code, _readable(identity))
                                   .order_by(LicenseTemplate.version)))
    if not rows:
        raise NotFound(f"No licence template {code!r}.")
    return [view(t) for t in rows]


def get_version(identity: Identity, code: str, version: int | None = None) -> dict:
    """One version of a template; None: the newest. A version no INTEGER column holds is not asked
    of the database (PostgreSQL would fail on it: a 500); it is absent."""
    query = select(LicenseTemplate).where(LicenseTemplate.code == code, _readable(identity))
    query = query.where(LicenseTemplate.version == version) if version is not None \
        else query.order_by(LicenseTemplate.version.desc())
    template = None if (version or 0) > MAX_VERSION else db.session.scalars(query.limit(1)).first()
    if template is None:
        raise NotFound(f"No licence template {code!r}" + (f" version {version}." if version is not None else "."))
    return view(template)


def by_ref(ref: str) -> LicenseTemplate | None:
    """The template version named ``code@version``, or None (a malformed reference names none)."""
    match = re.fullmatch(REF_PATTERN, ref or "")
    if match is None:
        return None
    return db.session.scalar(select(LicenseTemplate).where(LicenseTemplate.code == match.group(1),
                                                           LicenseTemplate.version == int(match.group(2))))


def create_template(identity: Identity, body: object) -> LicenseTemplate:
    """Write the next version of a template (version 1 of a new code). Administrators only."""
    require(identity, "license-template:write")
    data = load_or_problem(TemplateInSchema(), body)
    try:
        with unit_of_work():
            current = db.session.scalar(select(func.max(LicenseTemplate.version))
                                        .where(LicenseTemplate.code == data["code"]))
            template = LicenseTemplate(**data, version=(current or 0) + 1, created_by=identity.user_id)
            db.session.add(template)
        return template
    except IntegrityError:  # another version of the same code was written at the same moment
        raise Conflict(f"Another version of {data['code']!r} was written at the same time; send it again.") from None
