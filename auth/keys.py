"""Signing keys for access tokens: creation, rotation, the JWKS.

The newest unretired key signs. Rotation retires it and creates a new one; a retired key stays in
the JWKS for the access-token lifetime plus a margin, so tokens it signed keep verifying until they
expire. Private keys are stored encrypted with the app's secret key. Loaded keys are cached per
process by ``kid`` (keys never change once written); the public key set is re-read at most every
``JWKS_CACHE_SECONDS`` or at once when a token names a ``kid`` not seen yet.
"""
from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from datetime import timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import current_app
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from joserfc.jws import extract_compact
from sqlalchemy import or_, select

from auth.oauth_models import SigningKey
from exchange.core.config import secret_key
from exchange.core.db import db, unit_of_work, utcnow

ALGORITHM = "RS256"
JWKS_CACHE_SECONDS = 60
PUBLISH_MARGIN = timedelta(minutes=5)

_lock = threading.Lock()
_private_cache: dict[str, RSAKey] = {}
_public_cache: dict[str, tuple[float, KeySet]] = {}
_active_cache: dict[str, tuple[float, RSAKey]] = {}


def _password() -> bytes:
    return secret_key(current_app.config).encode()


def _create_key() -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = secrets.token_urlsafe(12)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.BestAvailableEncryption(_password()))
    public = RSAKey.import_key(private.public_key(), {"kid": kid, "use": "sig", "alg": ALGORITHM})
    return SigningKey(kid=kid, alg=ALGORITHM, private_pem=pem.decode(), public_jwk=public.as_dict(private=False))


def _newest_active() -> SigningKey | None:
    return db.session.scalar(select(SigningKey).where(SigningKey.retired_at.is_(None))
                             .order_by(SigningKey.created_at.desc()).limit(1))


def rotate() -> SigningKey:
    """Retire the signing key in use (it stays published) and start signing with a new one."""
    with unit_of_work() as uow:
        now = utcnow()
        for key in db.session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))):
            key.retired_at = now
        key = _create_key()
        uow.add(key)
    forget_cached_keys()
    return key


def forget_cached_keys() -> None:
    """Drop this process's key caches (after a rotation; tests that wipe the database)."""
    _public_cache.clear()
    _active_cache.clear()


def signing_key() -> RSAKey:
    """The private key that signs new tokens, created on first use.

    Which key is newest is re-read at most every ``JWKS_CACHE_SECONDS``: after a rotation other
    processes keep signing with the old key for up to that long, which is fine, as it stays published.
    """
    cache_key = current_app.config["SQLALCHEMY_DATABASE_URI"]
    active = _active_cache.get(cache_key)
    if active is not None and time.monotonic() - active[0] < JWKS_CACHE_SECONDS:
        return active[1]
    key = _load_signing_key()
    _active_cache[cache_key] = (time.monotonic(), key)
    return key


def _load_signing_key() -> RSAKey:
    row = _newest_active()
    if row is None:
        with _lock:
            row = _newest_active()
            if row is None:
                with unit_of_work() as uow:
                    row = _create_key()
                    uow.add(row)
                _public_cache.clear()
    key = _private_cache.get(row.kid)
    if key is None:
        private = serialization.load_pem_private_key(row.private_pem.encode(), password=_password())
        key = RSAKey.import_key(private, {"kid": row.kid, "use": "sig", "alg": row.alg})
        _private_cache[row.kid] = key
    return key


def published_jwks() -> dict:
    """The public keys resource servers use to verify tokens: the active key and recently retired ones."""
    lifetime = timedelta(seconds=current_app.config["OAUTH_ACCESS_TOKEN_SECONDS"])
    cutoff = utcnow() - lifetime - PUBLISH_MARGIN
    rows = db.session.scalars(select(SigningKey).where(or_(SigningKey.retired_at.is_(None),
                                                           SigningKey.retired_at > cutoff))
                              .order_by(SigningKey.created_at.desc()))
    return {"keys": [row.public_jwk for row in rows]}


def verification_keys(kid: str | None) -> KeySet:
    """Public keys for verifying a token; reloaded when stale or when ``kid`` is unknown.

    An unknown ``kid`` reloads at most once a second, so made-up kids cannot hammer the database.
    """
    cache_key = current_app.config["SQLALCHEMY_DATABASE_URI"]
    cached = _public_cache.get(cache_key)
    if cached is not None:
        age = time.monotonic() - cached[0]
        known = any(key.kid == kid for key in cached[1].keys)
        if age < JWKS_CACHE_SECONDS and (known or age < 1.0):
            return cached[1]
    keyset = KeySet.import_key_set(published_jwks())
    _public_cache[cache_key] = (time.monotonic(), keyset)
    return keyset


def peek_header(token: str) -> dict:
    """The *unverified* JOSE header of a compact JWT, cheaply: it only picks the verification key."""
    try:
        segment = token.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, TypeError) as exc:
        raise ValueError("not a compact JWT") from exc
    if not isinstance(header, dict):
        raise ValueError("not a compact JWT")
    return header


def peek(token: str) -> tuple[dict, dict]:
    """Header and claims of a compact JWT, *unverified*: for picking the key, or reading a token we
    just signed ourselves. Raises ValueError when it is not a compact JWS."""
    try:
        parts = extract_compact(token.encode())
        return dict(parts.headers()), json.loads(parts.payload)
    except (JoseError, ValueError, TypeError) as exc:
        raise ValueError("not a compact JWT") from exc
