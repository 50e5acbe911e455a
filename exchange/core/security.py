"""Security headers on every response, and a ``Server`` header that names no versions.

- ``X-Content-Type-Options: nosniff``: a browser never runs an upload or a JSON body as a script.
- ``Referrer-Policy: no-referrer``: URLs of the sign-in and consent pages (client ids, states,
  PKCE challenges) are not sent to other sites.
- ``X-Frame-Options: DENY`` and CSP ``frame-ancestors 'none'``: no page can be framed, so the
  sign-in and consent pages cannot be click-jacked.
- ``Strict-Transport-Security`` when the public URL is https.
"""
from __future__ import annotations

from flask import Flask, Response
from werkzeug.serving import WSGIRequestHandler

SERVER_NAME = "SDX"
HSTS_SECONDS = 365 * 24 * 3600


class QuietRequestHandler(WSGIRequestHandler):
    """The development/embedded server's handler, without Werkzeug and Python versions in ``Server``."""

    def version_string(self) -> str:
        return SERVER_NAME


def init_app(app: Flask) -> None:
    https = app.config["PUBLIC_BASE_URL"].startswith("https://")

    @app.after_request
    def _security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("X-Frame-Options", "DENY")
        csp = headers.get("Content-Security-Policy")
        if not csp:
            headers["Content-Security-Policy"] = "frame-ancestors 'none'"
        elif "frame-ancestors" not in csp:
            headers["Content-Security-Policy"] = f"{csp}; frame-ancestors 'none'"
        if https:
            headers.setdefault("Strict-Transport-Security", f"max-age={HSTS_SECONDS}")
        return response
