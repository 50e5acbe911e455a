"""/readyz names the dependency that is down, answers fast, and the API keeps answering."""
from __future__ import annotations

import time

from storage.embedded import free_ports


def test_ready_when_everything_is_up(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    assert response.json == {"database": "ok", "storage": "ok", "broker": "ok", "status": "ready"}


def test_storage_down_is_503_naming_storage_and_api_still_answers(make_app):
    (closed_port,) = free_ports(1)
    app = make_app(S3_ENDPOINT=f"127.0.0.1:{closed_port}", S3_TIMEOUT=2)
    client = app.test_client()
    started = time.monotonic()
    response = client.get("/readyz")
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json["storage"].startswith("error:")
    assert response.json["database"] == "ok"
    assert response.json["status"] == "unavailable"
    assert elapsed < 6, f"/readyz took {elapsed:.1f}s with the S3 server down"
    # The rest of the API still answers, with problem+json where it errs.
    assert client.get("/healthz").status_code == 200
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"


def test_storage_not_configured_is_named(make_app):
    app = make_app(S3_ENDPOINT="")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert "no S3 endpoint configured" in response.json["storage"]


def test_database_down_is_503_naming_database(make_app):
    (closed_port,) = free_ports(1)
    app = make_app(SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://root@127.0.0.1:{closed_port}/nowhere")
    started = time.monotonic()
    response = app.test_client().get("/readyz")
    assert time.monotonic() - started < 6
    assert response.status_code == 503
    assert response.json["database"].startswith("error: OperationalError")
    assert response.json["storage"] == "ok"


def test_broker_down_is_503_naming_broker(make_app):
    (closed_port,) = free_ports(1)
    app = make_app(BROKER_URL=f"redis://127.0.0.1:{closed_port}/0")
    started = time.monotonic()
    response = app.test_client().get("/readyz")
    assert time.monotonic() - started < 6
    assert response.status_code == 503
    assert response.json["broker"].startswith("error:")


def test_ready_with_a_real_redis_broker(make_app, redis_url):
    app = make_app(BROKER_URL=redis_url)
    response = app.test_client().get("/readyz")
    assert response.status_code == 200, response.json
    assert response.json["broker"] == "ok"
