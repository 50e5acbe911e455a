"""RFC 9457 problem details for every error the platform API returns.

Services raise ``Problem`` (or one of its subclasses) with a status, a title a person can act on and,
for validation, the list of every bad field. The handlers turn that, any werkzeug ``HTTPException``
and any unexpected exception into ``application/problem+json`` — an unexpected one is logged with
the request id and answered with a generic 500 that leaks no internals.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, json
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import HTTPException

from storage.errors import StorageNotConfigured, StorageUnavailable

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """An error meant for the caller: its fields become the problem+json body."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str | None = None, *, status: int | None = None, title: str | None = None,
                 type: str = "about:blank", errors: list[dict] | None = None, headers: dict | None = None,
                 **extra: Any) -> None:
        super().__init__(detail or title or self.title)
        self.status = status or self.status
        self.title = title or self.title
        self.detail = detail
        self.type = type
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra


class ValidationProblem(Problem):
    status = 422
    title = "Invalid input"


class NotFound(Problem):
    status = 404
    title = "Not found"


class Conflict(Problem):
    status = 409
    title = "Conflict"


class Forbidden(Problem):
    status = 403
    title = "Forbidden"


class ServiceUnavailable(Problem):
    status = 503
    title = "Service unavailable"


def problem_body(status: int, title: str, detail: str | None = None, *, type: str = "about:blank",
                 errors: list[dict] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": type, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    body.update(extra)
    request_id = g.get("request_id")
    if request_id:
        body["request_id"] = request_id
    return body


def body_of(exc: Problem) -> dict[str, Any]:
    """The problem+json body ``exc`` is answered with (what an idempotency key records to replay)."""
    return problem_body(exc.status, exc.title, exc.detail, type=exc.type, errors=exc.errors, **exc.extra)


def problem_response(status: int, title: str, detail: str | None = None, *, type: str = "about:blank",
                     errors: list[dict] | None = None, headers: dict | None = None, **extra: Any) -> Response:
    body = problem_body(status, title, detail, type=type, errors=errors, **extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


LOCATIONS = {"json", "query", "form", "headers", "files", "cookies", "view_args"}


def flatten_messages(messages: Any, prefix: str = "") -> list[dict]:
    """Turn marshmallow/webargs nested messages into ``[{"field": "a.b", "message": "…"}]``.

    webargs nests messages under the request location ("json", "query"); a person needs the field path.
    """
    if isinstance(messages, dict):
        out: list[dict] = []
        for key, value in messages.items():
            if not prefix and key in LOCATIONS:
                name = ""
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            out.extend(flatten_messages(value, name))
        return out
    if isinstance(messages, (list, tuple)):
        out = []
        for message in messages:
            if isinstance(message, str):
                out.append({"field": prefix or None, "message": message})
            else:
                out.extend(flatten_messages(message, prefix))
        return out
    return [{"field": prefix or None, "message": str(messages)}]


def load_or_problem(schema: Schema, data: object) -> dict:
    """Validate with a marshmallow schema; every bad field becomes one entry of a 422 problem."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise ValidationProblem("One or more fields are invalid; see errors.",
                                errors=flatten_messages(exc.messages)) from exc


def _handle_problem(exc: Problem) -> Response:
    return problem_response(exc.status, exc.title, exc.detail, type=exc.type, errors=exc.errors,
                            headers=exc.headers, **exc.extra)


def _handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    errors = None
    detail = exc.description
    data = getattr(exc, "data", None)  # flask-smorest / webargs attach parsed validation messages here
    if isinstance(data, dict) and data.get("messages"):
        errors = flatten_messages(data["messages"])
        if status == 400 and any(e["message"] == "Invalid JSON body." for e in errors):
            detail = "The request body is not valid JSON."
            errors = None
        elif status == 422:
            detail = "One or more fields are invalid; see errors."
    elif isinstance(data, dict) and data.get("message"):
        detail = data["message"]
    headers = {name: value for name, value in exc.get_headers() if name.lower() != "content-type"}
    if isinstance(data, dict) and data.get("headers"):
        headers.update(data["headers"])
    return problem_response(status, exc.name, detail, errors=errors, headers=headers)


def _handle_storage_unavailable(exc: StorageUnavailable) -> Response:
    """An outage of the object store, wherever it surfaces: the same call can be retried shortly."""
    log.warning("object store unavailable: %s", exc)
    return problem_response(503, ServiceUnavailable.title, "The object store cannot be reached right now; nothing "
                            "was changed. Try again in a moment.", headers={"Retry-After": "5"})


def _handle_storage_not_configured(exc: StorageNotConfigured) -> Response:
    """No store to talk to: an operator's matter, so no Retry-After; the detail says what to set."""
    return problem_response(503, ServiceUnavailable.title, str(exc))


def _handle_unexpected(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return _handle_http_exception(exc)
    log.exception("unhandled error")
    return problem_response(500, "Internal Server Error",
                            "Something went wrong on our side. Quote the request id when reporting it.")


def init_app(app: Flask) -> None:
    app.register_error_handler(Problem, _handle_problem)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(StorageUnavailable, _handle_storage_unavailable)
    app.register_error_handler(StorageNotConfigured, _handle_storage_not_configured)
    app.register_error_handler(Exception, _handle_unexpected)
