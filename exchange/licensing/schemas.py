"""What the licensing API reads and writes. Inputs refuse unknown fields and name every bad one
(``load_or_problem``); outputs document the views the services build."""
from __future__ import annotations

import math

from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from auth.schemas import PageArgsSchema
from exchange.licensing.models import CURRENCIES, EntitlementStatus, PricingModel, Use

#: The brief's slug, with "." too: the seeded "open-cc-by-4.0" has one.
CODE_PATTERN = r"^[a-z0-9][a-z0-9.-]{1,63}$"
#: How offers, quotes and orders name a template version.
REF_PATTERN = r"^([a-z0-9][a-z0-9.-]{1,63})@([1-9][0-9]{0,8})$"
MAX_TERMS_CHARS = 100_000
#: Largest price in minor units (ten billion yuan): beyond any real offer, and times the largest
#: quantity still inside a BIGINT (quotes refuse a line over ``quotes.MAX_LINE_TOTAL`` anyway).
MAX_PRICE = 10**12
#: The largest per_gb allowance and per_km2 minimum (the Earth is 5.1 × 10⁸ km²).
MAX_GB, MAX_MIN_KM2 = 10**6, 10**9
#: What BIGINT ids (products) and INTEGER template versions hold: larger numbers are refused up front.
MAX_ID, MAX_VERSION = 2**63 - 1, 2**31 - 1
DISCOUNT_KINDS = ("government", "research")


class _Number(fields.Float):
    """A JSON number (not a string that reads as one, not a boolean), finite."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValidationError("Not a valid number.")
        return float(value)


class _Int(fields.Integer):
    """A JSON integer: not a string, a fraction or a boolean (Python counts True as 1)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise ValidationError("Not a valid integer.")
        return super()._deserialize(value, attr, data, **kwargs)


class _CrossChecked(Schema):
    """A schema whose checks across fields run even when a field failed (so that every bad field is
    named at once), and stay quiet about a field that failed on its own."""

    @pre_load
    def _keep_sent(self, data, **kwargs):
        self._sent = data if isinstance(data, dict) else {}
        return data

    def failed(self, data: dict, name: str) -> bool:
        """The field was sent with a value but did not load (its own error says why)."""
        return data.get(name) is None and self._sent.get(name) is not None


def _json_bool(**kwargs) -> fields.Boolean:
    """true or false only (marshmallow would also take "yes", 1 and the like)."""
    return fields.Boolean(truthy={True}, falsy={False}, **kwargs)


def _limit(maximum: int, what: str) -> fields.Integer:
    return _Int(allow_none=True, load_default=None, validate=validate.Range(min=0, max=maximum),
                metadata={"description": f"{what}; null: unlimited"})


# -- licence templates ------------------------------------------------------------------------------
class TemplateInSchema(Schema):
    code = fields.String(required=True, validate=validate.Regexp(
        CODE_PATTERN, error="must be 2 to 64 lower-case letters, digits, '-' or '.', starting with a letter or "
                            "digit (pattern ^[a-z0-9][a-z0-9.-]{{1,63}}$)"))
    title = fields.String(required=True, validate=[validate.Length(min=1, max=200),
                                                   validate.Regexp(r"\S", error="must not be blank")])
    terms = fields.String(required=True, validate=[validate.Length(min=1, max=MAX_TERMS_CHARS),
                                                   validate.Regexp(r"\S", error="must not be blank")],
                          metadata={"description": "The full text of the licence"})
    uses = fields.List(fields.String(validate=validate.OneOf([u.value for u in Use])), required=True,
                       validate=validate.Length(min=1, max=len(Use)),
                       metadata={"description": "Permitted uses: internal, commercial, research, government"})
    redistribution = _json_bool(load_default=False)
    derivatives = _json_bool(load_default=True)
    attribution = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=2000))
    seats = _limit(1_000_000, "users of the licensee organisation")
    duration_days = _limit(36_500, "days the licence lasts")
    downloads_per_asset = _limit(1_000_000, "downloads of each asset")
    bytes_multiple = _limit(1_000, "bytes allowed, as a multiple of the product's size")
    aoi_restricted = _json_bool(load_default=False)

    @validates_schema
    def _distinct_uses(self, data, **kwargs):
        uses = data.get("uses") or []
        if len(set(uses)) != len(uses):
            raise ValidationError({"uses": ["lists a use twice"]})


class TemplateSchema(Schema):
    code = fields.String()
    version = fields.Integer()
    ref = fields.String(metadata={"description": "code@version: how offers and orders name this version"})
    title = fields.String()
    terms = fields.String()
    uses = fields.List(fields.String())
    redistribution = fields.Boolean()
    derivatives = fields.Boolean()
    attribution = fields.String(allow_none=True)
    seats = fields.Integer(allow_none=True)
    duration_days = fields.Integer(allow_none=True)
    downloads_per_asset = fields.Integer(allow_none=True)
    bytes_multiple = fields.Float(allow_none=True)
    aoi_restricted = fields.Boolean()
    created_at = fields.DateTime()


class TemplateCreatedSchema(Schema):
    code = fields.String()
    version = fields.Integer()


class TemplatePageSchema(Schema):
    items = fields.List(fields.Nested(TemplateSchema))
    next = fields.String(allow_none=True)


class TemplateVersionsSchema(Schema):
    items = fields.List(fields.Nested(TemplateSchema))


# -- offers --------------------------------------------------------------------------------------------
class PricingSchema(_CrossChecked):
    model = fields.Enum(PricingModel, by_value=True, required=True)
    price = _Int(load_default=None, validate=validate.Range(min=0, max=MAX_PRICE),
                 metadata={"description": "Minor units per scene, km² or GB; 0 (or absent) when free"})
    currency = fields.String(load_default="CNY", validate=validate.OneOf(CURRENCIES))
    min_km2 = _Number(allow_none=True, load_default=None, validate=validate.Range(min=0, max=MAX_MIN_KM2),
                      metadata={"description": "per_km2: the least area billed"})
    gb = _Number(allow_none=True, load_default=None, validate=validate.Range(min=0, max=MAX_GB, min_inclusive=False),
                 metadata={"description": "per_gb: the prepaid allowance sold, in GB"})

    @validates_schema(skip_on_field_errors=False)
    def _by_model(self, data, **kwargs):
        model, price, errors = data.get("model"), data.get("price"), {}
        if model is PricingModel.free:
            if price not in (None, 0):
                errors["price"] = ["must be 0 (or left out) for a free offer"]
        elif model is not None and not self.failed(data, "price"):
            if price is None:
                errors["price"] = ["is required: the price in minor units per unit"]
            elif price == 0:
                errors["price"] = [f"must be more than 0 for a {model.value} offer (use the free model)"]
        if model is PricingModel.per_km2 and data.get("min_km2") is None and not self.failed(data, "min_km2"):
            errors["min_km2"] = ["is required for per_km2: the least area billed, in km² (0 for none)"]
        if model is not None and model is not PricingModel.per_km2 and data.get("min_km2") is not None:
            errors["min_km2"] = ["is only for the per_km2 model"]
        if model is PricingModel.per_gb and data.get("gb") is None and not self.failed(data, "gb"):
            errors["gb"] = ["is required for per_gb: the allowance sold, in GB (more than 0)"]
        if model is not None and model is not PricingModel.per_gb and data.get("gb") is not None:
            errors["gb"] = ["is only for the per_gb model"]
        if errors:
            raise ValidationError(errors)


class OfferInSchema(_CrossChecked):
    product_id = _Int(allow_none=True, load_default=None, validate=validate.Range(min=1, max=MAX_ID))
    collection_id = fields.String(allow_none=True, load_default=None, validate=validate.Length(min=1, max=255))
    license = fields.String(required=True, validate=validate.Regexp(
        REF_PATTERN, error="must name a licence template version as code@version, e.g. commercial-single-org@1"))
    pricing = fields.Nested(PricingSchema, required=True)
    discounts = fields.Dict(keys=fields.String(validate=validate.OneOf(DISCOUNT_KINDS)),
                            values=_Int(validate=validate.Range(min=0, max=100)),
                            load_default=dict, metadata={"description": "percent off by organisation kind"})
    valid_from = fields.AwareDateTime(allow_none=True, load_default=None)
    valid_until = fields.AwareDateTime(allow_none=True, load_default=None)

    @validates_schema(skip_on_field_errors=False)
    def _target_and_window(self, data, **kwargs):
        errors = {}
        if not (self.failed(data, "product_id") or self.failed(data, "collection_id")) \
                and (data.get("product_id") is None) == (data.get("collection_id") is None):
            errors["product_id"] = ['give exactly one of "product_id" and "collection_id"']
        start, end = data.get("valid_from"), data.get("valid_until")
        if start is not None and end is not None and end <= start:
            errors["valid_until"] = ['must be after "valid_from"']
        if errors:
            raise ValidationError(errors)


class OfferPatchSchema(Schema):
    """What a PATCH may send (a JSON merge patch: ``pricing`` merges into the current pricing, null
    clears a field); the merged offer is then checked as a whole by ``OfferInSchema``."""

    license = fields.String()
    pricing = fields.Dict()
    discounts = fields.Dict()
    valid_from = fields.AwareDateTime()
    valid_until = fields.AwareDateTime(allow_none=True)


class OfferArgsSchema(PageArgsSchema):
    collection = fields.String(load_default=None, metadata={"description": "Only offers on this collection"})
    product = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_ID),
                             metadata={"description": "Only offers on this product"})


class OfferPricingOutSchema(Schema):
    model = fields.String()
    price = fields.Integer()
    currency = fields.String()
    min_km2 = fields.Float(allow_none=True)
    gb = fields.Float(allow_none=True)


class OfferSchema(Schema):
    id = fields.UUID()
    product_id = fields.Integer(allow_none=True)
    collection_id = fields.String(allow_none=True)
    provider_org_id = fields.UUID()
    license = fields.String()
    pricing = fields.Nested(OfferPricingOutSchema)
    discounts = fields.Dict(keys=fields.String(), values=fields.Integer())
    valid_from = fields.DateTime()
    valid_until = fields.DateTime(allow_none=True)
    withdrawn_at = fields.DateTime(allow_none=True)
    revision = fields.Integer(metadata={"description": "Goes up whenever what a buyer pays or accepts changes"})
    status = fields.String(metadata={"description": "on_sale, scheduled, expired or withdrawn"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class OfferPageSchema(Schema):
    items = fields.List(fields.Nested(OfferSchema))
    next = fields.String(allow_none=True)


# -- entitlements ------------------------------------------------------------------------------------
class EntitlementArgsSchema(PageArgsSchema):
    product = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_ID),
                             metadata={"description": "Only licences on this product"})
    status = fields.Enum(EntitlementStatus, by_value=True, load_default=None)


class EntitlementSchema(Schema):
    id = fields.UUID()
    product_id = fields.Integer(allow_none=True)
    collection_id = fields.String()
    item_id = fields.String()
    status = fields.String()
    license = fields.Dict(metadata={"description": "The licence's terms as accepted (a copy)"})
    licensee_org_id = fields.UUID()
    provider_org_id = fields.UUID()
    offer_id = fields.UUID(allow_none=True)
    order_id = fields.UUID(allow_none=True)
    valid_from = fields.DateTime()
    valid_until = fields.DateTime(allow_none=True)
    downloads_per_asset = fields.Integer(allow_none=True, metadata={"description": "null: unlimited"})
    downloads_remaining = fields.Integer(allow_none=True, metadata={
        "description": "downloads left of the asset that has had the most (per asset; null: unlimited)"})
    bytes_allowed = fields.Integer(allow_none=True)
    bytes_used = fields.Integer()
    bytes_reserved = fields.Integer()
    bytes_remaining = fields.Integer(allow_none=True, metadata={"description": "null: unlimited"})
    aoi = fields.Dict(allow_none=True)
    created_at = fields.DateTime()
    attribution = fields.List(fields.String(), metadata={
        "description": "the attribution the sharing policies that apply ask of the licensee for this product "
                       "(besides the template's own, in license.attribution)"})


class EntitlementPageSchema(Schema):
    items = fields.List(fields.Nested(EntitlementSchema))
    next = fields.String(allow_none=True)
