"""docker/ cannot be built here, so it is read against the code: every SDX_* variable the compose file
sets is one the app reads, every service is there with a health check, and the commands name real modules."""
from __future__ import annotations

import importlib.util
import re

import yaml

from exchange.core.config import ENV_NAMES
from tests.conftest import project_root

DOCKER = project_root() / "docker"


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_compose_has_every_service_with_a_health_check():
    services = compose()["services"]
    assert set(services) == {"api", "worker", "beat", "postgis", "minio", "redis"}
    for name, service in services.items():
        assert "healthcheck" in service, f"service {name} has no health check"
    for name in ("postgis", "minio", "redis", "beat"):
        assert services[name].get("volumes"), f"service {name} keeps no data in a volume"


def test_every_sdx_variable_in_compose_is_read_by_the_app():
    services = compose()["services"]
    set_anywhere = set()
    for service in services.values():
        set_anywhere.update(k for k in (service.get("environment") or {}) if k.startswith("SDX_"))
    assert set_anywhere, "the compose file configures no SDX_* variable"
    unknown = set_anywhere - ENV_NAMES
    assert not unknown, f"compose sets variables the app never reads: {sorted(unknown)}"
    # Production must not fall back to the embedded defaults.
    env = services["api"]["environment"]
    for required in ("SDX_DATABASE_URL", "SDX_S3_ENDPOINT", "SDX_BROKER_URL", "SDX_SECRET_KEY"):
        assert env.get(required), f"api does not set {required}"
    assert env["SDX_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert env["SDX_S3_ENDPOINT"] == "minio:9000" and env["SDX_BROKER_URL"].startswith("redis://redis:")


def test_app_services_run_real_entry_points():
    services = compose()["services"]
    for name in ("worker", "beat"):
        command = services[name]["command"]
        module = command[command.index("-A") + 1]
        assert importlib.util.find_spec(module) is not None, f"{name} runs a module that does not exist: {module}"
    assert "'app:create_app()'" in services["api"]["command"]
    assert "db upgrade" in services["api"]["command"]


def test_dockerfile_runs_as_non_root_on_a_slim_base():
    text = (DOCKER / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    for path in ("app.py", "auth", "exchange", "storage", "migrations"):
        assert re.search(rf"^COPY .*\b{re.escape(path)}\b", text, re.M), f"the image lacks {path}"
        assert (project_root() / path).exists()


def test_providers_reach_minio_for_presigned_uploads_and_ingest_has_scratch_space():
    services = compose()["services"]
    public = services["api"]["environment"]["SDX_S3_PUBLIC_ENDPOINT"]
    assert re.search(r"https?://[^/]+:9000$", public.split(":-", 1)[-1].rstrip("}")), public
    assert any(port.startswith("9000:") for port in services["minio"]["ports"])
    scratch = services["worker"]["environment"]["SDX_INGEST_TMP_DIR"]
    assert any(volume.endswith(f":{scratch}") for volume in services["worker"]["volumes"])
    assert scratch in (DOCKER / "Dockerfile").read_text()  # created and owned by the unprivileged user
