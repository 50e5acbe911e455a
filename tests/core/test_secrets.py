"""Secrets: a deployment refuses missing or well-known ones; the embedded mode makes its own, lazily, so
that client-side commands such as ``sdx upload`` leave nothing behind in the folder they run from."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import create_app
from exchange.core.config import ConfigError
from tests.conftest import project_root

FLASK = str(Path(sys.executable).with_name("flask"))


def _flask(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SDX_")}
    environ.update(PYTHONPATH=str(project_root()), **env)
    return subprocess.run([FLASK, "--app", "app", *args], cwd=cwd, env=environ, capture_output=True, text=True,
                          timeout=60)


def test_upload_command_writes_no_server_state_where_it_runs(tmp_path):
    (tmp_path / "item.json").write_text(json.dumps({"type": "Feature", "id": "scene-1"}))
    (tmp_path / "scene.tif").write_bytes(b"II*\0")
    result = _flask(tmp_path, "sdx", "upload", "--api", "http://127.0.0.1:9", "--token", "t",
                    "--collection", "c", "--item", "item.json", "scene.tif")
    assert result.returncode == 1
    assert "cannot reach the platform at http://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["item.json", "scene.tif"]  # no var/, no secrets


@pytest.mark.parametrize("secret", [None, "change-me-flask-secret", "secret", "short"])
def test_a_deployment_refuses_a_missing_or_known_secret_key(tmp_path, secret):
    config = {"S3_ENDPOINT": "minio:9000", "S3_SECRET_KEY": "a-long-random-s3-secret-123", "SDX_VAR_DIR": str(tmp_path)}
    if secret is not None:
        config["SECRET_KEY"] = secret
    with pytest.raises(ConfigError, match="SDX_SECRET_KEY"):
        create_app(config)
    assert not (tmp_path / "secrets").exists()


def test_a_deployment_refuses_the_example_storage_and_database_passwords(tmp_path):
    config = {"S3_ENDPOINT": "minio:9000", "S3_SECRET_KEY": "change-me-minio-secret", "SECRET_KEY": "x" * 32,
              "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://sdx:sdx@postgis:5432/sdx", "SDX_VAR_DIR": str(tmp_path)}
    with pytest.raises(ConfigError) as caught:
        create_app(config)
    assert "SDX_S3_SECRET_KEY" in str(caught.value) and "SDX_DATABASE_URL" in str(caught.value)
    strong = dict(config, S3_SECRET_KEY="a-long-random-s3-secret-123",
                  SQLALCHEMY_DATABASE_URI="postgresql+psycopg://sdx:Zq8v-long-db-password@postgis:5432/sdx")
    assert create_app(strong).config["SECRET_KEY"] == "x" * 32


def test_the_flask_command_stops_a_deployment_with_a_weak_secret(tmp_path):
    result = _flask(tmp_path, "sdx", "settings", SDX_S3_ENDPOINT="minio:9000", SDX_SECRET_KEY="change-me-flask-secret",
                    SDX_S3_SECRET_KEY="a-long-random-s3-secret-123")
    assert result.returncode != 0
    assert "SDX_SECRET_KEY" in result.stderr and "well-known" in result.stderr


def test_the_embedded_mode_makes_its_secret_on_the_first_request_and_keeps_it(tmp_path):
    config = {"SDX_VAR_DIR": str(tmp_path), "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'sdx.db'}"}
    app = create_app(config)
    secret_file = tmp_path / "secrets" / "flask-secret-key"
    assert not secret_file.exists()
    assert app.test_client().get("/healthz").status_code == 200
    assert secret_file.exists() and oct(secret_file.stat().st_mode & 0o777) == "0o600"
    assert app.config["SECRET_KEY"] == secret_file.read_text().strip()
    again = create_app(config)
    again.test_client().get("/healthz")
    assert again.config["SECRET_KEY"] == app.config["SECRET_KEY"]  # sessions survive a restart
