"""The audit log (administrators): the chain's verification at the top, then the entries matching
the filters, newest first, a page at a time.

The filters are the API's (``AuditArgsSchema`` validates them and names every bad one); a person may
also name the actor by email and the organisation by name, which the page turns into their ids.
"""
from __future__ import annotations

import re

from flask import render_template, request, url_for
from flask_babel import gettext as _

from auth import service
from exchange.core.problems import Problem, load_or_problem
from exchange.sharing import audit as chain
from exchange.sharing.audit_schemas import AuditArgsSchema
from exchange.web.admin import PAGE_SIZE, bp, form_errors, org_names
from exchange.web.pages import ADMINS, current_identity, page

FILTERS = ("actor", "org", "action", "object_type", "object_id", "from", "to")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _moment(text: str) -> str:
    """A day (``2026-11-27``) is its midnight, UTC; a time without a zone is UTC (the schema's default)."""
    return f"{text}T00:00:00" if DAY.match(text) else text


def _filters(form: dict) -> tuple[dict, dict[str, list[str]]]:
    """The page's filters as the service's arguments, and what is wrong with them, per field."""
    errors: dict[str, list[str]] = {}
    raw = {name: form[name] for name in FILTERS if form[name]}
    if "@" in raw.get("actor", ""):
        user = service.find_user(raw["actor"])
        if user is None:
            errors["actor"] = [_("No user has this email.")]
        raw["actor"] = str(user.id) if user else None
    if raw.get("org") and not re.fullmatch(r"[0-9a-fA-F-]{32,36}", raw["org"]):
        org = service.find_org(raw["org"])
        if org is None:
            errors["org"] = [_("There is no organisation named %(name)s.", name=raw["org"])]
        raw["org"] = str(org.id) if org else None
    for name in ("from", "to"):
        if name in raw:
            raw[name] = _moment(raw[name])
    raw = {name: value for name, value in raw.items() if value is not None}
    if form["after"]:
        raw["after"] = form["after"]
    raw["limit"] = PAGE_SIZE
    try:
        args = load_or_problem(AuditArgsSchema(), raw)
    except Problem as problem:
        for name, messages in form_errors(problem).items():
            errors.setdefault(name, messages)
        args = None
    return args, errors


@bp.get("/audit")
@page(ADMINS)
def audit():
    identity = current_identity()
    form = {name: request.args.get(name, "").strip() for name in FILTERS + ("after",)}
    check = chain.chain_status(identity)
    args, errors = _filters(form)
    entries, next_cursor = [], None
    if args:
        try:
            entries, next_cursor = chain.list_entries(identity, args)
        except Problem as problem:  # a page cursor that is not ours
            errors = form_errors(problem, {"after": "form"})
    chosen = {name: form[name] for name in FILTERS if form[name]}
    names = org_names([entry.actor_org_id for entry in entries])
    return render_template(
        "admin/audit.html", check=check, entries=entries, form=form, errors=errors, names=names,
        next_url=url_for("admin.audit", **chosen, after=next_cursor) if next_cursor else None,
        first_url=url_for("admin.audit", **chosen) if form["after"] else None), 422 if errors else 200

