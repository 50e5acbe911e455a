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
    assert public.startswith("${SDX_S3_PUBLIC_ENDPOINT:?"), "the public S3 address must be set, not defaulted"
    assert any(port.startswith("9000:") for port in services["minio"]["ports"])
    scratch = services["worker"]["environment"]["SDX_INGEST_TMP_DIR"]
    assert any(volume.endswith(f":{scratch}") for volume in services["worker"]["volumes"])
    assert scratch in (DOCKER / "Dockerfile").read_text()  # created and owned by the unprivileged user


def test_no_secret_or_public_address_has_a_built_in_default():
    """Forgetting docker/.env must stop compose, not start production with known secrets."""
    text = (DOCKER / "compose.yaml").read_text()
    substitutions = re.findall(r"\$\{([A-Z0-9_]+)(:?[-?])?([^}]*)\}", text)
    assert substitutions
    for name, operator, _message in substitutions:
        assert operator == ":?", f"${{{name}}} must use :? (refuse to start without it), not {operator or 'no check'}"
    for required in ("POSTGRES_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "SDX_SECRET_KEY",
                     "SDX_S3_PUBLIC_ENDPOINT", "SDX_PUBLIC_BASE_URL"):
        assert required in {name for name, _, _ in substitutions}, f"{required} is not taken from the environment"
    environments = [s.get("environment") or {} for s in compose()["services"].values()]
    for env in environments:
        for key, value in env.items():
            assert "localhost" not in str(value) and "change-me" not in str(value), f"{key} = {value}"


def test_the_build_context_leaves_out_local_state_and_secrets():
    ignored = {line.strip() for line in (project_root() / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    for path in (".venv", "var", ".git", "docker/.env", "**/.env"):
        assert path in ignored, f".dockerignore does not leave out {path}"
    for needed in ("app.py", "auth", "exchange", "storage", "migrations", "pyproject.toml"):
        assert needed not in ignored


def test_worker_and_beat_start_after_the_migrations():
    services = compose()["services"]
    assert "db upgrade" in services["api"]["command"] and "/readyz" in " ".join(services["api"]["healthcheck"]["test"])
    for name in ("worker", "beat"):
        assert services[name]["depends_on"] == {"api": {"condition": "service_healthy"}}, name


def test_beat_health_check_fails_unless_beat_is_running(tmp_path, redis_url):
    """Run the compose file's own health check against a real `celery beat`: stale before, fresh while it runs."""
    import os
    import subprocess
    import sys
    import time

    beat = compose()["services"]["beat"]
    schedule = beat["command"][beat["command"].index("beat") + 2].split("=", 1)[1]
    check = [part.replace(schedule, str(tmp_path / "celerybeat-schedule")) for part in beat["healthcheck"]["test"][1:]]
    check[0] = sys.executable

    def healthy() -> bool:
        return subprocess.run(check, capture_output=True, timeout=30).returncode == 0

    assert not healthy()  # no beat has ever run
    env = {k: v for k, v in os.environ.items() if not k.startswith("SDX_")}
    env.update(PYTHONPATH=str(project_root()), SDX_BROKER_URL=redis_url, SDX_SECRET_KEY="beat-test-" + "x" * 24,
               SDX_VAR_DIR=str(tmp_path / "var"), SDX_DATABASE_URL=f"sqlite:///{tmp_path / 'sdx.db'}")
    process = subprocess.Popen([sys.executable, "-m", "celery", "-A", "exchange.worker", "beat", "--loglevel=INFO",
                                f"--schedule={tmp_path / 'celerybeat-schedule'}"], cwd=project_root(), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not healthy():
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "beat never reported itself alive"
            time.sleep(0.5)
    finally:
        process.terminate()
        process.wait(15)
    heartbeat = tmp_path / "celerybeat-schedule.alive"
    os.utime(heartbeat, (time.time() - 600, time.time() - 600))  # a beat that stopped ten minutes ago
    assert not healthy()


def test_the_api_is_served_with_the_production_gunicorn_configuration():
    """Both the image and compose start gunicorn with exchange/core/gunicorn_conf.py (threaded workers,
    keep-alive, gc.freeze), not with settings of their own on the command line."""
    import json as _json
    import shlex

    cmd_line = re.search(r"^CMD (\[.*\])$", (DOCKER / "Dockerfile").read_text(), re.M)
    image = _json.loads(cmd_line.group(1))
    compose_command = shlex.split(compose()["services"]["api"]["command"].split("exec ", 1)[1].rstrip("\""))
    for command in (image, compose_command):
        assert command[0] == "gunicorn" and command[-1] == "app:create_app()", command
        config = command[command.index("-c") + 1]
        assert config == "python:exchange.core.gunicorn_conf", command
        assert importlib.util.find_spec(config.removeprefix("python:")) is not None
        for overridden in ("--workers", "-w", "--threads", "--worker-class", "-k", "--keep-alive"):
            assert overridden not in command, f"{overridden} on the command line overrides the configuration"
        assert command[command.index("--bind") + 1] == "0.0.0.0:8000"
