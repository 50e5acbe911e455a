"""Issue 11 items 4 and 5: production serving keeps connections alive, compresses, and freezes the
start-up objects out of the cycle collector's reach once a worker has loaded the app."""
from __future__ import annotations

import gc
import gzip
import http.client
import importlib
import json
import os
import subprocess
import sys
import time

import pytest

from exchange.core import gunicorn_conf
from exchange.core.config import usable_cores
from storage.embedded import free_ports
from tests.conftest import project_root


def test_the_configuration_asks_for_threaded_workers_with_keep_alive(monkeypatch):
    assert gunicorn_conf.worker_class == "gthread" and gunicorn_conf.threads > 1
    assert 1 <= gunicorn_conf.keepalive <= 75
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert importlib.reload(gunicorn_conf).workers == 3
    monkeypatch.delenv("WEB_CONCURRENCY")
    assert importlib.reload(gunicorn_conf).workers == usable_cores()


def test_a_containers_cpu_quota_caps_the_default_worker_count(tmp_path):
    """``docker --cpus 1.5`` writes "150000 100000": affinity alone would count the host's cores."""
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("150000 100000\n")
    assert usable_cores(cpu_max) == min(2, len(os.sched_getaffinity(0)))
    cpu_max.write_text("50000 100000\n")
    assert usable_cores(cpu_max) == 1
    cpu_max.write_text("max 100000\n")
    assert usable_cores(cpu_max) == len(os.sched_getaffinity(0))
    assert usable_cores(tmp_path / "absent") == len(os.sched_getaffinity(0))


def test_freezing_moves_start_up_objects_out_of_the_collectors_reach(monkeypatch):
    try:
        monkeypatch.setenv("SDX_GC_FREEZE", "false")
        assert not gunicorn_conf.freeze_start_up_objects() and gc.get_freeze_count() == 0
        monkeypatch.setenv("SDX_GC_FREEZE", "true")
        assert gunicorn_conf.freeze_start_up_objects()
        assert gc.get_freeze_count() > 10_000  # pytest and the app's modules, at least
    finally:
        gc.unfreeze()


@pytest.fixture
def gunicorn(tmp_path):
    """The production configuration serving a migrated SQLite database on a free port."""
    database = f"sqlite:///{tmp_path / 'sdx.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SDX_") and k != "WEB_CONCURRENCY"}
    env.update(SDX_DATABASE_URL=database, SDX_VAR_DIR=str(tmp_path / "var"), SDX_SECRET_KEY="serving-" + "x" * 32,
               WEB_CONCURRENCY="1", PYTHONPATH=str(project_root()))
    subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"], cwd=project_root(), env=env,
                   check=True, capture_output=True)
    (port,) = free_ports(1)
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:exchange.core.gunicorn_conf",
                                "--bind", f"127.0.0.1:{port}", "app:create_app()"], cwd=project_root(), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read().decode()
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=2).connect()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(30)


def test_gunicorn_answers_two_requests_over_one_connection_and_compresses(gunicorn):
    connection = http.client.HTTPConnection("127.0.0.1", gunicorn, timeout=10)
    try:
        connection.request("GET", "/api/openapi.json", headers={"Accept-Encoding": "gzip"})
        first = connection.getresponse()
        body = first.read()
        assert first.status == 200 and first.getheader("Content-Encoding") == "gzip"
        assert json.loads(gzip.decompress(body))["openapi"].startswith("3.")
        assert (first.getheader("Connection") or "").lower() != "close"
        socket_used = connection.sock
        assert socket_used is not None, "the server closed the connection after the first answer"

        connection.request("GET", "/healthz")
        second = connection.getresponse()
        assert second.status == 200 and json.loads(second.read())["status"] == "ok"
        assert connection.sock is socket_used  # the same TCP connection, not a new one
    finally:
        connection.close()
