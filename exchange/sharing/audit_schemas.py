"""The audit log on the wire: the listing's filters and its entries."""
from __future__ import annotations

from datetime import timezone

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from auth.schemas import PageArgsSchema


class AuditArgsSchema(PageArgsSchema):
    actor = fields.UUID(load_default=None, metadata={"description": "Only entries by this user (id)"})
    org = fields.UUID(load_default=None, metadata={"description": "Only entries by members of this organisation"})
    action = fields.String(load_default=None, validate=validate.Length(min=1, max=60),
                           metadata={"description": "An exact action (`order.placed`) or a prefix ending in `.` "
                                                    "(`order.`)"})
    object_type = fields.String(load_default=None, validate=validate.Length(min=1, max=40))
    object_id = fields.String(load_default=None, validate=validate.Length(min=1, max=100))
    from_ = fields.AwareDateTime(data_key="from", attribute="from", load_default=None, default_timezone=timezone.utc,
                                 metadata={"description": "Entries at or after this time (RFC 3339)"})
    to = fields.AwareDateTime(load_default=None, default_timezone=timezone.utc,
                              metadata={"description": "Entries before this time (RFC 3339)"})

    @validates_schema
    def _window(self, data: dict, **_) -> None:
        if data.get("from") and data.get("to") and data["from"] >= data["to"]:
            raise ValidationError("must be later than `from`", field_name="to")


class AuditEntrySchema(Schema):
    seq = fields.Integer()
    at = fields.DateTime()
    action = fields.String()
    actor_user_id = fields.UUID(allow_none=True)
    actor_org_id = fields.UUID(allow_none=True)
    object_type = fields.String(allow_none=True)
    object_id = fields.String(allow_none=True)
    details = fields.Dict()
    prev_hash = fields.String()
    hash = fields.String()


class AuditPageSchema(Schema):
    items = fields.List(fields.Nested(AuditEntrySchema))
    next = fields.String(allow_none=True, metadata={"description": "Cursor for the next page; null on the last"})


class ChainStatusSchema(Schema):
    holds = fields.Boolean()
    entries = fields.Integer(metadata={"description": "Entries checked"})
    head_seq = fields.Integer(metadata={"description": "The last entry's seq as the head row records it"})
    bad_seq = fields.Integer(allow_none=True, metadata={"description": "The first entry that does not hold"})
    problem = fields.String(allow_none=True)
