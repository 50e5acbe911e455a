"""The access-request and notification API (thin: parse, call the services, serialise).

Asking and withdrawing: ``orders:write``; reading: ``catalog:read``; approving and rejecting (the
provider's providers, administrators): ``catalog:write``.
"""
from __future__ import annotations

import json
import uuid

from flask import Response, request
from flask_smorest import Blueprint

from auth.tokens import current_identity, require_scopes
from exchange.core.body import json_object
from exchange.core.location import LOCATION_HEADER, location
from exchange.core.problems import PROBLEM_MEDIA_TYPE
from exchange.sharing import access, notifications
from exchange.sharing.access_schemas import (AccessRequestCreateSchema, AccessRequestListArgsSchema, ApproveSchema,
                                             NotificationListArgsSchema, RejectSchema)

blp = Blueprint("access", __name__, url_prefix="/api/v1",
                description="Access requests to providers, their approval, and the organisation's notifications")
ASK = require_scopes("orders:write")
READ = require_scopes("catalog:read")
DECIDE = require_scopes("catalog:write")


def _body(schema):
    return blp.doc(requestBody={"content": {"application/json": {"schema": schema}}})


@blp.route("/access-requests", methods=["POST"])
@ASK
@_body(AccessRequestCreateSchema)
@blp.doc(parameters=[{"in": "header", "name": "Idempotency-Key", "required": False, "schema": {"type": "string"}}])
@blp.response(201, headers=LOCATION_HEADER)
def create_access_request():
    """Ask the provider for a product or collection a require_approval policy holds back from you."""
    status, answer = access.create_request(current_identity(), json_object(), request.headers.get("Idempotency-Key"))
    if status >= 400:  # a refusal replayed: the first problem, as it was sent
        return Response(json.dumps(answer), status=status, mimetype=PROBLEM_MEDIA_TYPE)
    return answer, status, location("access.access_request", request_id=answer["id"])


@blp.route("/access-requests", methods=["GET"])
@READ
@blp.arguments(AccessRequestListArgsSchema, location="query")
@blp.response(200)
def access_requests(args):
    """Your organisation's requests and those to it (administrators: all), newest first."""
    items, next_cursor = access.list_requests(current_identity(), state=args["state"], side=args["side"],
                                              after=args["after"], limit=args["limit"])
    return {"items": items, "next": next_cursor}


@blp.route("/access-requests/<uuid:request_id>", methods=["GET"])
@READ
@blp.response(200)
def access_request(request_id: uuid.UUID):
    """One access request (either side, administrators)."""
    return access.view(access.get_request(current_identity(), request_id))


@blp.route("/access-requests/<uuid:request_id>/approve", methods=["POST"])
@DECIDE
@_body(ApproveSchema)
@blp.response(200)
def approve_access_request(request_id: uuid.UUID):
    """Approve with conditions: free (entitlements) or priced (a quote on your offer)."""
    return access.view(access.approve(current_identity(), request_id, json_object()))


@blp.route("/access-requests/<uuid:request_id>/reject", methods=["POST"])
@DECIDE
@_body(RejectSchema)
@blp.response(200)
def reject_access_request(request_id: uuid.UUID):
    """Reject with a reason."""
    return access.view(access.reject(current_identity(), request_id, json_object()))


@blp.route("/access-requests/<uuid:request_id>/withdraw", methods=["POST"])
@ASK
@blp.response(200)
def withdraw_access_request(request_id: uuid.UUID):
    """Take back your organisation's pending request."""
    return access.view(access.withdraw(current_identity(), request_id))


@blp.route("/notifications", methods=["GET"])
@READ
@blp.arguments(NotificationListArgsSchema, location="query")
@blp.response(200)
def list_notifications(args):
    """Your organisation's notifications, newest first."""
    items, next_cursor = notifications.list_notifications(current_identity(), unread=args["unread"],
                                                          after=args["after"], limit=args["limit"])
    return {"items": items, "next": next_cursor}


@blp.route("/notifications/<uuid:notification_id>/read", methods=["POST"])
@READ
@blp.response(200)
def read_notification(notification_id: uuid.UUID):
    """Mark a notification read."""
    return notifications.mark_read(current_identity(), notification_id)
