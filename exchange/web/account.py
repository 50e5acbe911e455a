"""The signed-in user's own pages: who they are on the home page, and their API clients.

A person signs in at ``/login`` (a session cookie) and manages here the API clients whose tokens
scripts then use; the rules are those of ``POST /api/v1/clients`` (``auth.clients.create_client``),
acting as the user with their role's scopes. Users of a pending or suspended organisation have no
session (sign-in refuses them and says why; suspension ends sessions) and are sent to sign in.
Every form is a POST carrying a CSRF token; a client secret is shown once, in the answer to the
create form, and never stored in clear.
"""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf

from auth import clients
from auth.clients import redirect_uri_problem
from auth.models import User
from auth.policies import holdable_scopes, identity_of
from auth.scopes import SCOPES
from auth.views import csrf_ok, signed_in_user
from exchange.core.problems import NotFound, Problem

bp = Blueprint("account", __name__, url_prefix="/account", template_folder="templates")

PAGE_SIZE = 20
#: The two kinds of client a person registers here, as the grant types the API takes.
KINDS = {
    "machine": ["client_credentials"],
    "authorization_code": ["authorization_code", "refresh_token"],
}


def _allowed_scopes(user: User) -> list[tuple[str, str]]:
    allowed = holdable_scopes(identity_of(user))
    return [(scope, text) for scope, text in SCOPES.items() if scope in allowed]


def _not_signed_in():
    """To the sign-in page, which also tells a user of a pending or suspended organisation why they
    cannot sign in (suspension ends every session, so no session outlives it)."""
    return redirect(url_for("oauth.login_form", next=request.path))


def _list_page(user: User, *, form: dict | None = None, errors: dict | None = None, status: int = 200):
    after = request.args.get("after") or None
    items, next_cursor = clients.list_own_clients(identity_of(user), after=after, limit=PAGE_SIZE)
    return render_template("account/clients.html", user=user, items=items, next_cursor=next_cursor,
                           scopes=_allowed_scopes(user), form=form or {"kind": "machine", "scopes": []},
                           errors=errors or {}, csrf_token=generate_csrf()), status


@bp.get("/clients")
def client_list():
    user = signed_in_user()
    if user is None:
        return _not_signed_in()
    return _list_page(user)


def _field_of(error_field: str | None) -> str:
    """Where on the form a service error belongs (``redirect_uris.0`` is the one redirect URI box)."""
    if error_field and error_field.startswith("redirect_uris"):
        return "redirect_uri"
    if error_field in ("grant_types", "public"):
        return "kind"
    return error_field or "form"


def _service_message(message: str) -> str:
    """A service's English message in the page's language when it is one the form is known to meet
    (the API keeps the English)."""
    known = {
        "must not contain a fragment": _("must not contain a fragment"),
        "must be https://…, http://localhost…, or a private-use scheme like com.example.app:/callback":
            _("must be https://…, http://localhost…, or a private-use scheme like com.example.app:/callback"),
    }
    return known.get(message, message)


def _form_errors(problem: Problem) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in problem.errors or [{"field": None, "message": problem.detail or problem.title}]:
        errors.setdefault(_field_of(error.get("field")), []).append(_service_message(error["message"]))
    return errors


def _form_problems(form: dict) -> dict[str, list[str]]:
    """What a person can get wrong on the form, every field at once and in their words; the service
    checks all of it again (and the role's scopes) when the form is right."""
    errors: dict[str, list[str]] = {}
    if not form["name"].strip():
        errors["name"] = [_("Enter a name.")]
    if form["kind"] not in KINDS:
        errors["kind"] = [_("Choose machine or authorization code.")]
    if not form["scopes"]:
        errors["scope"] = [_("Choose at least one scope.")]
    if form["kind"] == "authorization_code":
        problem = _service_message(redirect_uri_problem(form["redirect_uri"]) or "") if form["redirect_uri"] else \
            _("an application needs the redirect URI people come back to")
        if problem:
            errors["redirect_uri"] = [problem]
    return errors


@bp.post("/clients")
def client_create():
    user = signed_in_user()
    if user is None:
        return _not_signed_in()
    form = {"name": request.form.get("name", ""), "kind": request.form.get("kind", ""),
            "redirect_uri": request.form.get("redirect_uri", "").strip(), "scopes": request.form.getlist("scope")}
    if not csrf_ok():
        return _list_page(user, form=form, errors={"form": [_("The form expired; please try again.")]}, status=400)
    errors = _form_problems(form)
    if errors:
        return _list_page(user, form=form, errors=errors, status=422)
    data = {"name": form["name"], "grant_types": KINDS[form["kind"]], "scope": " ".join(form["scopes"]),
            "redirect_uris": [form["redirect_uri"]] if form["kind"] == "authorization_code" and form["redirect_uri"]
            else []}
    try:
        client, secret = clients.create_client(identity_of(user), data, owner=user)
    except Problem as problem:
        return _list_page(user, form=form, errors=_form_errors(problem), status=problem.status)
    page = render_template("account/client_created.html", user=user, client=client, secret=secret)
    return page, 201, {"Cache-Control": "no-store"}


def _own_client_or_404(user: User, client_id: str):
    try:
        return clients.get_own_client(identity_of(user), client_id), None
    except NotFound:
        return None, (render_template("account/not_found.html", user=user), 404)


@bp.route("/clients/<client_id>/delete", methods=["GET", "POST"])
def client_delete(client_id: str):
    """GET asks for confirmation; the POST of that form (with its CSRF token) deletes."""
    user = signed_in_user()
    if user is None:
        return _not_signed_in()
    client, missing = _own_client_or_404(user, client_id)
    if missing:
        return missing
    if request.method == "GET" or not csrf_ok():
        error = None if request.method == "GET" else _("The form expired; please try again.")
        return render_template("account/client_delete.html", user=user, client=client, csrf_token=generate_csrf(),
                               error=error), 200 if error is None else 400
    try:
        clients.delete_client(identity_of(user), client_id)
    except NotFound:
        return render_template("account/not_found.html", user=user), 404
    return redirect(url_for("account.client_list"))
