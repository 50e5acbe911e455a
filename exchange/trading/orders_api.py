"""Quotes, orders and spending caps over HTTP (thin: parse, call the service, serialise)."""
from __future__ import annotations

from flask import Response, json, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from auth.schemas import PageArgsSchema
from auth.tokens import current_identity, require_scopes
from exchange.core.body import json_object
from exchange.core.location import LOCATION_HEADER, location
from exchange.core.problems import PROBLEM_MEDIA_TYPE, NotFound, load_or_problem
from exchange.licensing.models import CURRENCIES
from exchange.licensing.schemas import MAX_ID
from exchange.trading import caps, orders, quotes

blp = Blueprint("orders", __name__, url_prefix="/api/v1", description="Quotes, orders and spending caps")
WRITE, READ = require_scopes("orders:write"), require_scopes("orders:read")


class QuoteItemSchema(Schema):
    product_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID))
    offer_id = fields.UUID(required=True)
    aoi = fields.Dict(load_default=None, allow_none=True,
                      metadata={"description": "GeoJSON Polygon or MultiPolygon (WGS84)"})


class QuoteRequestSchema(Schema):
    items = fields.List(fields.Nested(QuoteItemSchema), required=True,
                        validate=validate.Length(min=1, max=quotes.MAX_LINES))


class OrderRequestSchema(Schema):
    quote_id = fields.UUID(required=True)
    accept_licenses = fields.List(fields.String(validate=validate.Length(max=80)), required=True,
                                  validate=validate.Length(max=2 * quotes.MAX_LINES),
                                  metadata={"description": "Every licence of the quote, as code@version"})


class CapRequestSchema(Schema):
    monthly_limit = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=10**15),
                                   metadata={"description": "Minor units per calendar month (UTC)"})


def _currency(currency: str) -> str:
    if currency not in CURRENCIES:
        raise NotFound(f"No currency {currency!r}; use one of {', '.join(CURRENCIES)}.")
    return currency


@blp.route("/quotes", methods=["POST"])
@WRITE
@blp.doc(requestBody={"content": {"application/json": {"schema": QuoteRequestSchema}}})
@blp.response(201, headers=LOCATION_HEADER)
def create_quote():
    """Price products under chosen offers: a line per product (with its reason when it cannot be licensed)."""
    body = load_or_problem(QuoteRequestSchema(), json_object())
    quote = quotes.create_quote(current_identity(), body["items"])
    return quotes.quote_view(quote), location("orders.get_quote", quote_id=quote.id)


@blp.route("/quotes/<uuid:quote_id>", methods=["GET"])
@READ
@blp.response(200)
def get_quote(quote_id):
    """One of your organisation's quotes."""
    return quotes.quote_view(quotes.get_quote(current_identity(), quote_id))


@blp.route("/orders", methods=["POST"])
@WRITE
@blp.doc(requestBody={"content": {"application/json": {"schema": OrderRequestSchema}}},
         parameters=[{"in": "header", "name": "Idempotency-Key", "required": True, "schema": {"type": "string"}}])
@blp.response(201, headers=LOCATION_HEADER)
def place_order():
    """Pay for a quote from the wallet and receive its licences (Idempotency-Key required)."""
    body = load_or_problem(OrderRequestSchema(), json_object())
    status, answer = orders.place_order(current_identity(), body, request.headers.get("Idempotency-Key"))
    if status >= 400:  # a refusal replayed: the first problem, as it was sent
        return Response(json.dumps(answer), status=status, mimetype=PROBLEM_MEDIA_TYPE)
    return answer, status, location("orders.get_order", order_id=answer["id"])


@blp.route("/orders", methods=["GET"])
@READ
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200)
def list_orders(args):
    """Your organisation's orders, newest first (administrators: everyone's)."""
    items, cursor = orders.list_orders(current_identity(), after=args["after"], limit=args["limit"])
    return {"items": items, "next": cursor}


@blp.route("/orders/<uuid:order_id>", methods=["GET"])
@READ
@blp.response(200)
def get_order(order_id):
    """One order."""
    return orders.get_order(current_identity(), order_id)


@blp.route("/orders/<uuid:order_id>/cancel", methods=["POST"])
@WRITE
@blp.response(200)
def cancel_order(order_id):
    """Cancel for a full refund: while nothing licensed was downloaded, within the refund window."""
    return orders.cancel_order(current_identity(), order_id)


@blp.route("/wallet/caps", methods=["GET"])
@READ
@blp.response(200)
def list_caps():
    """Your organisation's monthly spending caps, with what is spent and left this month."""
    return {"items": caps.list_caps(current_identity())}


@blp.route("/wallet/caps/<currency>", methods=["PUT"])
@WRITE
@blp.doc(requestBody={"content": {"application/json": {"schema": CapRequestSchema}}})
@blp.response(200)
def set_cap(currency: str):
    """Set your organisation's monthly spending cap in a currency."""
    body = load_or_problem(CapRequestSchema(), json_object())
    return caps.set_cap(current_identity(), _currency(currency), body["monthly_limit"])


@blp.route("/wallet/caps/<currency>", methods=["DELETE"])
@WRITE
@blp.response(204)
def remove_cap(currency: str):
    """Remove the cap in a currency."""
    caps.remove_cap(current_identity(), _currency(currency))
