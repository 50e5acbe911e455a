"""OAuth client management: users register their own API clients; admins oversee all of them.

A client can never hold a scope its owner's role lacks, and a token cannot register a client with
more scopes than the token itself carries. The secret is returned once and stored only as a digest.
"""
from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from sqlalchemy import delete, select

from auth.models import User
from auth.oauth_models import AccessToken, AuthorizationCode, OAuthClient, RefreshToken, digest
from auth.oauth_server import revoke_family
from exchange.policy import Identity, decide, require
from auth.schemas import ClientInSchema
from auth.policies import holdable_scopes, identity_of
from auth.scopes import SCOPES, join_scope, parse_scope
from exchange.core import paging
from exchange.core.db import db, unit_of_work
from exchange.core.problems import NotFound, ValidationProblem, load_or_problem
from exchange.sharing import audit

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}


def redirect_uri_problem(uri: str) -> str | None:
    """Why ``uri`` cannot be a redirect URI, or None when it can."""
    parts = urlsplit(uri)
    if parts.fragment:
        return "must not contain a fragment"
    if parts.scheme == "https" and parts.netloc:
        return None
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return None  # native apps on the user's machine (RFC 8252)
    if parts.scheme and parts.scheme not in ("http", "https") and "." in parts.scheme:
        return None  # private-use scheme of a native app, e.g. com.example.app:/cb
    return "must be https://…, http://localhost…, or a private-use scheme like com.example.app:/callback"


def create_client(identity: Identity, data: dict, *, owner: User | None = None) -> tuple[OAuthClient, str | None]:
    """Register a client for ``owner`` (default: the acting user). Returns the client and its secret."""
    require(identity, "client:create")
    body = load_or_problem(ClientInSchema(), data)
    owner = owner or db.session.get(User, identity.user_id)
    errors = []
    scopes = parse_scope(body["scope"])
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        errors.append({"field": "scope", "message": f"unknown scope(s): {' '.join(unknown)}"})
    beyond_role = sorted(set(scopes) - holdable_scopes(identity_of(owner)) - set(unknown))
    if beyond_role:
        errors.append({"field": "scope", "message": f"your role does not allow: {' '.join(beyond_role)}"})
    if identity.scopes is not None:
        beyond_token = sorted(set(scopes) - identity.scopes - set(unknown) - set(beyond_role))
        if beyond_token:
            errors.append({"field": "scope", "message": f"your token does not carry: {' '.join(beyond_token)}"})
    grant_types = body["grant_types"]
    if body["public"] and "client_credentials" in grant_types:
        errors.append({"field": "grant_types", "message": "a public client cannot use client_credentials"})
    if "authorization_code" in grant_types and not body["redirect_uris"]:
        errors.append({"field": "redirect_uris", "message": "authorization_code needs at least one redirect URI"})
    for index, uri in enumerate(body["redirect_uris"]):
        problem = redirect_uri_problem(uri)
        if problem:
            errors.append({"field": f"redirect_uris.{index}", "message": problem})
    if errors:
        raise ValidationProblem("The client cannot be registered; see errors.", errors=errors)
    secret = None if body["public"] else secrets.token_urlsafe(32)
    with unit_of_work() as uow:
        client = OAuthClient(client_id=secrets.token_urlsafe(18), secret_hash=digest(secret) if secret else None,
                             name=body["name"].strip(), owner_id=owner.id, grant_types=sorted(set(grant_types)),
                             redirect_uris=body["redirect_uris"], scope=join_scope(scopes))
        uow.add(client)
        _audit(identity, "client.created", client.client_id, name=client.name, owner_id=str(owner.id),
               scope=client.scope, grant_types=client.grant_types, public=secret is None)
    return client, secret


def _audit(actor: Identity, event: str, client_id: str, **details) -> None:
    """A client change in the audit log (never its secret)."""
    audit.record(event, actor_user_id=actor.user_id, actor_org_id=actor.org_id, object_type="client",
                 object_id=client_id, details=details)


def _page(query, after: str | None, limit: int) -> tuple[list[OAuthClient], str | None]:
    """A page of clients after the cursor, which must hold a client id of this listing (a ``next``)."""
    if after is not None:
        try:
            last = paging.decode_key(after)
        except paging.BadCursor:
            last = None
        if last is None or db.session.scalar(query.where(OAuthClient.client_id == last)) is None:
            raise ValidationProblem("The page cursor is invalid; see errors.", errors=[
                {"field": "after", "message": "Not a cursor of this listing: pass the `next` of the previous "
                                              "page, or leave it out for the first page."}])
        query = query.where(OAuthClient.client_id > last)
    rows, more = paging.cut(list(db.session.scalars(query.order_by(OAuthClient.client_id).limit(limit + 1))), limit)
    return rows, (paging.encode(rows[-1].client_id) if more else None)


def list_own_clients(identity: Identity, *, after: str | None, limit: int) -> tuple[list[OAuthClient], str | None]:
    require(identity, "client:list-own")
    return _page(select(OAuthClient).where(OAuthClient.owner_id == identity.user_id), after, limit)


def list_all_clients(identity: Identity, *, after: str | None, limit: int) -> tuple[list[OAuthClient], str | None]:
    require(identity, "client:list-all")
    return _page(select(OAuthClient), after, limit)


def _get(client_id: str) -> OAuthClient:
    client = db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    if client is None:
        raise NotFound(f"No client {client_id!r}.")
    return client


def get_own_client(identity: Identity, client_id: str) -> OAuthClient:
    """One of your clients; someone else's answers 404 as if it did not exist."""
    client = db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    if client is None or not decide(identity, "client:read", client):
        raise NotFound(f"No client {client_id!r}.")
    return client


def delete_client(identity: Identity, client_id: str) -> None:
    """Delete one of your clients; every token it holds stops working at once."""
    client = _get(client_id)
    if not decide(identity, "client:delete", client):
        raise NotFound(f"No client {client_id!r}.")  # someone else's client: do not reveal that it exists
    with unit_of_work():
        for model in (AccessToken, RefreshToken, AuthorizationCode):
            db.session.execute(delete(model).where(model.client_id == client.client_id))
        db.session.delete(client)
        _audit(identity, "client.deleted", client_id, name=client.name, owner_id=str(client.owner_id))


def disable_client(identity: Identity, client_id: str) -> OAuthClient:
    """Administrators switch a client off: it gets no new tokens and its current ones are revoked."""
    require(identity, "client:disable")
    client = _get(client_id)
    with unit_of_work():
        client.disabled = True
        families = set(db.session.scalars(select(AccessToken.family_id).where(AccessToken.client_id == client_id)))
        families |= set(db.session.scalars(select(RefreshToken.family_id).where(RefreshToken.client_id == client_id)))
        for family_id in families:
            revoke_family(family_id)
        _audit(identity, "client.disabled", client_id, name=client.name, owner_id=str(client.owner_id),
               token_families_revoked=len(families))
    return client
