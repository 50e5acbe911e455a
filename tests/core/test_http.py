"""HTTP basics: problem details for every error, request ids, metrics, OpenAPI."""
from __future__ import annotations

import json
import logging

import pytest

from exchange.core.observability import configure_logging

PROBLEM = "application/problem+json"


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_unknown_route_is_problem_json(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.mimetype == PROBLEM
    assert response.json["status"] == 404
    assert response.json["title"] == "Not Found"
    assert response.json["request_id"] == response.headers["X-Request-ID"]


def test_wrong_method_is_problem_json_with_allow(client):
    response = client.delete("/api/v1/signup")
    assert response.status_code == 405
    assert response.mimetype == PROBLEM
    assert "POST" in response.headers["Allow"]


def test_malformed_json_is_400(client):
    response = client.post("/api/v1/signup", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.mimetype == PROBLEM
    assert response.json["detail"] == "The request body is not valid JSON."


def test_json_array_body_is_400(client):
    response = client.post("/api/v1/signup", json=[1, 2])
    assert response.status_code == 400
    assert "JSON object" in response.json["detail"]


def test_non_json_body_is_415(client):
    response = client.post("/api/v1/signup", data="a=b", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.mimetype == PROBLEM


def test_oversized_body_is_413(make_app):
    app = make_app(MAX_CONTENT_LENGTH=1024)
    response = app.test_client().post("/api/v1/signup", data=b"x" * 4096, content_type="application/json")
    assert response.status_code == 413
    assert response.mimetype == PROBLEM
    assert response.json["title"] == "Request Entity Too Large"


def test_unexpected_error_is_generic_500_without_internals(make_app, caplog):
    app = make_app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internal detail /etc/passwd")

    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/boom", headers={"X-Request-ID": "trace-me-42"})
    assert response.status_code == 500
    assert response.mimetype == PROBLEM
    body = response.get_data(as_text=True)
    assert "secret internal detail" not in body and "Traceback" not in body and "RuntimeError" not in body
    assert response.json["request_id"] == "trace-me-42"
    # The operator, not the caller, gets the details, tied to the same request id.
    assert any("secret internal detail" in (r.exc_text or "") or r.exc_info for r in caplog.records)


def test_request_id_echoed_when_sane_and_replaced_when_not(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    fresh = client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces" + "x" * 200})
    assert fresh.headers["X-Request-ID"] != ""
    assert " " not in fresh.headers["X-Request-ID"]
    assert client.get("/healthz").headers["X-Request-ID"] != client.get("/healthz").headers["X-Request-ID"]


@pytest.mark.committed  # counts the requests of an app of its own
def test_metrics_count_requests_by_route_pattern(client):
    for _ in range(3):
        client.get("/healthz")
    client.get("/missing/1")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'sdx_http_requests_total{endpoint="/healthz",method="GET",status="200"} 3.0' in text
    assert 'sdx_http_requests_total{endpoint="<unmatched>",method="GET",status="404"} 1.0' in text
    assert 'sdx_http_request_duration_seconds_count{endpoint="/healthz",method="GET"} 3.0' in text


def test_openapi_document_and_docs_page(client):
    spec = client.get("/api/openapi.json")
    assert spec.status_code == 200
    assert spec.json["openapi"].startswith("3.")
    assert "post" in spec.json["paths"]["/api/v1/signup"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.get_data(as_text=True)


def test_home_page_links(client):
    page = client.get("/").get_data(as_text=True)
    assert 'href="/api/docs"' in page and 'href="/readyz"' in page


def test_json_logs_carry_request_id(make_app, capfd):
    app = make_app()
    configure_logging("json", "INFO")
    try:
        @app.get("/log-something")
        def log_something():
            logging.getLogger("sdx.test").info("hello from a request")
            return "ok"

        app.test_client().get("/log-something", headers={"X-Request-ID": "req-json-1"})
        lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
        record = next(line for line in lines if line.get("message") == "hello from a request")
        assert record["request_id"] == "req-json-1"
        assert record["level"] == "INFO"
    finally:
        configure_logging("text", "INFO")
