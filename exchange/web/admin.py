"""The administrators' pages: organisations (here), licence templates (``admin_licenses``), wallets
and the ledger (``admin_ledger``), the audit log (``admin_audit``) — one blueprint, ``/admin/…``.

Every action goes through the accounts, licensing, wallet or audit service acting as the signed-in
administrator; those services ask the policy and write the audit entries. A refusal the service
gives (a 409: e.g. approving an organisation that is not pending) comes back as a message on the page.
"""
from __future__ import annotations

import uuid

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from auth import orgs as directory, service
from auth.models import OrgKind, OrgStatus
from exchange.core.problems import Conflict, NotFound, Problem
from exchange.web.pages import ADMINS, current_identity, page, page_blueprint

bp = page_blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")

PAGE_SIZE = 25


# -- shared by the admin pages ---------------------------------------------------------------------------
def form_errors(problem: Problem, fields: dict[str, str] | None = None) -> dict[str, list[str]]:
    """A service's refusal as the form's ``errors``: each named field next to its input (``fields``
    maps a service field to the form's name; ``uses.0`` is the ``uses`` input), anything else at the
    top of the form."""
    errors: dict[str, list[str]] = {}
    for error in problem.errors or [{"field": None, "message": problem.detail or problem.title}]:
        field = error.get("field")
        name = (fields or {}).get(field, str(field).split(".")[0]) if field else "form"
        errors.setdefault(name, []).append(str(error.get("message")))
    return errors


def org_names(ids) -> dict:
    """The names of the organisations ``ids`` (through the accounts service; an unknown id has none)."""
    names = {}
    for org_id in {i for i in ids if i}:
        try:
            names[str(org_id)] = directory.get_org(current_identity(), uuid.UUID(str(org_id)))["name"]
        except (NotFound, ValueError):
            continue
    return names


def _choice(enum, value: str | None):
    """The enum member a filter names, or None (any) for an empty or unknown value."""
    try:
        return enum(value) if value else None
    except ValueError:
        return None


def status_names() -> dict[str, str]:
    return {"pending": _("Pending"), "active": _("Active"), "suspended": _("Suspended")}


def kind_names() -> dict[str, str]:
    return {"provider": _("Provider"), "buyer": _("Buyer"), "government": _("Government"), "research": _("Research"),
            "platform": _("Platform")}


def _back() -> str:
    """Where an action returns: the list with the filters it came from (only an organisations URL)."""
    back = request.form.get("back", "")
    return back if back.startswith("/admin/orgs") and not back.startswith("//") else url_for("admin.orgs")


# -- organisations ----------------------------------------------------------------------------------------
@bp.get("/orgs")
@page(ADMINS)
def orgs():
    """Organisations, oldest first, filtered by status and kind and searched by name, a page at a time."""
    status, kind = _choice(OrgStatus, request.args.get("status")), _choice(OrgKind, request.args.get("kind"))
    name = request.args.get("q", "").strip()[:200]
    after = request.args.get("after") or None
    try:
        items, next_cursor = directory.list_orgs(current_identity(), status=status, kind=kind, name=name or None,
                                            after=after, limit=PAGE_SIZE)
    except Problem:  # a cursor that is not ours: the first page
        items, next_cursor = directory.list_orgs(current_identity(), status=status, kind=kind, name=name or None,
                                            after=None, limit=PAGE_SIZE)
    filters = {"status": status.value if status else "", "kind": kind.value if kind else "", "q": name}
    chosen = {key: value for key, value in filters.items() if value}
    next_url = url_for("admin.orgs", **chosen, after=next_cursor) if next_cursor else None
    first_url = url_for("admin.orgs", **chosen) if after else None
    statuses, kinds = status_names(), kind_names()
    return render_template("admin/orgs.html", items=items, filters=filters, next_url=next_url, first_url=first_url,
                           status_names=statuses, kind_names=kinds, statuses_labelled=list(statuses.items()),
                           kinds_labelled=list(kinds.items()), back=request.full_path.rstrip("?"))



def _act(done: str, action, *args):
    """Run one accounts-service action; a refusal (409) is shown on the list, saying why."""
    try:
        org = action(current_identity(), *args)
    except Conflict as problem:
        flash(problem.detail or problem.title, "error")
    else:
        flash(done.format(name=org.name))
    return redirect(_back())


@bp.post("/orgs/<uuid:org_id>/approve")
@page(ADMINS)
def approve_org(org_id):
    return _act(_("{name} is approved: its users can sign in."), service.approve_org, org_id)


@bp.post("/orgs/<uuid:org_id>/reactivate")
@page(ADMINS)
def reactivate_org(org_id):
    return _act(_("{name} is active again."), service.reactivate_org, org_id)


@bp.post("/orgs/<uuid:org_id>/verify")
@page(ADMINS)
def verify_org(org_id):
    verified = request.form.get("verified", "1") != "0"
    done = _("{name} is marked verified.") if verified else _("{name} is no longer marked verified.")
    return _act(done, service.verify_org, org_id, verified)


@bp.route("/orgs/<uuid:org_id>/suspend", methods=["GET", "POST"])
@page(ADMINS)
def suspend_org(org_id):
    """GET asks for confirmation (suspension ends every session and token of its users for good);
    the POST of that form suspends."""
    if request.method == "GET":
        org = directory.get_org(current_identity(), org_id)
        return render_template("admin/suspend.html", org=org, back=request.args.get("back", ""))
    return _act(_("{name} is suspended: its users' sessions and tokens have ended."), service.suspend_org, org_id)


from exchange.web import admin_audit, admin_ledger, admin_licenses  # noqa: E402,F401  (their routes join bp)
