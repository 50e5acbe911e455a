"""Issue 8 item 4/12: cookie flags, anti-framing and other security headers, no versions in ``Server``."""
from __future__ import annotations

import threading

import pytest
import requests
from werkzeug.serving import make_server

from storage.embedded import free_ports
from tests.conftest import SHUTDOWN_POLL_SECONDS

PAGES = ["/", "/login", "/api/docs", "/api/openapi.json", "/healthz", "/api/v1/clients", "/no-such-page"]


def _cookie(response) -> str:
    cookies = response.headers.getlist("Set-Cookie")
    session = [c for c in cookies if c.startswith("session=")]
    assert session, f"no session cookie in {cookies}"
    return session[0]


def test_session_cookie_is_secure_and_samesite_under_https(make_app):
    app = make_app(PUBLIC_BASE_URL="https://sdx.example")
    cookie = _cookie(app.test_client().get("/login", base_url="https://sdx.example"))
    assert "; Secure" in cookie and "; HttpOnly" in cookie and "; SameSite=Lax" in cookie


def test_session_cookie_is_samesite_under_http_too(make_app):
    cookie = _cookie(make_app(PUBLIC_BASE_URL="http://127.0.0.1:5000").test_client().get("/login"))
    assert "; SameSite=Lax" in cookie and "; HttpOnly" in cookie and "Secure" not in cookie


def test_every_response_forbids_framing_and_sniffing(client):
    for path in PAGES:
        response = client.get(path)
        headers = response.headers
        assert headers["X-Frame-Options"] == "DENY", path
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["Referrer-Policy"] == "no-referrer", path
        assert "Strict-Transport-Security" not in headers, path  # plain http: HSTS would be ignored


def test_hsts_under_https(make_app):
    client = make_app(PUBLIC_BASE_URL="https://sdx.example").test_client()
    for path in PAGES:
        assert client.get(path).headers["Strict-Transport-Security"].startswith("max-age="), path


@pytest.mark.committed  # served from a thread of its own
def test_server_header_names_no_versions(app):
    """The server `sdx run` starts (its request handler) does not advertise Werkzeug or Python."""
    from exchange.core.security import QuietRequestHandler

    (port,) = free_ports(1)
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=QuietRequestHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
                              daemon=True)
    thread.start()
    try:
        response = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    finally:
        server.shutdown()
        thread.join(5)
    assert response.headers["Server"] == "SDX"
