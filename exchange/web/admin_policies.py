"""The administrators' sharing pages: the policy editor with its dry-run preview, and access requests.

Thin views over the sharing services, as the signed-in administrator (``current_identity``): the
editor's form becomes the policy document (``policy_form``), which ``service.create_policy`` /
``update_policy`` check and store as a new version, and ``dry_run.dry_run`` compares with the active
policies without writing anything. Access requests are decided by ``access.approve`` / ``reject``.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from auth import orgs as org_service
from auth.models import OrgStatus
from exchange.catalog import service as catalog
from exchange.core.problems import NotFound, Problem
from exchange.sharing import access, dry_run, service
from exchange.sharing.access_schemas import STATES
from exchange.sharing.schemas import ACTIONS, ASSIGNABLE_KINDS, EFFECTS, PURPOSES
from exchange.web import policy_form
from exchange.web.pages import ADMINS, current_identity, error_page, page, page_blueprint, whole_number

bp = page_blueprint("admin_policies", __name__, url_prefix="/admin", template_folder="templates")

PAGE_SIZE = 20
#: Organisations offered in the editor's pickers (active ones, oldest first); a policy naming others keeps them.
MAX_PICKABLE_ORGS = 500
#: Changes a preview lists on the page (the dry-run counts them all).
MAX_PREVIEW_ROWS = 200
#: An access request's timestamps (ISO text in the service's view).
REQUEST_TIMES = ("created_at", "expires_at", "decided_at", "valid_until")
#: A version's document, as stored (the API's view adds the policy's state around it).
DOCUMENT_KEYS = ("name", "description", "target", "assignee", "except", "actions", "effect", "free_access",
                 "constraints", "duties")


def _org_names(ids) -> dict[str, str]:
    """Organisation id → name, in one query, for showing ids people cannot read (unknown ids, and text
    that is not an id at all — the service names it in the form — show as themselves)."""
    parsed = {}
    for text in {str(i) for i in ids if i}:
        try:
            parsed[text] = uuid.UUID(text)
        except ValueError:
            parsed[text] = None
    found = org_service.org_names(current_identity(), [org_id for org_id in parsed.values() if org_id])
    return {text: found.get(org_id, text) for text, org_id in parsed.items()}


def _timed(view: dict, *keys: str) -> dict:
    """A service's view with its ISO timestamps as datetimes, for ``|isodate`` to show in UTC to the second."""
    return {**view, **{key: datetime.fromisoformat(view[key]) for key in keys if view.get(key)}}


def _named_orgs(document: dict) -> list[str]:
    return [*(document.get("assignee") or {}).get("org_ids", []), *(document.get("except") or {}).get("org_ids", [])]


# -- the list -------------------------------------------------------------------------------------------
@bp.get("/policies")
@page(ADMINS)
def policies():
    shown = request.args.get("active", "")
    active = {"true": True, "false": False}.get(shown)
    items, next_cursor = service.list_policies(current_identity(), own=False, active=active,
                                               after=request.args.get("after") or None, limit=PAGE_SIZE)
    owners = _org_names([item["owner_org_id"] for item in items]
                        + [org_id for item in items for org_id in _named_orgs(item)])
    next_url = url_for(".policies", active=shown or None, after=next_cursor) if next_cursor else None
    return render_template("admin_policies/list.html", items=items, owners=owners, shown=shown, next_url=next_url)


# -- the editor -----------------------------------------------------------------------------------------
def _choices() -> dict:
    identity = current_identity()
    organisations, _next = org_service.list_orgs(identity, status=OrgStatus.active, after=None,
                                                 limit=MAX_PICKABLE_ORGS)
    return {"actions": ACTIONS, "effects": EFFECTS, "kinds": ASSIGNABLE_KINDS, "purposes": PURPOSES,
            "collections": [c.id for c in catalog.list_collections(identity)],
            "organisations": [(str(o["id"]), o["name"]) for o in organisations if o["kind"] != "platform"]}


def _editor(form: dict, *, policy: dict | None = None, errors: dict | None = None, preview: dict | None = None,
            status: int = 200):
    choices = _choices()
    # a policy may name collections or organisations the pickers do not list: keep them choosable
    choices["collections"] += [c for c in form["collections"] if c not in choices["collections"]]
    listed = {org_id for org_id, _name in choices["organisations"]}
    extra = [i for i in form["assignee_orgs"] + form["except_orgs"] if i not in listed]
    choices["organisations"] += sorted(_org_names(extra).items(), key=lambda pair: pair[1])
    if preview is not None:
        preview = {**preview, "rows": preview["changes"][:MAX_PREVIEW_ROWS]}
    return render_template("admin_policies/editor.html", form=form, policy=policy, errors=errors or {},
                           preview=preview, choices=choices), status


def _policy(policy_id: uuid.UUID) -> dict:
    return service.get_policy(current_identity(), policy_id, own=False)


def _submit(policy: dict | None):
    """Save (create, or a new version) or preview the posted draft; bad input re-renders the form, 422."""
    form = policy_form.posted(request.form)
    document, errors = policy_form.to_document(form)
    previewing = request.form.get("do") == "preview"
    if errors:
        return _editor(form, policy=policy, errors=errors, status=422)
    identity = current_identity()
    try:
        if previewing:
            draft = {**document, "replaces": policy["id"] if policy else None} if isinstance(document, dict) \
                else document
            return _editor(form, policy=policy, preview=dry_run.dry_run(identity, draft, own=False))
        if policy is None:
            written = service.create_policy(identity, document, own=False)
            flash(_("Policy created (version 1)."))
        else:
            written = service.update_policy(identity, uuid.UUID(policy["id"]), document, own=False)
            flash(_("Policy saved as version %(version)s.", version=written.current_version))
    except NotFound:
        raise
    except Problem as problem:  # invalid (422), or refused (409: too many active policies)
        return _editor(form, policy=policy, errors=policy_form.service_errors(problem, advanced=bool(form["advanced"])),
                       status=problem.status)
    return redirect(url_for(".policy", policy_id=written.id))


@bp.route("/policies/new", methods=["GET", "POST"])
@page(ADMINS)
def new_policy():
    if request.method == "GET":
        return _editor(policy_form.empty_form())
    return _submit(None)


@bp.route("/policies/<uuid:policy_id>/edit", methods=["GET", "POST"])
@page(ADMINS)
def edit_policy(policy_id: uuid.UUID):
    policy = _policy(policy_id)
    if request.method == "GET":
        return _editor(policy_form.from_document(policy), policy=policy)
    return _submit(policy)


# -- one policy, its versions, deactivation -------------------------------------------------------------
@bp.get("/policies/<uuid:policy_id>")
@page(ADMINS)
def policy(policy_id: uuid.UUID):
    identity = current_identity()
    versions = service.list_versions(identity, policy_id, own=False)
    current = versions[-1] if versions else _policy(policy_id)
    return _policy_page(current, current, versions)


@bp.get("/policies/<uuid:policy_id>/versions/<int:n>")
@page(ADMINS)
def policy_version(policy_id: uuid.UUID, n: int):
    identity = current_identity()
    shown = service.get_version(identity, policy_id, n, own=False)
    versions = service.list_versions(identity, policy_id, own=False)
    return _policy_page(versions[-1], shown, versions)


def _policy_page(policy: dict, shown: dict, versions: list[dict]):
    """A policy at one version, with its versions newest first, ``PAGE_SIZE`` a page (``?page=``)."""
    document = {key: shown.get(key) for key in DOCUMENT_KEYS}
    pages = max(1, -(-len(versions) // PAGE_SIZE))
    number = request.args.get("page", "1")
    number = min(max(whole_number(number) or 1, 1), pages)
    newest = list(reversed(versions))[(number - 1) * PAGE_SIZE:number * PAGE_SIZE]
    here = {"policy_id": policy["id"], **({"n": shown["version"]} if request.view_args.get("n") else {})}
    endpoint = request.endpoint
    return render_template(
        "admin_policies/policy.html", policy=policy, shown=_timed(shown, "version_created_at"),
        versions=[_timed(version, "version_created_at") for version in newest], names=_org_names(_named_orgs(shown)),
        document_json=json.dumps(document, indent=2, ensure_ascii=False),
        next_url=url_for(endpoint, **here, page=number + 1) if number < pages else None,
        previous_url=url_for(endpoint, **here, page=number - 1) if number > 1 else None)


@bp.route("/policies/<uuid:policy_id>/deactivate", methods=["GET", "POST"])
@page(ADMINS)
def deactivate_policy(policy_id: uuid.UUID):
    """GET asks for confirmation; its form's POST deactivates (the versions stay readable)."""
    policy = _policy(policy_id)
    if request.method == "GET":
        return render_template("admin_policies/deactivate.html", policy=policy)
    service.deactivate_policy(current_identity(), policy_id, own=False)
    flash(_("Policy deactivated: it is no longer enforced. Saving a new version activates it again."))
    return redirect(url_for(".policy", policy_id=policy_id))


# -- access requests ------------------------------------------------------------------------------------
@bp.get("/requests")
@page(ADMINS)
def requests():
    state = request.args.get("state") or None
    if state not in (None, *STATES):
        return error_page(422, _("Unknown status: choose one from the list."))
    items, next_cursor = access.list_requests(current_identity(), state=state, side=None,
                                              after=request.args.get("after") or None, limit=PAGE_SIZE)
    names = _org_names([i["org_id"] for i in items] + [i["provider_org_id"] for i in items])
    next_url = url_for(".requests", state=state, after=next_cursor) if next_cursor else None
    items = [_timed(item, *REQUEST_TIMES) for item in items]
    return render_template("admin_policies/requests.html", items=items, names=names, state=state or "",
                           states=STATES, next_url=next_url)


def _request_page(request_id: uuid.UUID, *, errors: dict | None = None, form: dict | None = None, status: int = 200):
    shown = access.view(access.get_request(current_identity(), request_id))
    return render_template("admin_policies/request.html", item=_timed(shown, *REQUEST_TIMES), errors=errors or {},
                           form=form or {"price": "free"},
                           names=_org_names([shown["org_id"], shown["provider_org_id"]])), status


@bp.get("/requests/<uuid:request_id>")
@page(ADMINS)
def access_request(request_id: uuid.UUID):
    return _request_page(request_id)


#: Approval and rejection error paths → the inputs they name.
DECISION_FIELDS = {"price.offer_id": "offer_id", "price": "price", "duration_days": "duration_days",
                   "downloads_per_asset": "downloads_per_asset", "bytes_allowed": "bytes_allowed",
                   "license": "license", "reason": "reason"}


def _decision_errors(problem: Problem) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in problem.errors or [{"field": None, "message": problem.detail or problem.title}]:
        name = DECISION_FIELDS.get(error.get("field") or "")
        message = error["message"] if name else f"{error['field']}: {error['message']}" if error.get("field") \
            else error["message"]
        errors.setdefault(name or "form", []).append(message)
    return errors


def _integer(text: str):
    """A typed whole number; other text is passed on for the service to name."""
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        return text


@bp.post("/requests/<uuid:request_id>/approve")
@page(ADMINS)
def approve_request(request_id: uuid.UUID):
    form = {name: request.form.get(name, "").strip() for name in
            ("price", "offer_id", "duration_days", "downloads_per_asset", "bytes_allowed", "license")}
    body = {"price": "free" if form["price"] == "free" else {"offer_id": form["offer_id"]},
            "duration_days": _integer(form["duration_days"]),
            "downloads_per_asset": _integer(form["downloads_per_asset"]),
            "bytes_allowed": _integer(form["bytes_allowed"])}
    if form["license"]:
        body["license"] = form["license"]
    try:
        access.approve(current_identity(), request_id, body)
    except NotFound:
        raise
    except Problem as problem:  # invalid (422), or no longer pending (409)
        return _request_page(request_id, errors=_decision_errors(problem), form=form, status=problem.status)
    flash(_("Access request approved."))
    return redirect(url_for(".access_request", request_id=request_id))


@bp.post("/requests/<uuid:request_id>/reject")
@page(ADMINS)
def reject_request(request_id: uuid.UUID):
    reason = request.form.get("reason", "").strip()
    try:
        access.reject(current_identity(), request_id, {"reason": reason})
    except NotFound:
        raise
    except Problem as problem:
        return _request_page(request_id, errors=_decision_errors(problem), form={"price": "free", "reason": reason},
                             status=problem.status)
    flash(_("Access request rejected."))
    return redirect(url_for(".access_request", request_id=request_id))

