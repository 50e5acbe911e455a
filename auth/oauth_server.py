"""The OAuth 2.0 authorization server (Authlib), configured to RFC 9700.

- Authorization code with PKCE S256 required for every client; codes single-use, 10-minute life; a
  replayed code revokes every token issued from it. ``iss`` in authorization responses (RFC 9207).
- Client credentials for confidential clients; the token acts as the client's owning user.
- Refresh tokens rotate on every use; presenting a used one revokes the whole family.
- Access tokens are RFC 9068 JWTs signed with the key from ``auth.keys``; each is recorded by
  ``jti`` so that revocation (RFC 7009) takes effect at once. Introspection per RFC 7662.
- RFC 9396 authorization details of type ``sdx_license`` (``auth.authorization_details``) scope a
  token to licences: asked on the token request (client credentials) or the authorization request
  (kept on the code; the token request may repeat or narrow them); carried by the JWT, the token
  response, the stored rows (a refresh keeps them) and introspection.
Users of organisations that are not active get no tokens.
"""
from __future__ import annotations

import secrets
from contextvars import ContextVar
from datetime import datetime, timedelta, timezone

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError, UnauthorizedClientError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import Flask, current_app
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select, update

from auth import authorization_details as rar
from auth import keys
from auth.models import OrgStatus, User
from auth.oauth_models import AccessToken, AuthorizationCode, OAuthClient, RefreshToken, digest
from auth.policies import holdable_scopes, identity_of
from auth.scopes import SCOPES, parse_scope
from exchange.core.db import db, new_id, utcnow
from exchange.policy import decide
from exchange.sharing import audit

CODE_LIFETIME = timedelta(minutes=10)
CONFIDENTIAL_AUTH = ["client_secret_basic", "client_secret_post"]
ANY_CLIENT_AUTH = [*CONFIDENTIAL_AUTH, "none"]
#: The details of the token being generated, for its claims (the generator's hooks see no request).
_issuing_details: ContextVar[list | None] = ContextVar("issuing_details", default=None)


# -- lookups -------------------------------------------------------------------------------------
def query_client(client_id: str) -> OAuthClient | None:
    client = db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    return None if client is None or client.disabled else client


def ensure_may_hold_tokens(user: User | None) -> User:
    if user is None:
        raise InvalidGrantError("The user of this grant no longer exists.")
    if user.organisation.status is not OrgStatus.active:
        raise InvalidGrantError(f"The user's organisation is {user.organisation.status.value}; it gets no tokens.")
    return user


def revoke_family(family_id) -> None:
    now = utcnow()
    db.session.execute(update(RefreshToken).where(RefreshToken.family_id == family_id,
                                                  RefreshToken.revoked_at.is_(None)).values(revoked_at=now))
    db.session.execute(update(AccessToken).where(AccessToken.family_id == family_id,
                                                 AccessToken.revoked_at.is_(None)).values(revoked_at=now))


def revoke_suspect_family(row: AuthorizationCode | RefreshToken, reason: str) -> None:
    """Revoke the family of a replayed code or reused refresh token, and audit it: it may mean theft."""
    revoke_family(row.family_id)
    user = db.session.get(User, row.user_id)
    audit.record("token.family_revoked", actor_user_id=row.user_id, actor_org_id=user.org_id if user else None,
                 object_type="token_family", object_id=row.family_id, details={"client_id": row.client_id,
                                                                             "reason": reason})


def _claim(model, row_id_column, row_id) -> bool:
    """Mark a single-use credential used; False if someone used it first (atomic on every backend)."""
    result = db.session.execute(update(model).where(row_id_column == row_id, model.used_at.is_(None))
                                .values(used_at=utcnow()))
    return result.rowcount == 1


def find_token(token_string: str, hint: str | None) -> RefreshToken | AccessToken | None:
    """The refresh-token or access-token record a presented token string stands for."""
    def refresh() -> RefreshToken | None:
        return db.session.scalar(select(RefreshToken).where(RefreshToken.token_hash == digest(token_string)))

    def access() -> AccessToken | None:
        try:
            header, _ = keys.peek(token_string)
            token = jwt.decode(token_string, keys.verification_keys(header.get("kid")), algorithms=[keys.ALGORITHM])
        except (JoseError, ValueError):
            return None
        return db.session.get(AccessToken, token.claims.get("jti", ""))

    order = (access, refresh) if hint == "access_token" else (refresh, access)
    for lookup in order:
        found = lookup()
        if found is not None:
            return found
    return None


# -- grants --------------------------------------------------------------------------------------
class RequireS256(CodeChallenge):
    """PKCE with S256 for every client, confidential or public; ``plain`` and no challenge are refused."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send 'code_challenge' with 'code_challenge_method=S256'.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only 'code_challenge_method=S256' is supported.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant, result):
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        super().validate_code_verifier(grant, result)


class LicenceScoped:
    """RFC 9396 for a token grant: the details its ``validate_token_request`` settled go into the JWT,
    the token response and (``save_token``) the stored rows; the scope is cut to a licence-scoped one."""

    def settle_details(self, details: list[dict] | None, asked_scope: str | None, allowed_scope: str) -> None:
        self.request.authorization_details = details
        self.request.licence_scope = rar.licence_scope(asked_scope, allowed_scope) if details else None

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None, include_refresh_token=True):
        details = getattr(self.request, "authorization_details", None)
        reset = _issuing_details.set(details)
        try:
            token = super().generate_token(user=user, scope=self.request.licence_scope if details else scope,
                                           grant_type=grant_type, expires_in=expires_in,
                                           include_refresh_token=include_refresh_token)
        finally:
            _issuing_details.reset(reset)
        if details:
            token["authorization_details"] = details
        return token


class CodeGrant(LicenceScoped, grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ANY_CLIENT_AUTH

    def validate_authorization_request(self) -> str:
        """Details asked for must be the user's organisation's licences; the scope is cut to match
        (asked again when the consent is posted: it gives the same answer)."""
        redirect_uri = super().validate_authorization_request()
        raw = self.request.payload.data.get("authorization_details")
        self.request.authorization_details = None
        if raw is not None:
            try:
                details = rar.parse(raw)
                rar.check_holder(identity_of(self.request.user), details)
                self.request.scope = rar.licence_scope(self.request.payload.scope, self.request.scope)
            except OAuth2Error as error:
                error.redirect_uri = redirect_uri
                raise
            self.request.authorization_details = details
        return redirect_uri

    def save_authorization_code(self, code: str, request) -> None:
        data = request.payload.data
        # The user's role bounds what the code can yield: scopes it does not allow are left out.
        allowed = holdable_scopes(identity_of(request.user))
        scope = " ".join(s for s in parse_scope(request.scope) if s in allowed)
        db.session.add(AuthorizationCode(
            code_hash=digest(code), client_id=request.client.client_id, user_id=request.user.id,
            redirect_uri=request.payload.redirect_uri or "", scope=scope,
            code_challenge=data["code_challenge"], code_challenge_method=data["code_challenge_method"],
            authorization_details=request.authorization_details, expires_at=utcnow() + CODE_LIFETIME))

    def query_authorization_code(self, code: str, client: OAuthClient) -> AuthorizationCode | None:
        """Only looks the code up: it is consumed in ``validate_token_request`` once the whole request
        (redirect URI, PKCE verifier, user) has been found valid, so a refused request changes nothing."""
        row = db.session.scalar(select(AuthorizationCode).where(AuthorizationCode.code_hash == digest(code),
                                                                AuthorizationCode.client_id == client.client_id))
        if row is None or row.expires_at <= utcnow():
            return None
        if row.used_at is not None:
            revoke_suspect_family(row, "code replayed")  # a replayed code: whatever it issued is now suspect
            return None
        return row

    def validate_token_request(self) -> None:
        super().validate_token_request()  # includes the PKCE check (an "after" hook)
        row: AuthorizationCode = self.request.authorization_code
        ensure_may_hold_tokens(db.session.get(User, row.user_id))
        self.settle_details(rar.narrowed(row.authorization_details, self.request.form.get("authorization_details")),
                            None, row.scope)
        if not _claim(AuthorizationCode, AuthorizationCode.id, row.id):
            revoke_suspect_family(row, "code replayed")  # used by a concurrent request: treat as a replay
            raise InvalidGrantError("Invalid 'code' in request.")

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Kept, marked used, so that a replay is recognised; the cleanup task purges it later."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> User:
        return ensure_may_hold_tokens(db.session.get(User, authorization_code.user_id))


class ClientCredentialsGrant(LicenceScoped, grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH

    def validate_token_request(self):
        super().validate_token_request()
        owner = self.request.client.owner
        if owner.organisation.status is not OrgStatus.active:
            raise UnauthorizedClientError(f"The client's organisation is {owner.organisation.status.value}.")
        details = None
        if (raw := self.request.form.get("authorization_details")) is not None:
            details = rar.parse(raw)
            rar.check_holder(identity_of(owner, client_id=self.request.client.client_id), details)
        scope = self.request.payload.scope
        self.settle_details(details, scope, self.request.client.get_allowed_scope(scope))


class RotatingRefreshGrant(LicenceScoped, grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ANY_CLIENT_AUTH
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        """Only looks the token up; it is rotated in ``validate_token_request`` once the request (client,
        scope, user) has been found valid, so a refused refresh leaves the token and its family working."""
        row = db.session.scalar(select(RefreshToken).where(RefreshToken.token_hash == digest(refresh_token)))
        if row is None or row.revoked_at is not None or row.is_expired():
            return None
        if row.client_id != self.request.client.client_id:
            return None
        if row.used_at is not None:
            revoke_suspect_family(row, "refresh token reused")  # reuse of a rotated token: assume it was stolen
            return None
        return row

    def validate_token_request(self) -> None:
        super().validate_token_request()
        row: RefreshToken = self.request.refresh_token
        ensure_may_hold_tokens(db.session.get(User, row.user_id))
        self.settle_details(rar.narrowed(row.authorization_details, self.request.form.get("authorization_details")),
                            self.request.payload.scope, row.scope)
        if not _claim(RefreshToken, RefreshToken.id, row.id):
            revoke_suspect_family(row, "refresh token reused")  # rotated by a concurrent request: treat as reuse
            raise InvalidGrantError()

    def authenticate_user(self, refresh_token: RefreshToken) -> User:
        return ensure_may_hold_tokens(db.session.get(User, refresh_token.user_id))

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        """Already marked used when it was claimed."""


# -- tokens --------------------------------------------------------------------------------------
class AccessTokenGenerator(JWTBearerTokenGenerator):
    def get_jwks(self) -> KeySet:
        return KeySet([keys.signing_key()])

    def get_audiences(self, client, user, scope) -> str:
        return current_app.config["OAUTH_AUDIENCE"]

    def get_jti(self, client, grant_type, user, scope) -> str:
        return secrets.token_urlsafe(18)

    def get_extra_claims(self, client: OAuthClient, grant_type, user: User | None, scope) -> dict:
        acting = user or client.owner  # client credentials act as the client's owning user
        claims = {"sub": str(acting.id), "org": str(acting.org_id)}
        if details := _issuing_details.get():
            claims["authorization_details"] = details
        return claims


def save_token(token: dict, request) -> None:
    client: OAuthClient = request.client
    user = request.user or client.owner
    if getattr(request, "authorization_code", None) is not None:
        family_id, grant_type = request.authorization_code.family_id, "authorization_code"
    elif getattr(request, "refresh_token", None) is not None:
        family_id, grant_type = request.refresh_token.family_id, "refresh_token"
    else:
        family_id, grant_type = new_id(), "client_credentials"
    _, claims = keys.peek(token["access_token"])
    details = token.get("authorization_details")
    db.session.add(AccessToken(jti=claims["jti"], family_id=family_id, client_id=client.client_id, user_id=user.id,
                               scope=token.get("scope", ""), authorization_details=details,
                               expires_at=datetime.fromtimestamp(claims["exp"], timezone.utc)))
    if "refresh_token" in token:
        lifetime = timedelta(seconds=current_app.config["OAUTH_REFRESH_TOKEN_SECONDS"])
        db.session.add(RefreshToken(token_hash=digest(token["refresh_token"]), family_id=family_id,
                                    client_id=client.client_id, user_id=user.id, scope=token.get("scope", ""),
                                    authorization_details=details, expires_at=utcnow() + lifetime))
    audit.record("token.issued", actor_user_id=user.id, actor_org_id=user.org_id, object_type="token",
                 object_id=claims["jti"], details={"client_id": client.client_id, "grant_type": grant_type,
                                                  "scope": token.get("scope", ""), "family_id": str(family_id),
                                                  "refresh_token": "refresh_token" in token})


# -- revocation and introspection ----------------------------------------------------------------
class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ANY_CLIENT_AUTH

    def query_token(self, token_string, token_type_hint):
        return find_token(token_string, token_type_hint)

    def revoke_token(self, token, request) -> None:
        if isinstance(token, RefreshToken):
            revoke_family(token.family_id)  # RFC 7009 §2.1: and the access tokens of the same grant
        elif token.revoked_at is None:
            token.revoked_at = utcnow()
        user = db.session.get(User, token.user_id)
        refresh = isinstance(token, RefreshToken)
        audit.record("token.revoked", actor_user_id=user.id, actor_org_id=user.org_id, object_type="token",
                     object_id=None if refresh else token.jti,  # a refresh token has no jti: its family stands for it
                     details={"client_id": token.client_id, "kind": "refresh_token" if refresh else "access_token",
                              "family_id": str(token.family_id)})


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CONFIDENTIAL_AUTH

    def query_token(self, token_string, token_type_hint):
        return find_token(token_string, token_type_hint)

    def check_permission(self, token, client: OAuthClient, request) -> bool:
        """A client may introspect its own tokens; an administrator's client may introspect any."""
        return decide(identity_of(client.owner, client_id=client.client_id), "oauth:introspect", token).allowed

    def introspect_token(self, token) -> dict:
        """Active only if a resource server would accept it now: not rotated (refresh tokens), and its
        user's organisation active."""
        user = db.session.get(User, token.user_id)
        if isinstance(token, RefreshToken) and token.used_at is not None:
            return {"active": False}
        if user is None or user.organisation.status is not OrgStatus.active:
            return {"active": False}
        answer = {"active": True, "client_id": token.client_id, "scope": token.scope,
                  "token_type": "refresh_token" if isinstance(token, RefreshToken) else "Bearer",
                  "sub": str(token.user_id), "org": str(user.org_id), "username": user.email,
                  "exp": int(token.expires_at.timestamp()), "iss": current_app.config["OAUTH_ISSUER"],
                  "aud": current_app.config["OAUTH_AUDIENCE"]}
        if token.authorization_details:
            answer["authorization_details"] = token.authorization_details  # RFC 9396 §9.2
        return answer


class Issuer(IssuerParameter):
    def get_issuer(self) -> str:
        return current_app.config["OAUTH_ISSUER"]


def init_app(app: Flask) -> AuthorizationServer:
    app.config.setdefault("OAUTH_ISSUER", app.config["PUBLIC_BASE_URL"])
    if not app.config.get("OAUTH_AUDIENCE"):
        app.config["OAUTH_AUDIENCE"] = app.config["PUBLIC_BASE_URL"]
    server = AuthorizationServer()
    server.init_app(app, query_client=query_client, save_token=save_token)
    server.scopes_supported = list(SCOPES)
    server.register_token_generator("default", AccessTokenGenerator(
        issuer=app.config["OAUTH_ISSUER"], alg=keys.ALGORITHM,
        refresh_token_generator=lambda **_: secrets.token_urlsafe(32),
        expires_generator=lambda client, grant_type: app.config["OAUTH_ACCESS_TOKEN_SECONDS"]))
    server.register_grant(CodeGrant, [RequireS256(required=True)])
    server.register_grant(ClientCredentialsGrant)
    server.register_grant(RotatingRefreshGrant)
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)
    server.register_extension(Issuer())
    app.extensions["sdx_oauth_server"] = server
    return server
