"""Cursor paging, shared by every listing: opaque cursors, a page cut from ``limit + 1`` rows, the link on.

A cursor is the keyset of the last row a page showed (never an offset), as compact JSON in URL-safe
base64 without padding, so a client passes it back untouched and paging stays stable while rows are
added. A listing decides what its cursor holds and checks it; this module only packs it.
"""
from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

from exchange.core import limits

#: Our cursors hold a few keyset values; a longer one was not issued here.
MAX_CURSOR_CHARS = 16_384


class BadCursor(ValueError):
    """Not a cursor this server issued (each listing says so in its own words)."""


def encode(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def decode(cursor: str, max_depth: int = 2) -> object:
    """The payload of a cursor ``encode`` made, nested at most ``max_depth`` deep (deeper was not
    issued here, and would cost the JSON parser); ``BadCursor`` if it is not one."""
    try:
        if len(cursor) > MAX_CURSOR_CHARS:
            raise BadCursor
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if limits.json_depth(raw) > max_depth:
            raise BadCursor
        return json.loads(raw)
    except (ValueError, TypeError):
        raise BadCursor from None


def decode_key(cursor: str) -> str:
    """The one key a listing's cursor holds (the last row's id), or ``BadCursor``."""
    key = decode(cursor, max_depth=0)
    if not isinstance(key, str):
        raise BadCursor
    return key


def cut(rows: list, limit: int) -> tuple[list, bool]:
    """A page of the ``limit + 1`` rows a listing read, and whether there are more after it."""
    return rows[:limit], len(rows) > limit


def link(href: str, params: dict, cursor: str, name: str = "token") -> str:
    """``href`` with the request's query parameters and the cursor as ``name`` (last, replacing any)."""
    return f"{href}?{urlencode({**{k: v for k, v in params.items() if k != name}, name: cursor})}"
