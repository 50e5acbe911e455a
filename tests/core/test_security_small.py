"""Issue 8 item 12: /metrics only for the scrapers' networks, Swagger UI from a pinned local package,
a consent page that says who is asking."""
from __future__ import annotations

import re

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from tests.auth.conftest import CALLBACK, sign_in


def _from(client, address: str):
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_metrics_are_refused_outside_the_allowed_networks(make_app):
    client = _from(make_app().test_client(), "203.0.113.7")
    refused = client.get("/metrics")
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    assert "sdx_http_requests_total" not in refused.get_data(as_text=True)
    assert _from(client, "::1").get("/metrics").status_code == 200
    ok = _from(client, "127.0.0.1").get("/metrics")
    assert ok.status_code == 200 and ok.headers["Content-Type"].count("charset") == 1


def test_metrics_allow_list_is_configurable(make_app):
    client = make_app(METRICS_ALLOW="10.0.0.0/8").test_client()
    assert _from(client, "10.20.30.40").get("/metrics").status_code == 200
    assert _from(client, "127.0.0.1").get("/metrics").status_code == 403
    assert _from(make_app(METRICS_ALLOW="").test_client(), "127.0.0.1").get("/metrics").status_code == 403


def test_metrics_refused_over_a_real_connection_from_another_network(live):
    live.app.config["METRICS_ALLOW"] = "192.0.2.0/24"
    assert requests.get(f"{live.url}/metrics", timeout=5).status_code == 403


def test_swagger_ui_is_served_from_the_pinned_package_not_a_cdn(client):
    page = client.get("/api/docs").get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(src.startswith("/api/swagger-ui/") for src in sources), sources
    for src in sources:
        asset = client.get(src)
        assert asset.status_code == 200 and len(asset.data) > 1000, src
    assert client.get("/api/swagger-ui/index.html").status_code == 404
    assert client.get("/api/swagger-ui/..%2fapp.py").status_code == 404


def test_consent_page_names_the_clients_organisation_and_redirect_host(live):
    live.user("owner@consent.example", org="Honest Apps Ltd")
    client_id, _ = live.client("owner@consent.example", "catalog:read")
    live.user("person@consent.example", org="Someone Else")
    oauth = OAuth2Session(client_id, scope="catalog:read", redirect_uri=CALLBACK, code_challenge_method="S256")
    url, _ = oauth.create_authorization_url(f"{live.url}/oauth/authorize", code_verifier=generate_token(48))
    browser = requests.Session()
    assert sign_in(browser, live.url, "person@consent.example").status_code == 302
    page = browser.get(url, timeout=10)
    assert page.status_code == 200
    assert "Honest Apps Ltd" in page.text and "app.example" in page.text
    assert page.headers["X-Frame-Options"] == "DENY"


def test_readyz_hides_error_text_from_other_networks(make_app):
    app = make_app(S3_ENDPOINT="")  # storage is down: its error text names the configuration
    outsider = _from(app.test_client(), "203.0.113.7").get("/readyz")
    assert outsider.status_code == 503
    assert outsider.json == {"database": "ok", "storage": "error", "broker": "ok", "status": "unavailable"}
    operator = _from(app.test_client(), "127.0.0.1").get("/readyz")
    assert "no S3 endpoint configured" in operator.json["storage"]
