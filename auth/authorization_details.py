"""RFC 9396 Rich Authorization Requests: the ``sdx_license`` type, which scopes a token to licences.

``[{"type": "sdx_license", "license_ids": ["<uuid>", …], "actions": ["download"]}]`` asks for a token
that downloads only under those licences, all of which must be the acting organisation's. Such a
token holds ``data:download`` (required: details alone download nothing, and a scope alone is not
scoped to licences) and at most ``catalog:read`` besides, to find the assets; nothing else.
Malformed or foreign details are refused with ``invalid_authorization_details`` (RFC 9396 §5).
"""
from __future__ import annotations

import json
import uuid

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidScopeError

from auth.scopes import parse_scope
from exchange.policy import Identity, decide

TYPES_SUPPORTED = ["sdx_license"]
ACTIONS = ("download",)
#: What a licence-scoped token may hold; ``data:download`` it must.
LICENCE_SCOPES = ("catalog:read", "data:download")
MAX_DETAILS = 10
MAX_LICENSES = 100  # per request: each is looked up before a token is issued
FIELDS = {"type", "license_ids", "actions"}


class InvalidAuthorizationDetails(OAuth2Error):
    error = "invalid_authorization_details"
    status_code = 400


def parse(raw: str) -> list[dict]:
    """The ``authorization_details`` parameter, validated and normalised (licence ids sorted and
    unique, actions defaulting to ``["download"]``). Raises naming every problem found."""
    try:
        details = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise InvalidAuthorizationDetails("authorization_details is not JSON (or is nested too deep).") from None
    if not isinstance(details, list) or not details:
        raise InvalidAuthorizationDetails("authorization_details must be a non-empty JSON array of objects.")
    if len(details) > MAX_DETAILS:
        raise InvalidAuthorizationDetails(f"authorization_details has more than {MAX_DETAILS} objects.")
    problems, normalised = [], []
    for index, detail in enumerate(details):
        where = f"authorization_details[{index}]"
        if not isinstance(detail, dict):
            problems.append(f"{where} is not an object")
            continue
        if detail.get("type") not in TYPES_SUPPORTED:
            problems.append(f"{where}.type must be one of {', '.join(TYPES_SUPPORTED)}")
            continue
        if unknown := sorted(set(detail) - FIELDS):
            problems.append(f"{where} has unknown fields ({', '.join(_printable(f) for f in unknown)})")
        ids = detail.get("license_ids")
        if not isinstance(ids, list) or not ids:
            problems.append(f"{where}.license_ids must be a non-empty array of licence ids")
        elif len(ids) > MAX_LICENSES:
            problems.append(f"{where}.license_ids names more than {MAX_LICENSES} licences")
        else:
            bad = [str(n) for n, value in enumerate(ids) if _uuid(value) is None]
            if bad:
                problems.append(f"{where}.license_ids: item(s) {', '.join(bad)} not a UUID")
        actions = detail.get("actions", list(ACTIONS))
        if not isinstance(actions, list) or not actions or not set(map(str, actions)) <= set(ACTIONS):
            problems.append(f"{where}.actions must be a non-empty subset of {', '.join(ACTIONS)}")
        if not problems:
            normalised.append({"type": "sdx_license", "license_ids": sorted({str(_uuid(v)) for v in ids}),
                               "actions": sorted(set(actions))})
    if not problems and len(license_ids(normalised)) > MAX_LICENSES:
        problems.append(f"authorization_details names more than {MAX_LICENSES} licences in all")
    if problems:
        raise InvalidAuthorizationDetails("; ".join(problems) + ".")
    return normalised


def license_ids(details: list[dict] | None) -> frozenset[uuid.UUID] | None:
    """The licences granted details scope a token to; None: not licence-scoped."""
    if not details:
        return None
    return frozenset(uuid.UUID(value) for detail in details for value in detail["license_ids"])


def check_holder(identity: Identity, details: list[dict]) -> None:
    """Every licence named must be the acting organisation's ("license:scope-token"); an unknown id
    and another organisation's are the same refusal, so ids do not leak."""
    foreign = sorted(str(ident) for ident in license_ids(details)
                     if not decide(identity, "license:scope-token", ident))
    if foreign:
        raise InvalidAuthorizationDetails(f"Not licences of your organisation: {', '.join(foreign)}.")


def narrowed(granted: list[dict] | None, raw: str | None) -> list[dict] | None:
    """The details a token request gets from a grant that already carries ``granted`` (a code, a
    refresh token): the request may repeat or narrow them (RFC 9396 §6.1), never widen them."""
    if raw is None:
        return granted
    asked = parse(raw)
    if granted is None:
        raise InvalidAuthorizationDetails("This grant carries no authorization_details; a token request cannot add them.")
    if not license_ids(asked) <= license_ids(granted):
        raise InvalidAuthorizationDetails("authorization_details names licences this grant was not given.")
    return asked


def licence_scope(asked: str | None, allowed: str) -> str:
    """The scope of a licence-scoped token: ``allowed`` (what the client or code may hold) cut to
    ``LICENCE_SCOPES`` when no scope was asked for; an explicit ask beyond them is refused."""
    held = parse_scope(allowed)
    if asked:
        beyond = [scope for scope in parse_scope(asked) if scope not in LICENCE_SCOPES]
        if beyond:
            raise InvalidScopeError(f"A licence-scoped token may hold only {' '.join(LICENCE_SCOPES)}; "
                                    f"not {' '.join(beyond)}.")
    scope = [s for s in held if s in LICENCE_SCOPES]
    if "data:download" not in scope:
        raise InvalidScopeError("A licence-scoped token (authorization_details of type sdx_license) needs the "
                                "data:download scope.")
    return " ".join(scope)


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _printable(text: str) -> str:
    """User text in an error_description: RFC 6749 allows printable ASCII without quote and backslash."""
    cleaned = "".join(c for c in text if 0x20 <= ord(c) <= 0x7E and c not in '"\\')[:40]
    return cleaned or "?"
