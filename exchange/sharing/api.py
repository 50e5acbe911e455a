"""The sharing API (thin: parse, call the sharing services, serialise).

Administrators write the platform's policies under ``/api/v1/admin/policies`` (``admin:policies``);
providers write policies on their own collections under ``/api/v1/policies`` (``catalog:write``).
"""
from __future__ import annotations

import uuid

from flask_smorest import Blueprint

from auth.tokens import current_identity, require_scopes
from exchange.core.body import json_object
from exchange.core.location import LOCATION_HEADER, location
from exchange.sharing import service
from exchange.sharing.schemas import PolicySchema

blp = Blueprint("sharing", __name__, url_prefix="/api/v1",
                description="Sharing policies, explanations of decisions, access requests, the audit log")
ADMIN = require_scopes("admin:policies")
PROVIDER = require_scopes("catalog:write")


def _body(schema):
    return blp.doc(requestBody={"content": {"application/json": {"schema": schema}}})


def _written(policy, endpoint: str):
    return ({"id": str(policy.id), "version": policy.current_version, "active": policy.active},
            location(endpoint, policy_id=policy.id))


# -- policies ---------------------------------------------------------------------------------------------
@blp.route("/admin/policies", methods=["POST"])
@ADMIN
@_body(PolicySchema)
@blp.response(201, headers=LOCATION_HEADER)
def admin_create_policy():
    """Write a platform-wide sharing policy (version 1); 201 `{"id", "version"}`."""
    return _written(service.create_policy(current_identity(), json_object(), own=False), "sharing.admin_policy")


@blp.route("/admin/policies/<uuid:policy_id>", methods=["PUT"])
@ADMIN
@_body(PolicySchema)
@blp.response(200)
def admin_update_policy(policy_id: uuid.UUID):
    """Replace a policy's document: a new version (the old ones stay readable)."""
    return _written(service.update_policy(current_identity(), policy_id, json_object(), own=False),
                    "sharing.admin_policy")[0]


@blp.route("/admin/policies/<uuid:policy_id>", methods=["DELETE"])
@ADMIN
@blp.response(200)
def admin_deactivate_policy(policy_id: uuid.UUID):
    """Deactivate a policy: no longer enforced, its versions still readable."""
    return _written(service.deactivate_policy(current_identity(), policy_id, own=False), "sharing.admin_policy")[0]


@blp.route("/policies", methods=["POST"])
@PROVIDER
@_body(PolicySchema)
@blp.response(201, headers=LOCATION_HEADER)
def create_policy():
    """Write a sharing policy on your organisation's own collections (providers)."""
    return _written(service.create_policy(current_identity(), json_object(), own=True), "sharing.policy")


@blp.route("/policies/<uuid:policy_id>", methods=["PUT"])
@PROVIDER
@_body(PolicySchema)
@blp.response(200)
def update_policy(policy_id: uuid.UUID):
    """Replace one of your organisation's policies: a new version."""
    return _written(service.update_policy(current_identity(), policy_id, json_object(), own=True),
                    "sharing.policy")[0]


@blp.route("/policies/<uuid:policy_id>", methods=["DELETE"])
@PROVIDER
@blp.response(200)
def deactivate_policy(policy_id: uuid.UUID):
    """Deactivate one of your organisation's policies."""
    return _written(service.deactivate_policy(current_identity(), policy_id, own=True), "sharing.policy")[0]


@blp.route("/admin/policies/<uuid:policy_id>", methods=["GET"])
@ADMIN
@blp.response(200)
def admin_policy(policy_id: uuid.UUID):
    """A policy at its current version."""
    return service.get_policy(current_identity(), policy_id, own=False)


@blp.route("/policies/<uuid:policy_id>", methods=["GET"])
@PROVIDER
@blp.response(200)
def policy(policy_id: uuid.UUID):
    """One of your organisation's policies at its current version."""
    return service.get_policy(current_identity(), policy_id, own=True)
