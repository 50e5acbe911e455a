"""Refuse text holding NUL (U+0000) before it reaches the database.

PostgreSQL keeps no NUL in text or JSONB: psycopg refuses such a parameter, so a NUL in an id, a query
parameter, a form field, a JSON string or Basic credentials ended as a 500 on PostgreSQL (SQLite stored
it). No field of the platform has a use for it, so a request carrying one is refused whole, before any
handler runs, with a 400 saying where it was (an RFC 6749 error body on /oauth/*, a problem elsewhere).
"""
from __future__ import annotations

import re

from flask import Flask, Response, jsonify, request

from exchange.core.problems import problem_response

#: A JSON ``\u0000`` escape that is not itself an escaped backslash followed by "u0000".
_JSON_NUL_ESCAPE = re.compile(rb"(?:^|[^\\])(?:\\\\)*\\u0000")


def _nul_in_request() -> str | None:
    """Where the request carries a NUL: "path", "query string", "Authorization header" or "body"; None if nowhere."""
    if "\x00" in request.path:
        return "path"
    credentials = request.authorization  # Basic credentials are decoded: a NUL can hide in the base64
    if credentials is not None and any("\x00" in (value or "") for value in (
            credentials.username, credentials.password, credentials.token)):
        return "Authorization header"
    if b"%00" in request.query_string or b"\x00" in request.query_string:
        return "query string"
    if request.mimetype == "application/x-www-form-urlencoded":
        data = request.get_data(cache=True)
        if b"%00" in data or b"\x00" in data:
            return "body"
    elif request.is_json:
        data = request.get_data(cache=True)
        if b"\x00" in data or _JSON_NUL_ESCAPE.search(data):
            return "body"
    return None


def refuse_nul() -> Response | None:
    where = _nul_in_request()
    if where is None:
        return None
    detail = f"The request's {where} holds a NUL character (U+0000), which SDX does not accept."
    if request.path.startswith("/oauth/"):
        response = jsonify(error="invalid_request", error_description=detail)
        response.status_code = 400
        return response
    return problem_response(400, "Bad request", detail)


def init_app(app: Flask) -> None:
    app.before_request(refuse_nul)
