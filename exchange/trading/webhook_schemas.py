"""Input and output shapes of the webhooks API."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from auth.schemas import PageArgsSchema
from exchange.trading.webhook_urls import MAX_URL_LENGTH
from exchange.trading.webhooks import EVENT_TYPES

EVENTS_FIELD = dict(validate=validate.Length(max=len(EVENT_TYPES)), metadata={
    "description": f"Event types to receive, among {', '.join(EVENT_TYPES)}; empty or absent: all"})


def _event_type():
    return fields.String(validate=validate.OneOf(EVENT_TYPES, error="unknown event type {input}; "
                                                                     f"known: {', '.join(EVENT_TYPES)}"))


class WebhookCreateSchema(Schema):
    url = fields.String(required=True, validate=validate.Length(min=1, max=MAX_URL_LENGTH), metadata={
        "description": "https:// URL; it must not resolve to a loopback, private or link-local address"})
    events = fields.List(_event_type(), load_default=list, **EVENTS_FIELD)
    active = fields.Boolean(load_default=True)
    org_id = fields.UUID(load_default=None, metadata={"description": "Administrators: the organisation "
                                                                     "(default: the caller's)"})


class WebhookUpdateSchema(Schema):
    url = fields.String(validate=validate.Length(min=1, max=MAX_URL_LENGTH))
    events = fields.List(_event_type(), **EVENTS_FIELD)
    active = fields.Boolean()


class WebhookSchema(Schema):
    id = fields.UUID()
    org_id = fields.UUID()
    url = fields.String()
    events = fields.List(fields.String())
    active = fields.Boolean()
    created_at = fields.DateTime()
    secret = fields.String(metadata={"description": "The signing secret (whsec_…): shown only when the webhook "
                                                    "is made and when its secret is rotated"})


class WebhookListSchema(Schema):
    items = fields.List(fields.Nested(WebhookSchema))
    next = fields.String(allow_none=True)


class AttemptSchema(Schema):
    at = fields.String()
    status_code = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    duration_ms = fields.Integer()


class DeliverySchema(Schema):
    id = fields.UUID(metadata={"description": "The webhook-id header of every attempt"})
    endpoint_id = fields.UUID()
    event_type = fields.String()
    status = fields.String(metadata={"description": "pending, delivered or failed"})
    attempts = fields.Integer()
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    delivered_at = fields.DateTime(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    attempt_log = fields.List(fields.Nested(AttemptSchema))
    payload = fields.Dict()


class DeliveryListSchema(Schema):
    items = fields.List(fields.Nested(DeliverySchema))
    next = fields.String(allow_none=True)


class DeliveryListArgsSchema(PageArgsSchema):
    status = fields.String(load_default=None, validate=validate.OneOf(("pending", "delivered", "failed")))
