"""The sharing API (thin: parse, call the sharing services, serialise).

Administrators write and read the platform's and providers' policies under ``/api/v1/admin/policies``
(``admin:policies``); providers write and read policies on their own collections under
``/api/v1/policies`` (``catalog:write``). Both may dry-run a draft. Any signed-in caller may ask why a
decision about a product goes the way it does (``/api/v1/decisions/explain``).
"""
from __future__ import annotations

import uuid

from flask_smorest import Blueprint

from auth.tokens import current_identity, require_scopes
from exchange.core.body import json_object
from exchange.core.location import LOCATION_HEADER, location
from exchange.sharing import dry_run, explain, service
from exchange.sharing.schemas import (DryRunResultSchema, DryRunSchema, ExplainArgsSchema, ExplanationSchema,
                                      PolicyListArgsSchema, PolicyPageSchema, PolicySchema, PolicyVersionsSchema,
                                      PolicyViewSchema, PolicyWrittenSchema)

blp = Blueprint("sharing", __name__, url_prefix="/api/v1",
                description="Sharing policies, explanations of decisions, access requests, the audit log")
ADMIN = require_scopes("admin:policies")
PROVIDER = require_scopes("catalog:write")


def _body(schema):
    return blp.doc(requestBody={"content": {"application/json": {"schema": schema}}})


def _written(policy, endpoint: str):
    return ({"id": str(policy.id), "version": policy.current_version, "active": policy.active},
            location(endpoint, policy_id=policy.id))


# -- policies: the platform's (administrators) ------------------------------------------------------------
@blp.route("/admin/policies", methods=["POST"])
@ADMIN
@_body(PolicySchema)
@blp.response(201, PolicyWrittenSchema, headers=LOCATION_HEADER)
def admin_create_policy():
    """Write a platform-wide sharing policy (version 1); 201 `{"id", "version"}`."""
    return _written(service.create_policy(current_identity(), json_object(), own=False), "sharing.admin_policy")


@blp.route("/admin/policies", methods=["GET"])
@ADMIN
@blp.arguments(PolicyListArgsSchema, location="query")
@blp.response(200, PolicyPageSchema)
def admin_list_policies(args):
    """Every policy (the platform's and providers'), at its current version, a page at a time."""
    items, next_cursor = service.list_policies(current_identity(), own=False, active=args["active"],
                                               owner_org_id=args["owner_org_id"], after=args["after"],
                                               limit=args["limit"])
    return {"items": items, "next": next_cursor}


@blp.route("/admin/policies/dry-run", methods=["POST"])
@ADMIN
@_body(DryRunSchema)
@blp.response(200, DryRunResultSchema)
def admin_dry_run():
    """Which decisions a draft policy would change on a sample of products × organisations (writes nothing)."""
    return dry_run.dry_run(current_identity(), json_object(), own=False)


@blp.route("/admin/policies/<uuid:policy_id>", methods=["GET"])
@ADMIN
@blp.response(200, PolicyViewSchema)
def admin_policy(policy_id: uuid.UUID):
    """A policy at its current version."""
    return service.get_policy(current_identity(), policy_id, own=False)


@blp.route("/admin/policies/<uuid:policy_id>", methods=["PUT"])
@ADMIN
@_body(PolicySchema)
@blp.response(200, PolicyWrittenSchema)
def admin_update_policy(policy_id: uuid.UUID):
    """Replace a policy's document: a new version (the old ones stay readable)."""
    return _written(service.update_policy(current_identity(), policy_id, json_object(), own=False),
                    "sharing.admin_policy")[0]


@blp.route("/admin/policies/<uuid:policy_id>", methods=["DELETE"])
@ADMIN
@blp.response(200, PolicyWrittenSchema)
def admin_deactivate_policy(policy_id: uuid.UUID):
    """Deactivate a policy: no longer enforced, its versions still readable."""
    return _written(service.deactivate_policy(current_identity(), policy_id, own=False), "sharing.admin_policy")[0]


@blp.route("/admin/policies/<uuid:policy_id>/versions", methods=["GET"])
@ADMIN
@blp.response(200, PolicyVersionsSchema)
def admin_policy_versions(policy_id: uuid.UUID):
    """Every version of a policy, oldest first."""
    return {"items": service.list_versions(current_identity(), policy_id, own=False)}


@blp.route("/admin/policies/<uuid:policy_id>/versions/<int:n>", methods=["GET"])
@ADMIN
@blp.response(200, PolicyViewSchema)
def admin_policy_version(policy_id: uuid.UUID, n: int):
    """One version of a policy (versions never change)."""
    return service.get_version(current_identity(), policy_id, n, own=False)


# -- policies: a provider's own ---------------------------------------------------------------------------
@blp.route("/policies", methods=["POST"])
@PROVIDER
@_body(PolicySchema)
@blp.response(201, PolicyWrittenSchema, headers=LOCATION_HEADER)
def create_policy():
    """Write a sharing policy on your organisation's own collections (providers)."""
    return _written(service.create_policy(current_identity(), json_object(), own=True), "sharing.policy")


@blp.route("/policies", methods=["GET"])
@PROVIDER
@blp.arguments(PolicyListArgsSchema, location="query")
@blp.response(200, PolicyPageSchema)
def list_policies(args):
    """Your organisation's policies, at their current versions, a page at a time."""
    items, next_cursor = service.list_policies(current_identity(), own=True, active=args["active"],
                                               owner_org_id=args["owner_org_id"], after=args["after"],
                                               limit=args["limit"])
    return {"items": items, "next": next_cursor}


@blp.route("/policies/dry-run", methods=["POST"])
@PROVIDER
@_body(DryRunSchema)
@blp.response(200, DryRunResultSchema)
def dry_run_own():
    """Dry-run a draft policy on your organisation's collections (writes nothing)."""
    return dry_run.dry_run(current_identity(), json_object(), own=True)


@blp.route("/policies/<uuid:policy_id>", methods=["GET"])
@PROVIDER
@blp.response(200, PolicyViewSchema)
def policy(policy_id: uuid.UUID):
    """One of your organisation's policies at its current version."""
    return service.get_policy(current_identity(), policy_id, own=True)


@blp.route("/policies/<uuid:policy_id>", methods=["PUT"])
@PROVIDER
@_body(PolicySchema)
@blp.response(200, PolicyWrittenSchema)
def update_policy(policy_id: uuid.UUID):
    """Replace one of your organisation's policies: a new version."""
    return _written(service.update_policy(current_identity(), policy_id, json_object(), own=True),
                    "sharing.policy")[0]


@blp.route("/policies/<uuid:policy_id>", methods=["DELETE"])
@PROVIDER
@blp.response(200, PolicyWrittenSchema)
def deactivate_policy(policy_id: uuid.UUID):
    """Deactivate one of your organisation's policies."""
    return _written(service.deactivate_policy(current_identity(), policy_id, own=True), "sharing.policy")[0]


@blp.route("/policies/<uuid:policy_id>/versions", methods=["GET"])
@PROVIDER
@blp.response(200, PolicyVersionsSchema)
def policy_versions(policy_id: uuid.UUID):
    """Every version of one of your organisation's policies, oldest first."""
    return {"items": service.list_versions(current_identity(), policy_id, own=True)}


@blp.route("/policies/<uuid:policy_id>/versions/<int:n>", methods=["GET"])
@PROVIDER
@blp.response(200, PolicyViewSchema)
def policy_version(policy_id: uuid.UUID, n: int):
    """One version of one of your organisation's policies."""
    return service.get_version(current_identity(), policy_id, n, own=True)


# -- explanations -------------------------------------------------------------------------------------
@blp.route("/decisions/explain", methods=["GET"])
@require_scopes()
@blp.arguments(ExplainArgsSchema, location="query")
@blp.response(200, ExplanationSchema)
def explain_decision(args):
    """Whether you (administrators: `org_id`) may discover, see the footprint of, license or download a
    product; the rule or policy that decides; what would change a refusal. A product you may not
    discover is a 404, as an unknown one."""
    return explain.explain(current_identity(), args["action"], args["product_id"], args["org_id"])
