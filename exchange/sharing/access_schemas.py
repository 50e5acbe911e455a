"""What the access-request and notification API reads: every bad field is named at once."""
from __future__ import annotations

import uuid

from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from auth.schemas import PageArgsSchema
from exchange.licensing.schemas import _Int
from exchange.sharing.schemas import PURPOSES

MAX_MESSAGE = 2000
#: The longest approval (ten years) and the largest byte allowance one may set (a petabyte).
MAX_DURATION_DAYS = 3650
MAX_BYTES = 10**15
STATES = ("pending", "approved", "rejected", "withdrawn", "expired")
SIDES = ("requester", "provider")


class _Text(fields.String):
    """A JSON string (a number is not one)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("Not a valid string.")
        return super()._deserialize(value, attr, data, **kwargs)


class AccessRequestCreateSchema(Schema):
    product_id = _Int(validate=validate.Range(min=1, max=2**63 - 1), metadata={"description": "The product (its key)"})
    collection_id = _Text(validate=validate.Length(min=1, max=255), metadata={"description": "Or a whole collection"})
    purpose = _Text(required=True, validate=validate.OneOf(PURPOSES, error=f"one of {', '.join(PURPOSES)}"))
    message = _Text(load_default=None, validate=validate.Length(max=MAX_MESSAGE))

    @pre_load
    def _keep_sent(self, data, **kwargs):
        self._sent = set(data) if isinstance(data, dict) else set()
        return data

    @validates_schema(skip_on_field_errors=False)
    def _one_target(self, data, **kwargs):
        sent = self._sent & {"product_id", "collection_id"}
        if len(sent) != 1:  # (a sent one that failed carries its own message, and this one too)
            message = "give exactly one of product_id and collection_id"
            raise ValidationError({name: [message] for name in sorted(sent or {"product_id"})})


class PriceField(fields.Raw):
    """``"free"``, or ``{"offer_id": …}``: the provider's offer the requester is quoted on."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value == "free":
            return "free"
        if isinstance(value, dict) and set(value) == {"offer_id"} and isinstance(value["offer_id"], str):
            try:
                return {"offer_id": uuid.UUID(value["offer_id"])}
            except ValueError:
                pass
        raise ValidationError('"free" or {"offer_id": "<the offer\'s id>"}')


class ApproveSchema(Schema):
    duration_days = _Int(load_default=None, allow_none=True, validate=validate.Range(min=1, max=MAX_DURATION_DAYS),
                         metadata={"description": "How long the approval (and a free grant) lasts; null: open-ended"})
    downloads_per_asset = _Int(load_default=None, allow_none=True, validate=validate.Range(min=1, max=10**6))
    bytes_allowed = _Int(load_default=None, allow_none=True, validate=validate.Range(min=1, max=MAX_BYTES))
    price = PriceField(required=True)
    license = _Text(load_default=None, validate=validate.Length(min=3, max=80), metadata={
        "description": "A free grant's licence template, code@version (default research-noncommercial@1)"})


class RejectSchema(Schema):
    reason = _Text(required=True, validate=validate.Length(min=1, max=MAX_MESSAGE))


class AccessRequestListArgsSchema(PageArgsSchema):
    state = fields.String(load_default=None, validate=validate.OneOf(STATES))
    side = fields.String(load_default=None, validate=validate.OneOf(SIDES), metadata={
        "description": "requester: your organisation's requests; provider: requests to it"})


class NotificationListArgsSchema(PageArgsSchema):
    unread = fields.Boolean(load_default=None)
