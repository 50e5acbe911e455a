"""The webhooks API (thin: parse, call the webhooks service, serialise). Read: scope ``orders:read``;
write: ``orders:write``."""
from __future__ import annotations

from flask_smorest import Blueprint

from auth.schemas import PageArgsSchema
from auth.tokens import current_identity, require_scopes
from exchange.core.body import json_object
from exchange.core.location import LOCATION_HEADER, location
from exchange.core.problems import load_or_problem
from exchange.trading import webhooks
from exchange.trading.webhook_schemas import (DeliveryListArgsSchema, DeliveryListSchema, DeliverySchema,
                                              WebhookCreateSchema, WebhookListSchema, WebhookSchema,
                                              WebhookUpdateSchema)

blp = Blueprint("webhooks", __name__, url_prefix="/api/v1",
                description="Webhooks: trading events sent to an organisation's HTTPS endpoint, signed "
                            "per Standard Webhooks")
READ = require_scopes("orders:read")
WRITE = require_scopes("orders:write")


@blp.route("/webhooks", methods=["POST"])
@WRITE
@blp.doc(requestBody={"content": {"application/json": {"schema": WebhookCreateSchema}}})
@blp.response(201, WebhookSchema, headers=LOCATION_HEADER)
def create_webhook():
    """Register an endpoint; the answer holds its signing secret, shown this once."""
    body = load_or_problem(WebhookCreateSchema(), json_object())
    endpoint = webhooks.create_endpoint(current_identity(), body)
    return endpoint, location("webhooks.get_webhook", wid=endpoint["id"])


@blp.route("/webhooks", methods=["GET"])
@READ
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, WebhookListSchema)
def list_webhooks(args):
    """The organisation's endpoints (an administrator's: every organisation's), a page at a time."""
    items, next_cursor = webhooks.list_endpoints(current_identity(), after=args["after"], limit=args["limit"])
    return {"items": items, "next": next_cursor}


@blp.route("/webhooks/<uuid:wid>", methods=["GET"])
@READ
@blp.response(200, WebhookSchema)
def get_webhook(wid):
    """One endpoint (without its secret)."""
    return webhooks.get_endpoint(current_identity(), wid)


@blp.route("/webhooks/<uuid:wid>", methods=["PATCH"])
@WRITE
@blp.doc(requestBody={"content": {"application/json": {"schema": WebhookUpdateSchema}}})
@blp.response(200, WebhookSchema)
def update_webhook(wid):
    """Change the URL, the events or whether the endpoint is active."""
    changes = load_or_problem(WebhookUpdateSchema(), json_object())
    return webhooks.update_endpoint(current_identity(), wid, changes)


@blp.route("/webhooks/<uuid:wid>", methods=["DELETE"])
@WRITE
@blp.response(204)
def delete_webhook(wid):
    """Remove the endpoint and its delivery log."""
    webhooks.delete_endpoint(current_identity(), wid)


@blp.route("/webhooks/<uuid:wid>/rotate-secret", methods=["POST"])
@WRITE
@blp.response(200, WebhookSchema)
def rotate_webhook_secret(wid):
    """A new signing secret, shown this once; later deliveries are signed with it."""
    return webhooks.rotate_secret(current_identity(), wid)


@blp.route("/webhooks/<uuid:wid>/deliveries", methods=["GET"])
@READ
@blp.arguments(DeliveryListArgsSchema, location="query")
@blp.response(200, DeliveryListSchema)
def list_deliveries(args, wid):
    """The delivery log, newest first: event, status, attempts, last answer or error, times."""
    items, next_cursor = webhooks.list_deliveries(current_identity(), wid, after=args["after"], limit=args["limit"],
                                                  status=args["status"])
    return {"items": items, "next": next_cursor}


@blp.route("/webhooks/<uuid:wid>/deliveries/<uuid:did>/retry", methods=["POST"])
@WRITE
@blp.response(202, DeliverySchema)
def retry_delivery(wid, did):
    """Send a failed delivery again now."""
    return webhooks.retry_delivery(current_identity(), wid, did)
