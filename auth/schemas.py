"""Input and output shapes for identities; the CLI and the API validate with the same schemas."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from auth.models import OrgKind, OrgStatus, Role

_KINDS = [k.value for k in OrgKind]
_ROLES = [r.value for r in Role]
_SIGNUP_KINDS = [k for k in _KINDS if k != OrgKind.platform.value]


class _Strict(Schema):
    class Meta:
        ordered = True


def _not_blank(value: str) -> None:
    """Names are stored stripped: one of only spaces would be stored empty."""
    if not value.strip():
        raise ValidationError("Must not be blank.")


def _name() -> fields.String:
    return fields.String(required=True, validate=[validate.Length(min=1, max=200), _not_blank])


class OrganisationInSchema(_Strict):
    name = _name()
    kind = fields.String(required=True, validate=validate.OneOf(_KINDS))


class UserInSchema(_Strict):
    org = fields.String(required=True, validate=validate.Length(min=1, max=200),
                        metadata={"description": "Name of the user's organisation"})
    email = fields.Email(required=True, validate=validate.Length(max=320))
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=10, max=1024))
    roles = fields.List(fields.String(validate=validate.OneOf(_ROLES)), required=True,
                        validate=validate.Length(min=1))


class SignupOrganisationSchema(_Strict):
    name = _name()
    kind = fields.String(required=True, validate=validate.OneOf(_SIGNUP_KINDS))


class SignupUserSchema(_Strict):
    email = fields.Email(required=True, validate=validate.Length(max=320))
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=10, max=1024))


class SignupSchema(_Strict):
    organisation = fields.Nested(SignupOrganisationSchema, required=True)
    user = fields.Nested(SignupUserSchema, required=True)


class OrganisationSchema(_Strict):
    id = fields.UUID(dump_only=True)
    name = fields.String()
    kind = fields.Enum(OrgKind, by_value=True)
    status = fields.Enum(OrgStatus, by_value=True)
    verified = fields.Boolean(metadata={"description": "Set by administrators; sharing policies may name it"})
    created_at = fields.DateTime(format="iso")


class VerifyOrgSchema(_Strict):
    verified = fields.Boolean(truthy={True}, falsy={False}, load_default=True)


class UserSchema(_Strict):
    id = fields.UUID(dump_only=True)
    org_id = fields.UUID()
    email = fields.String()
    roles = fields.Method("_roles")
    created_at = fields.DateTime(format="iso")

    def _roles(self, user) -> list[str]:
        return sorted(role.value for role in user.roles)


class _SignupOrgEcho(_Strict):
    name = fields.String()
    kind = fields.String()
    status = fields.String()


class _SignupUserEcho(_Strict):
    email = fields.String()
    roles = fields.List(fields.String())


class SignupResultSchema(_Strict):
    """What was asked for, never ids: the same answer whether or not the email was already registered."""
    organisation = fields.Nested(_SignupOrgEcho)
    user = fields.Nested(_SignupUserEcho)
    detail = fields.String()


GRANT_TYPES = ["authorization_code", "client_credentials", "refresh_token"]


class ClientInSchema(_Strict):
    name = _name()
    grant_types = fields.List(fields.String(validate=validate.OneOf(GRANT_TYPES)), required=True,
                              validate=validate.Length(min=1))
    redirect_uris = fields.List(fields.String(validate=validate.Length(min=1, max=2000)), load_default=list,
                                validate=validate.Length(max=20))
    scope = fields.String(required=True, validate=validate.Length(min=1, max=1000),
                          metadata={"description": "Space-separated scopes, e.g. `catalog:read orders:read`"})
    public = fields.Boolean(load_default=False,
                            metadata={"description": "A public client (browser or native app) has no secret"})


class ClientSchema(_Strict):
    client_id = fields.String()
    name = fields.String()
    owner_id = fields.UUID()
    grant_types = fields.List(fields.String())
    redirect_uris = fields.List(fields.String())
    scope = fields.String()
    public = fields.Boolean(attribute="is_public")
    disabled = fields.Boolean()
    created_at = fields.DateTime(format="iso")


class ClientCreatedSchema(_Strict):
    client = fields.Nested(ClientSchema)
    client_secret = fields.String(allow_none=True,
                                  metadata={"description": "Shown once; store it now. Null for public clients."})


class PageArgsSchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    after = fields.String(load_default=None, metadata={"description": "The `next` cursor of the previous page"})


class ClientPageSchema(_Strict):
    items = fields.List(fields.Nested(ClientSchema))
    next = fields.String(allow_none=True, metadata={"description": "Cursor for the next page; null on the last"})


class OrgListArgsSchema(PageArgsSchema):
    status = fields.Enum(OrgStatus, by_value=True, load_default=None,
                         metadata={"description": "Only organisations in this status, e.g. `pending`"})
    after = fields.String(load_default=None, metadata={"description": "The `next` cursor of the previous page"})


class AdminOrganisationSchema(OrganisationSchema):
    signup_email = fields.String(allow_none=True, metadata={
        "description": "Email of the organisation's first user (who signed up); null if it has none"})


class OrganisationPageSchema(_Strict):
    items = fields.List(fields.Nested(AdminOrganisationSchema))
    next = fields.String(allow_none=True, metadata={"description": "Cursor for the next page; null on the last"})
