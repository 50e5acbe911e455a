"""What the sharing API reads: a policy document, checked whole (every bad field named) and normalised
so that the engine (``exchange.sharing.targets``) can trust it."""
from __future__ import annotations

import json

import shapely
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from shapely.errors import ShapelyError
from shapely.geometry import shape

from auth.models import OrgKind
from auth.schemas import PageArgsSchema
from exchange.catalog import properties
from exchange.catalog.cql2_filter import FilterError, parse_filter, to_sqlalchemy
from exchange.catalog.query import QUERYABLES, spatial_ops
from exchange.catalog.spatial import range_problem
from exchange.core import limits
from exchange.licensing.schemas import _CrossChecked, _Int, _json_bool, _Number

ACTIONS = ("discover", "view_footprint", "license", "download")
EFFECTS = ("permit", "deny", "require_approval")
#: The purposes a caller may declare (``SDX-Purpose`` header, an access request's ``purpose``).
PURPOSES = ("research", "education", "commercial", "government", "humanitarian", "personal")
#: Organisation kinds a policy may name (the platform's own organisation is never an assignee).
ASSIGNABLE_KINDS = tuple(kind.value for kind in OrgKind if kind is not OrgKind.platform)
MAX_NAMED = 1000
MAX_REGION_VERTICES = 10_000


class _Uuid(fields.UUID):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("Not a valid UUID.")
        return super()._deserialize(value, attr, data, **kwargs)


def _list(inner, **kwargs):
    return fields.List(inner, load_default=list, validate=validate.Length(max=MAX_NAMED), **kwargs)


class FilterField(fields.Raw):
    """A CQL2 JSON filter over item properties, the catalogue's own dialect (same queryables)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("must be a CQL2 JSON object")
        try:
            parsed = parse_filter(value, "cql2-json")
            # compiled once here so that operators and their arguments are checked now, not at evaluation
            to_sqlalchemy(parsed, QUERYABLES, spatial_ops(), properties.DocumentProperties())
        except (FilterError, limits.LimitExceeded) as exc:
            raise ValidationError(str(exc)) from None
        return parsed


class RegionField(fields.Raw):
    """A GeoJSON Polygon or MultiPolygon in WGS84 degrees: items whose footprint intersects it."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict) or value.get("type") not in ("Polygon", "MultiPolygon"):
            raise ValidationError("must be a GeoJSON Polygon or MultiPolygon")
        try:
            limits.check_vertices(value, "region", MAX_REGION_VERTICES)
            geometry = shapely.force_2d(shape(value))
        except limits.LimitExceeded as exc:
            raise ValidationError(str(exc)) from None
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, ShapelyError) as exc:
            raise ValidationError(f"not a valid GeoJSON geometry: {exc}") from None
        if geometry.is_empty or not geometry.is_valid:
            raise ValidationError("the polygon is empty or not valid (self-intersecting, unclosed ring)")
        problem = range_problem(*geometry.bounds)
        if problem:
            raise ValidationError(problem)
        return json.loads(shapely.to_geojson(geometry))


class TargetSchema(Schema):
    collections = _list(fields.String(validate=validate.Length(min=1, max=255)))
    filter = FilterField(load_default=None, allow_none=True)
    region = RegionField(load_default=None, allow_none=True)


class AssigneeSchema(Schema):
    org_kinds = _list(fields.String(validate=validate.OneOf(ASSIGNABLE_KINDS)))
    org_ids = _list(_Uuid())
    verified = _json_bool(load_default=None, allow_none=True)


class ExceptSchema(Schema):
    org_kinds = _list(fields.String(validate=validate.OneOf(ASSIGNABLE_KINDS)))
    org_ids = _list(_Uuid())


class ConstraintsSchema(_CrossChecked):
    min_age_days = _Int(load_default=None, allow_none=True, validate=validate.Range(min=0, max=36_500))
    max_age_days = _Int(load_default=None, allow_none=True, validate=validate.Range(min=0, max=36_500))
    # "from" is a keyword: the attribute is from_, the JSON name "from".
    from_ = fields.AwareDateTime(data_key="from", load_default=None, allow_none=True, format="iso")
    until = fields.AwareDateTime(load_default=None, allow_none=True, format="iso")
    gsd_lt = _Number(load_default=None, allow_none=True, validate=validate.Range(min=0, max=1e6))
    gsd_gte = _Number(load_default=None, allow_none=True, validate=validate.Range(min=0, max=1e6))
    purposes = _list(fields.String(validate=validate.OneOf(PURPOSES)))

    @validates_schema(skip_on_field_errors=False)
    def _ordered(self, data, **kwargs):
        errors = {}
        if None not in (data.get("from_"), data.get("until")) and data["from_"] > data["until"]:
            errors["until"] = ["is before from"]
        if None not in (data.get("min_age_days"), data.get("max_age_days")) \
                and data["min_age_days"] > data["max_age_days"]:
            errors["max_age_days"] = ["is below min_age_days: no item could match"]
        if errors:
            raise ValidationError(errors)


class DutiesSchema(Schema):
    attribution = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class PolicySchema(_CrossChecked):
    """A sharing policy as an administrator or provider writes it (``POST /api/v1/admin/policies``).
    Omitted parts of ``target`` and ``assignee`` mean "any"."""

    name = fields.String(required=True, validate=[validate.Length(min=1, max=200),
                                                  validate.Regexp(r"\S", error="must not be blank")])
    description = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=5000))
    target = fields.Nested(TargetSchema, load_default=lambda: TargetSchema().load({}))
    assignee = fields.Nested(AssigneeSchema, load_default=lambda: AssigneeSchema().load({}))
    except_ = fields.Nested(ExceptSchema, data_key="except", load_default=lambda: ExceptSchema().load({}))
    actions = fields.List(fields.String(validate=validate.OneOf(ACTIONS)), required=True,
                          validate=validate.Length(min=1, max=len(ACTIONS)))
    effect = fields.String(required=True, validate=validate.OneOf(EFFECTS))
    free_access = _json_bool(load_default=False)
    constraints = fields.Nested(ConstraintsSchema, load_default=lambda: ConstraintsSchema().load({}))
    duties = fields.Nested(DutiesSchema, load_default=lambda: DutiesSchema().load({}))

    @validates_schema(skip_on_field_errors=False)
    def _consistent(self, data, **kwargs):
        errors = {}
        actions = data.get("actions") or []
        if len(set(actions)) != len(actions):
            errors["actions"] = ["lists an action twice"]
        # an effect or actions that failed on their own say so; only what loaded is held against free_access
        if data.get("free_access") and (data.get("effect") not in (None, "permit")
                                        or (not self.failed(data, "actions") and "download" not in actions)):
            errors["free_access"] = ["only a permit that covers download may grant free access"]
        if errors:
            raise ValidationError(errors)


def normalised(data: dict) -> dict:
    """The loaded policy as the JSON document a version stores (and the API shows)."""
    constraints = dict(data["constraints"])
    window = {"from": constraints.pop("from_"), "until": constraints.pop("until")}
    constraints.update({key: value.isoformat() if value is not None else None for key, value in window.items()})
    return {
        "name": data["name"], "description": data.get("description"),
        "target": dict(data["target"]),
        "assignee": {**data["assignee"], "org_ids": [str(i) for i in data["assignee"]["org_ids"]]},
        "except": {**data["except_"], "org_ids": [str(i) for i in data["except_"]["org_ids"]]},
        "actions": list(data["actions"]), "effect": data["effect"], "free_access": data["free_access"],
        "constraints": constraints, "duties": dict(data["duties"]),
    }


# -- what the API answers (OpenAPI output schemas) -----------------------------------------------------
class PolicyWrittenSchema(Schema):
    id = fields.String(metadata={"description": "The policy's id"})
    version = fields.Integer(metadata={"description": "Its current version, the one just written"})
    active = fields.Boolean()


class PolicyViewSchema(Schema):
    """A policy at one version: its state, and that version's whole document."""

    id = fields.String()
    version = fields.Integer(metadata={"description": "The version shown"})
    current_version = fields.Integer()
    active = fields.Boolean()
    owner_org_id = fields.String(allow_none=True, metadata={"description": "A provider's own policy; null: the "
                                                                           "platform's"})
    created_at = fields.String()
    updated_at = fields.String()
    version_created_at = fields.String()
    name = fields.String()
    description = fields.String(allow_none=True)
    target = fields.Dict()
    assignee = fields.Dict()
    except_ = fields.Dict(attribute="except", data_key="except")
    actions = fields.List(fields.String())
    effect = fields.String()
    free_access = fields.Boolean()
    constraints = fields.Dict()
    duties = fields.Dict()


class PolicyPageSchema(Schema):
    items = fields.List(fields.Nested(PolicyViewSchema))
    next = fields.String(allow_none=True, metadata={"description": "Cursor for the next page; null on the last"})


class PolicyVersionsSchema(Schema):
    items = fields.List(fields.Nested(PolicyViewSchema), metadata={"description": "Oldest first"})


class PolicyListArgsSchema(PageArgsSchema):
    active = fields.Boolean(load_default=None, allow_none=True)
    owner_org_id = fields.UUID(load_default=None, allow_none=True,
                               metadata={"description": "Only this provider organisation's policies"})


# -- dry-run and explanations --------------------------------------------------------------------------
MAX_SAMPLE_PRODUCTS = 200
MAX_SAMPLE_ORGS = 50


class SampleSchema(Schema):
    """What a dry-run compares on: the first products (by id, of these collections if named) and the
    first active organisations (by name), with the purpose they would declare."""

    products = _Int(load_default=MAX_SAMPLE_PRODUCTS, validate=validate.Range(min=1, max=MAX_SAMPLE_PRODUCTS))
    organisations = _Int(load_default=MAX_SAMPLE_ORGS, validate=validate.Range(min=1, max=MAX_SAMPLE_ORGS))
    collections = _list(fields.String(validate=validate.Length(min=1, max=255)))
    purpose = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(PURPOSES))


class DryRunSchema(PolicySchema):
    """A draft policy, the policy it would replace (if any), and the sample to compare on."""

    replaces = _Uuid(load_default=None, allow_none=True)
    sample = fields.Nested(SampleSchema, load_default=lambda: SampleSchema().load({}))


class ExplainArgsSchema(Schema):
    action = fields.String(required=True, validate=validate.OneOf(ACTIONS))
    product_id = fields.Integer(required=True, strict=False, validate=validate.Range(min=1, max=2**63 - 1),
                                metadata={"description": "The product (its numeric id, the item key)"})
    org_id = fields.UUID(load_default=None, metadata={"description": "Administrators: ask for this organisation"})


class _SharingAnswerSchema(Schema):
    allowed = fields.Boolean()
    rule = fields.String()
    effect = fields.String(allow_none=True)
    policy = fields.Dict(allow_none=True, metadata={"description": "`{id, version, name}`; null: no policy"})
    free_access = fields.Boolean()


class DryRunChangeSchema(Schema):
    product_id = fields.Integer()
    collection_id = fields.String()
    item_id = fields.String()
    org_id = fields.String()
    org_name = fields.String()
    use = fields.String(metadata={"description": "discover, view_footprint, license or download"})
    before = fields.Nested(_SharingAnswerSchema)
    after = fields.Nested(_SharingAnswerSchema)


class DryRunResultSchema(Schema):
    draft = fields.Dict(metadata={"description": "The draft as it would be stored, and the policy it replaces"})
    sampled = fields.Dict(keys=fields.String(), values=fields.Integer(),
                          metadata={"description": "products, organisations and decisions compared"})
    changed = fields.Integer(metadata={"description": "How many decisions would change"})
    changes = fields.List(fields.Nested(DryRunChangeSchema), metadata={"description": "The first 1,000 of them"})
    truncated = fields.Boolean(metadata={"description": "true: more changed than are listed"})


class ExplanationSchema(Schema):
    allowed = fields.Boolean()
    effect = fields.String(allow_none=True, metadata={"description": "The deciding policy's effect; null: none"})
    rule = fields.String()
    policy = fields.Dict(allow_none=True, metadata={"description": "`{id, version, name}`; null: a base rule"})
    reason = fields.String()
    remedy = fields.String(allow_none=True, metadata={"description": "What would change a refusal, in words"})
    remedies = fields.List(fields.Dict(), metadata={"description": "The same, as data: `order` (offer_id), "
                                                                   "`request_access`, `wait` (until)"})
    free_access = fields.Boolean()
    attribution = fields.String(allow_none=True)
    attributions = fields.List(fields.String())
    base = fields.Boolean(metadata={"description": "true: a platform base rule refused, before any policy"})
