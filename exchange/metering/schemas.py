"""Shapes of the usage report and the presigned-link API."""
from __future__ import annotations

import datetime as dt
import re

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from exchange.licensing.schemas import MAX_ID
from exchange.metering.links import MAX_ASSETS
from exchange.metering.usage import GROUPS, MAX_DAYS

DAY = re.compile(r"^\d{4}-\d{2}-\d{2}\Z")


class _Day(fields.Field):
    """A UTC day as YYYY-MM-DD (nothing else: no times, no week dates)."""

    def _deserialize(self, value, attr, data, **kwargs) -> dt.date:
        if not isinstance(value, str) or not DAY.match(value):
            raise ValidationError("must be a day as YYYY-MM-DD")
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValidationError("no such day") from None

    def _serialize(self, value, attr, obj, **kwargs):
        return value.isoformat() if value is not None else None


def _groups(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(","))


def _group_by(value: str) -> None:
    parts = _groups(value)
    if any(part not in GROUPS for part in parts) or len(set(parts)) != len(parts):
        raise ValidationError(f"must be one or more of {', '.join(GROUPS)}, comma-separated, each once")


class UsageArgsSchema(Schema):
    from_ = _Day(data_key="from", load_default=None,
                 metadata={"description": "First UTC day (default: 29 days before `to`)", "example": "2026-11-01"})
    to = _Day(load_default=None, metadata={"description": "Last UTC day, inclusive (default: today)"})
    group_by = fields.String(load_default="day", validate=_group_by,
                               metadata={"description": "day, product or org (or several, comma-separated)"})
    side = fields.String(load_default=None, validate=validate.OneOf(["licensee", "provider"]),
                         metadata={"description": "licensee: your organisation's own use; provider: the use of "
                                                  "your products (the default for providers). Ignored for admins."})
    org_id = fields.UUID(load_default=None, metadata={"description": "Only this licensee organisation"})
    provider_org_id = fields.UUID(load_default=None, metadata={"description": "Only this provider's products"})
    format = fields.String(load_default=None, validate=validate.OneOf(["json", "csv"]),
                           metadata={"description": "csv: the same as `Accept: text/csv`"})
    limit = fields.Integer(load_default=1000, validate=validate.Range(min=1, max=10_000),
                           metadata={"description": "Groups per page (JSON; CSV holds them all)"})
    after = fields.String(load_default=None, validate=validate.Length(max=4096),
                          metadata={"description": "The `next` cursor of the previous page"})

    @validates_schema(skip_on_field_errors=True)
    def _range(self, data, **kwargs):
        today = dt.datetime.now(dt.timezone.utc).date()
        end = data["to"] or today
        start = data["from_"] or end - dt.timedelta(days=29)
        if start > end:
            raise ValidationError("must not be after `to`", "from")
        if (end - start).days + 1 > MAX_DAYS:
            raise ValidationError(f"the range may span at most {MAX_DAYS} days", "from")
        data["from_"], data["to"], data["group_by"] = start, end, _groups(data["group_by"])


class UsageItemSchema(Schema):
    day = _Day()
    product_id = fields.Integer(allow_none=True)
    collection_id = fields.String(allow_none=True)
    item_id = fields.String(allow_none=True)
    provider_org_id = fields.UUID(allow_none=True)
    org_id = fields.UUID(allow_none=True, metadata={"description": "The licensee organisation"})
    org_name = fields.String(allow_none=True)
    downloads = fields.Integer(metadata={"description": "Counted downloads (COUNTER: repeats within 30 s and "
                                                        "the ranges of one resumed download count once)"})
    bytes = fields.Integer(metadata={"description": "Bytes sent (for links: the objects' full sizes)"})
    refusals = fields.Integer(metadata={"description": "Attempts a rule refused"})


class UsageTotalsSchema(Schema):
    downloads = fields.Integer()
    bytes = fields.Integer()
    refusals = fields.Integer()


class UsageReportSchema(Schema):
    from_ = _Day(data_key="from")
    to = _Day()
    group_by = fields.List(fields.String())
    items = fields.List(fields.Nested(UsageItemSchema))
    totals = fields.Nested(UsageTotalsSchema, metadata={"description": "Of the whole range, all pages"})
    next = fields.String(allow_none=True, metadata={"description": "Cursor for the next page; null on the last"})


class LinkAssetSchema(Schema):
    product_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID))
    key = fields.String(required=True, validate=validate.Length(min=1, max=100))


class LinksRequestSchema(Schema):
    assets = fields.List(fields.Nested(LinkAssetSchema), required=True,
                         validate=validate.Length(min=1, max=MAX_ASSETS))


class PresignedLinkSchema(Schema):
    product_id = fields.Integer()
    key = fields.String()
    url = fields.String(metadata={"description": "A presigned S3 GET; works until expires_at"})
    expires_at = fields.String(metadata={"format": "date-time", "description": "RFC 3339, UTC"})
    size = fields.Integer(metadata={"description": "Bytes, all charged to the licence when the link was issued"})
    sha256 = fields.String()


class PresignedLinksSchema(Schema):
    license_id = fields.UUID()
    links = fields.List(fields.Nested(PresignedLinkSchema))
    bytes_remaining = fields.Integer(allow_none=True, metadata={"description": "Left on the licence; null: unlimited"})
    attribution = fields.List(fields.String(), metadata={
        "description": "the attribution the sharing policies ask (a download through the gateway sends it as "
                       "SDX-Attribution)"})
