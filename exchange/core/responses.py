"""Response shapes shared by every part of the platform: a bare 204 and the OpenAPI document's media type."""
from __future__ import annotations

from flask import Flask, Response
from flask_smorest import Api

#: What the STAC landing page's ``service-desc`` link announces, and what /api/openapi.json is served as.
OPENAPI_MEDIA_TYPE = "application/vnd.oai.openapi+json;version=3.0"


def _bare_no_content(response: Response) -> Response:
    """A 204 has no content (RFC 9110 §15.3.5), so no Content-Type or Content-Length either: Flask would
    label a view's ``"", 204`` text/html and flask-smorest's ``@response(204)`` application/json."""
    if response.status_code == 204:
        response.data = b""
        response.headers.pop("Content-Type", None)
        response.headers.pop("Content-Length", None)
    return response


class PlatformApi(Api):
    """flask-smorest's Api, serving its document with the media type the ``service-desc`` link
    announces (a ``+json`` type: JSON clients still read it)."""

    def _openapi_json(self) -> Response:
        response = super()._openapi_json()
        response.content_type = OPENAPI_MEDIA_TYPE
        return response


def init_app(app: Flask) -> None:
    app.after_request(_bare_no_content)
