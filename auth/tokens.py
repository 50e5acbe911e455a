"""Resource protection: verify the bearer token of an API call and require scopes.

A token is accepted only if it is an RFC 9068 JWT (``typ: at+jwt``) signed with one of our
published keys (RS256; ``alg: none`` and unknown keys are refused), from our issuer, for our
audience, unexpired, not revoked (looked up by ``jti``), and its user's organisation is active.
Failures answer 401 with ``WWW-Authenticate: Bearer error="invalid_token"``; a missing scope
answers 403 with ``error="insufficient_scope"`` naming the scopes needed. A licence-scoped token
(RFC 9396 ``sdx_license`` details) acts with ``Identity.license_ids`` and is refused (403, rule
``license-scope``) on signed-in routes that need no scope: those manage the account (API clients),
which a token meant to read one licence's data must not do. Public reads (and the download gateway,
which decides per file) take it.
"""
from __future__ import annotations

import time
from functools import wraps

from flask import current_app, g, request
from joserfc import jwt
from joserfc.errors import JoseError
from sqlalchemy import bindparam, select

from auth import keys
from auth.authorization_details import license_ids
from auth.models import Organisation, OrgStatus, User, UserRole
from auth.oauth_models import AccessToken
from exchange.policy import ANONYMOUS, Identity
from auth.scopes import parse_scope
from exchange.core.db import db
from exchange.core.problems import Forbidden, Problem

CLOCK_SKEW_SECONDS = 30


class InvalidToken(Problem):
    status = 401
    title = "Unauthorized"

    def __init__(self, detail: str, *, error: str | None = "invalid_token") -> None:
        challenge = f'Bearer realm="sdx", error="{error}"' if error else 'Bearer realm="sdx"'
        if error:
            challenge += ', error_description="{}"'.format(detail.replace('"', "'"))
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class InsufficientScope(Problem):
    status = 403
    title = "Insufficient scope"

    def __init__(self, missing: list[str]) -> None:
        needed = " ".join(missing)
        super().__init__(f"This call needs the scope(s): {needed}.", missing_scopes=missing, headers={
            "WWW-Authenticate": f'Bearer realm="sdx", error="insufficient_scope", scope="{needed}"'})


def _claims_registry() -> jwt.JWTClaimsRegistry:
    config = current_app.config
    return jwt.JWTClaimsRegistry(
        leeway=CLOCK_SKEW_SECONDS,
        iss={"essential": True, "value": config["OAUTH_ISSUER"]},
        aud={"essential": True, "value": config["OAUTH_AUDIENCE"]},
        exp={"essential": True}, sub={"essential": True}, jti={"essential": True},
        client_id={"essential": True}, iat={"essential": True})


#: Built once: revocation, owner and organisation status of a token in one indexed round trip.
_TOKEN_STATE = (
    select(AccessToken.revoked_at, User.id, Organisation.id, Organisation.status, UserRole.role)
    .join(User, User.id == AccessToken.user_id)
    .join(Organisation, Organisation.id == User.org_id)
    .outerjoin(UserRole, UserRole.user_id == User.id)
    .where(AccessToken.jti == bindparam("jti"))
)


#: Tokens whose signature and claims were verified, per app: token string → claims. A client sends
#: the same token many times; its signature cannot change, so only its expiry is checked again (the
#: revocation and organisation checks below run on every call).
VERIFIED_CACHE_SIZE = 10_000


def _verified_claims(token_string: str) -> dict:
    cache: dict = current_app.extensions.setdefault("sdx_verified_tokens", {})
    claims = cache.get(token_string)
    if claims is not None:
        if claims["exp"] + CLOCK_SKEW_SECONDS < time.time():
            cache.pop(token_string, None)
            raise InvalidToken("The access token is not valid (ExpiredTokenError).")
        return claims
    try:
        header = keys.peek_header(token_string)
    except ValueError:
        raise InvalidToken("The access token is malformed.") from None
    if header.get("alg") != keys.ALGORITHM or header.get("typ") != "at+jwt":
        raise InvalidToken("The access token is not an RS256-signed at+jwt.")
    try:
        token = jwt.decode(token_string, keys.verification_keys(header.get("kid")), algorithms=[keys.ALGORITHM])
        _claims_registry().validate(token.claims)
    except (JoseError, ValueError) as exc:
        raise InvalidToken(f"The access token is not valid ({type(exc).__name__}).") from None
    if len(cache) >= VERIFIED_CACHE_SIZE:
        cache.clear()  # bounded memory; the next calls verify again
    cache[token_string] = token.claims
    return token.claims


def identity_from_token(token_string: str) -> Identity:
    """Verify an access token and return who it acts for; raises ``InvalidToken``."""
    claims = _verified_claims(token_string)
    # Core on a pooled connection of its own: the ORM session adds ~0.1 ms and nothing here needs it.
    with db.engine.connect() as connection:
        rows = connection.execute(_TOKEN_STATE, {"jti": claims["jti"]}).all()
    if not rows:
        raise InvalidToken("The access token is unknown.")
    revoked_at, user_id, org_id, org_status, _ = rows[0]
    if revoked_at is not None:
        raise InvalidToken("The access token has been revoked.")
    if org_status is not OrgStatus.active:
        raise InvalidToken(f"The organisation is {org_status.value}.")
    return Identity(user_id=user_id, org_id=org_id, org_status=org_status,
                    roles=frozenset(row.role for row in rows if row.role is not None),
                    scopes=frozenset(parse_scope(claims.get("scope"))),
                    license_ids=license_ids(claims.get("authorization_details")),
                    extra={"client_id": claims["client_id"], "jti": claims["jti"]})


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def require_scopes(*scopes: str, allow_anonymous: bool = False):
    """Protect an API route: a valid token holding every scope in ``scopes`` (AND semantics).

    With ``allow_anonymous`` a request with no token proceeds as the anonymous identity; a bad
    token is still refused.
    """
    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            token = bearer_token()
            if token is None:
                if not allow_anonymous:
                    raise InvalidToken("This call needs an access token (Authorization: Bearer …).", error=None)
                g.identity = ANONYMOUS
            else:
                identity = identity_from_token(token)
                missing = [scope for scope in scopes if scope not in identity.scopes]
                if missing:
                    raise InsufficientScope(missing)
                if identity.license_ids is not None and not scopes and not allow_anonymous:
                    raise Forbidden("A licence-scoped token (authorization_details of type sdx_license) only "
                                    "reads the catalogue and downloads under its licences.", rule="license-scope")
                g.identity = identity
            return view(*args, **kwargs)

        wrapper.required_scopes = scopes  # read by the tests that check every route is protected
        wrapper.allows_anonymous = allow_anonymous
        return wrapper

    return decorate


def current_identity() -> Identity:
    return g.get("identity", ANONYMOUS)
