"""Reading request bodies with errors a person can act on."""
from __future__ import annotations

from flask import request

from exchange.core.problems import Problem


def json_object() -> dict:
    """The request body as a JSON object: 415 if it is not JSON, 400 if it does not parse or is not an object."""
    if not request.is_json:
        raise Problem("Send the body as JSON with `Content-Type: application/json`.", status=415,
                      title="Unsupported Media Type")
    body = request.get_json(silent=True)
    if body is None:
        raise Problem("The request body is not valid JSON.", status=400, title="Malformed JSON")
    if not isinstance(body, dict):
        raise Problem("The request body must be a JSON object.", status=400, title="Malformed JSON")
    return body
