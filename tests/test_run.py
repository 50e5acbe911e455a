"""The newcomer's path: `make run` starts everything on the embedded default and prints a working URL;
a second run reuses the data; stopping it stops the S3 server too."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import requests

from storage.embedded import free_ports
from tests.catalog.conftest import SAMPLES
from tests.conftest import project_root, service_missing

URL_LINE = re.compile(r"SDX is running at (http://\S+/)")


def start_platform(var_dir, port) -> tuple[subprocess.Popen, str, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SDX_")}
    env.update(SDX_VAR_DIR=str(var_dir), SDX_PORT=str(port), PYTHONUNBUFFERED="1",
               SDX_DEMO_STAC_DIR=str(SAMPLES))
    process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "sdx", "run"], cwd=project_root(),
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        match = URL_LINE.search(line)
        if match:
            return process, match.group(1), lines
    process.kill()
    raise AssertionError("the platform did not print its URL:\n" + "\n".join(lines))


def stop_platform(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


def weed_running(var_dir) -> bool:
    found = subprocess.run(["pgrep", "-f", f"weed server -dir={var_dir}"], capture_output=True, text=True)
    return bool(found.stdout.strip())


def test_make_run_invokes_the_platform_runner():
    dry_run = subprocess.run(["make", "-n", "run"], cwd=project_root(), capture_output=True, text=True, check=True)
    assert "flask --app app sdx run" in dry_run.stdout


def test_run_serves_a_ready_platform_and_a_second_run_reuses_its_data(tmp_path):
    if not SAMPLES.exists():
        service_missing(f"sample STAC data not found at {SAMPLES} (set SDX_TEST_SAMPLE_STAC)")
    var_dir = (tmp_path / "var").resolve()
    (port,) = free_ports(1)
    process, url, lines = start_platform(var_dir, port)
    try:
        assert url == f"http://127.0.0.1:{port}/"
        ready = requests.get(url + "readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"database": "ok", "storage": "ok", "broker": "ok", "status": "ready"}
        assert requests.get(url, timeout=5).status_code == 200
        assert any("demo catalogue: 1000 items in 'naip'" in line for line in lines)
        assert any("This is the development server (werkzeug)" in line for line in lines)
        assert any(line.strip().startswith("gunicorn -c python:exchange.core.gunicorn_conf") for line in lines)
        found = requests.get(url + "stac/search?collections=naip&limit=1", timeout=10).json()
        assert found["numberMatched"] == 1000
        accounts = json.loads((var_dir / "demo-accounts.json").read_text())
        assert set(accounts) == {"admin@sdx.example", "provider@sdx.example", "buyer@sdx.example"}
        assert any("demo account admin@sdx.example" in line for line in lines)
        # The printed demo client gets a token that works against the API.
        buyer = accounts["buyer@sdx.example"]
        token = requests.post(url + "oauth/token", data={"grant_type": "client_credentials"},
                              auth=(buyer["client_id"], buyer["client_secret"]), timeout=10)
        assert token.status_code == 200, token.text
        mine = requests.get(url + "api/v1/clients", timeout=10,
                            headers={"Authorization": f"Bearer {token.json()['access_token']}"})
        assert mine.status_code == 200 and mine.json()["items"][0]["client_id"] == buyer["client_id"]
        assert any("curl -s -u" in line for line in lines)
        signup = {"organisation": {"name": "Kept Across Runs", "kind": "research"},
                  "user": {"email": "kept@runs.example", "password": "a long password"}}
        assert requests.post(url + "api/v1/signup", json=signup, timeout=10).status_code == 202
    finally:
        stop_platform(process)
    assert process.returncode == 0
    assert not weed_running(var_dir), "the S3 server outlived the platform"

    process, url, lines = start_platform(var_dir, port)
    try:
        assert not any("demo account admin@sdx.example" in line for line in lines), "demo accounts were re-created"
        assert not any("demo catalogue" in line for line in lines), "the demo catalogue was imported twice"
        again = requests.post(url + "api/v1/signup", json=signup, timeout=10)
        assert again.status_code == 409  # the organisation from the first run is still there
        assert json.loads((var_dir / "demo-accounts.json").read_text()) == accounts
    finally:
        stop_platform(process)


def test_run_refuses_a_busy_port(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SDX_")}
        env.update(SDX_VAR_DIR=str(tmp_path / "var"), SDX_PORT=str(port))
        result = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "sdx", "run"], cwd=project_root(),
                                env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"port {port}" in result.stderr and "SDX_PORT" in result.stderr
