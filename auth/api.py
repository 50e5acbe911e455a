"""Account and client endpoints of the platform API (thin: parse, call the service, serialise)."""
from __future__ import annotations

from flask import current_app, request
from flask_smorest import Blueprint

from auth import clients, orgs, service
from exchange.policy import ANONYMOUS
from auth.schemas import (AdminOrganisationSchema, ClientCreatedSchema, ClientInSchema, ClientPageSchema, ClientSchema,
                          OrganisationPageSchema, OrganisationSchema, OrgListArgsSchema, PageArgsSchema,
                          SignupResultSchema, SignupSchema, VerifyOrgSchema)
from auth.tokens import current_identity, require_scopes
from auth.views import limiter
from exchange.core.body import json_object
from exchange.core.problems import load_or_problem
from exchange.core.location import LOCATION_HEADER, location

blp = Blueprint("accounts", __name__, url_prefix="/api/v1", description="Organisations, users and API clients")


@blp.route("/signup", methods=["POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_SIGNUP"])
@blp.doc(requestBody={"content": {"application/json": {"schema": SignupSchema}}}, security=[])
@blp.response(202, SignupResultSchema)
def signup():
    """Ask for an organisation account; it stays `pending` until an administrator approves it.

    The answer is the same whether or not the email is already registered (nothing is created
    then); there is no email delivery, so the requester learns of approval by signing in.
    """
    return service.signup(ANONYMOUS, json_object())


@blp.route("/clients", methods=["POST"])
@require_scopes()
@blp.doc(requestBody={"content": {"application/json": {"schema": ClientInSchema}}})
@blp.response(201, ClientCreatedSchema, headers=LOCATION_HEADER)
def create_client():
    """Register an API client of your own. The secret is in this answer only."""
    client, secret = clients.create_client(current_identity(), json_object())
    return {"client": client, "client_secret": secret}, location("accounts.get_client", client_id=client.client_id)


@blp.route("/clients", methods=["GET"])
@require_scopes()
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, ClientPageSchema)
def list_clients(args):
    """Your API clients, a page at a time."""
    items, next_cursor = clients.list_own_clients(current_identity(), after=args["after"], limit=args["limit"])
    return {"items": items, "next": next_cursor}


@blp.route("/clients/<client_id>", methods=["GET"])
@require_scopes()
@blp.response(200, ClientSchema)
def get_client(client_id: str):
    """One of your API clients (never its secret)."""
    return clients.get_own_client(current_identity(), client_id)


@blp.route("/clients/<client_id>", methods=["DELETE"])
@require_scopes()
@blp.response(204)
def delete_client(client_id: str):
    """Delete one of your clients; its tokens stop working at once."""
    clients.delete_client(current_identity(), client_id)


@blp.route("/admin/clients", methods=["GET"])
@require_scopes("admin:accounts")
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, ClientPageSchema)
def admin_list_clients(args):
    """Every API client on the platform (administrators)."""
    items, next_cursor = clients.list_all_clients(current_identity(), after=args["after"], limit=args["limit"])
    return {"items": items, "next": next_cursor}


@blp.route("/admin/clients/<client_id>/disable", methods=["POST"])
@require_scopes("admin:accounts")
@blp.response(200, ClientSchema)
def admin_disable_client(client_id: str):
    """Switch a client off and revoke its tokens (administrators)."""
    return clients.disable_client(current_identity(), client_id)


@blp.route("/admin/orgs", methods=["GET"])
@require_scopes("admin:accounts")
@blp.arguments(OrgListArgsSchema, location="query")
@blp.response(200, OrganisationPageSchema)
def admin_list_orgs(args):
    """Organisations, oldest first, optionally only those of one `status` (e.g. `pending`, to approve)."""
    items, next_cursor = orgs.list_orgs(current_identity(), status=args["status"], after=args["after"],
                                        limit=args["limit"])
    return {"items": items, "next": next_cursor}


@blp.route("/admin/orgs/<uuid:org_id>", methods=["GET"])
@require_scopes("admin:accounts")
@blp.response(200, AdminOrganisationSchema)
def admin_get_org(org_id):
    """One organisation with the email of the user who signed it up (administrators)."""
    return orgs.get_org(current_identity(), org_id)


@blp.route("/admin/orgs/<uuid:org_id>/approve", methods=["POST"])
@require_scopes("admin:accounts")
@blp.response(200, OrganisationSchema)
def approve_org(org_id):
    """Activate a pending organisation (administrators); 409 if it is not pending."""
    return service.approve_org(current_identity(), org_id)


@blp.route("/admin/orgs/<uuid:org_id>/verify", methods=["POST"])
@require_scopes("admin:accounts")
@blp.doc(requestBody={"content": {"application/json": {"schema": VerifyOrgSchema}}})
@blp.response(200, OrganisationSchema)
def verify_org(org_id):
    """Mark an organisation verified (or, with `{"verified": false}`, not): sharing policies may
    treat verified organisations differently (administrators). No body: verified."""
    body = load_or_problem(VerifyOrgSchema(), json_object()) if request.content_length else {"verified": True}
    return service.verify_org(current_identity(), org_id, body["verified"])


@blp.route("/admin/orgs/<uuid:org_id>/suspend", methods=["POST"])
@require_scopes("admin:accounts")
@blp.response(200, OrganisationSchema)
def suspend_org(org_id):
    """Suspend an organisation: its users' tokens and sessions end for good (administrators)."""
    return service.suspend_org(current_identity(), org_id)


@blp.route("/admin/orgs/<uuid:org_id>/reactivate", methods=["POST"])
@require_scopes("admin:accounts")
@blp.response(200, OrganisationSchema)
def reactivate_org(org_id):
    """Make a suspended organisation active again; its old tokens stay dead (administrators); 409 if it
    is not suspended."""
    return service.reactivate_org(current_identity(), org_id)
