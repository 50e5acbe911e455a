"""Ingest on the real path: Redis and Celery workers, one of them killed mid-task; the beat task that
aborts forgotten multipart uploads."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from exchange.policy import SYSTEM
from exchange.core.db import db, unit_of_work, utcnow
from exchange.ingest.models import Upload
from exchange.ingest.tasks import abort_stale_uploads, ingest_asset
from storage import transfers
from storage.objectstore import get_store
from tests.conftest import project_root, serving
from tests.ingest.conftest import UPLOAD_SETTINGS, bucket_listing, empty_buckets, make_provider, write_geotiff


def _wait_for(predicate, timeout: float = 60.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting")


@pytest.fixture
def worker_live(make_app, redis_url, tmp_path):
    """A live server whose tasks go through Redis to a queue of this test's own."""
    queue = f"sdx-test-{uuid.uuid4().hex[:8]}"
    with serving(make_app, BROKER_URL=redis_url, INGEST_TMP_DIR=str(tmp_path / "ingest-tmp"),
                 **UPLOAD_SETTINGS) as server:
        (tmp_path / "ingest-tmp").mkdir()
        server.app.extensions["celery"].conf.task_default_queue = queue
        server.queue = queue
        empty_buckets(server.app)
        yield server
        empty_buckets(server.app)


def test_completion_answers_at_once_and_a_celery_worker_ingests(worker_live, tmp_path):
    from celery.contrib.testing.worker import start_worker

    provider = make_provider(worker_live, "async@acme.example", "Async Imaging", "async-scenes")
    path = write_geotiff(tmp_path / "async.tif")
    pid = provider.new_product("async-1")
    celery = worker_live.app.extensions["celery"]
    response = provider.upload(pid, "data", path)
    assert response.status_code == 202 and response.json()["asset"]["state"] == "verifying"
    assert provider.status(pid)["status"] == "processing"
    with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=10.0):
        _wait_for(lambda: provider.status(pid)["status"] == "published")
    assert provider.item("async-1")["assets"]["data"]["proj:code"] == "EPSG:32633"


def _worker(live, log_path, visibility: int) -> subprocess.Popen:
    app = live.app
    env = {k: v for k, v in os.environ.items() if not k.startswith("SDX_")}
    env.update(SDX_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], SDX_BROKER_URL=app.config["BROKER_URL"],
               SDX_S3_ENDPOINT=app.config["S3_ENDPOINT"], SDX_S3_ACCESS_KEY=app.config["S3_ACCESS_KEY"],
               SDX_S3_SECRET_KEY=app.config["S3_SECRET_KEY"], SDX_S3_PRODUCTS_BUCKET=app.config["S3_PRODUCTS_BUCKET"],
               SDX_S3_PUBLIC_BUCKET=app.config["S3_PUBLIC_BUCKET"], SDX_PUBLIC_BASE_URL=live.url,
               SDX_VAR_DIR=app.config["SDX_VAR_DIR"], SDX_INGEST_TMP_DIR=app.config["INGEST_TMP_DIR"],
               SDX_INGEST_MAX_PIXELS=str(app.config["INGEST_MAX_PIXELS"]),
               SDX_BROKER_VISIBILITY_TIMEOUT=str(visibility),
               SDX_SECRET_KEY="worker-test-secret-" + "x" * 16)  # a deployment: weak secrets are refused
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "exchange.worker", "worker", "--pool=solo",
                             "-Q", live.queue, "--loglevel=INFO", "--without-gossip", "--without-mingle"],
                            cwd=project_root(), env=env, stdout=open(log_path, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def test_a_worker_killed_during_ingest_leaves_the_task_to_run_again_and_finish_once(worker_live, tmp_path):
    provider = make_provider(worker_live, "crash@acme.example", "Crash Imaging", "crash-scenes")
    path = write_geotiff(tmp_path / "crash.tif", width=4000, height=4000, count=2, noise=True)  # ~64 MB
    pid = provider.new_product("crash-1")
    assert provider.upload(pid, "data", path).status_code == 202

    first = _worker(worker_live, tmp_path / "first.log", visibility=2)
    scratch = worker_live.app.config["INGEST_TMP_DIR"]
    try:
        _wait_for(lambda: any(name.startswith("sdx-ingest-") for name in os.listdir(scratch)), timeout=60, interval=0.01)
        os.killpg(first.pid, signal.SIGKILL)  # mid-ingest: the object is being read
    finally:
        first.wait(10)
    assert provider.status(pid)["assets"][0]["state"] == "verifying"

    second = _worker(worker_live, tmp_path / "second.log", visibility=2)
    try:
        _wait_for(lambda: provider.status(pid)["status"] == "published", timeout=90)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(20)
    first_log, second_log = (tmp_path / "first.log").read_text(), (tmp_path / "second.log").read_text()
    assert "ingest.ingest_asset" in first_log and "succeeded" not in first_log
    assert second_log.count("succeeded") == 1
    assert bucket_listing(worker_live.app)[worker_live.app.config["S3_PUBLIC_BUCKET"]] == \
        ["thumbnails/crash-scenes/crash-1.png"]
    assert os.listdir(scratch) == []  # the rerun removed the killed run's scratch copy


def test_ingest_run_twice_does_the_work_once(provider, tmp_path):
    path = write_geotiff(tmp_path / "idem.tif")
    pid = provider.new_product("idem-1")
    assert provider.upload(pid, "data", path).status_code == 202
    before = provider.item("idem-1")
    with provider.live.app.app_context():
        asset_id = str(db.session.get(Upload, uuid.UUID(
            provider.api("GET", f"/api/v1/products/{pid}/uploads").json()["items"][0]["id"])).asset_id)
        assert provider.live.app.extensions["celery"].tasks[ingest_asset.name].apply(args=[asset_id]).get() == "ready"
    assert provider.item("idem-1") == before


def test_beat_task_aborts_multipart_uploads_left_incomplete(provider, tmp_path):
    path = write_geotiff(tmp_path / "stale.tif", width=2000, height=2000, noise=True)
    pid = provider.new_product("stale-1")
    stale = provider.start(pid, "data", path).json()
    provider.send(stale, path, skip={1})
    fresh = provider.start(pid, "other", path).json()
    app = provider.live.app
    with app.app_context():
        with unit_of_work():
            db.session.execute(update(Upload).where(Upload.id == uuid.UUID(stale["id"]))
                               .values(created_at=utcnow() - timedelta(hours=25)))
        transfers.start_multipart(get_store(), "acme-scenes/orphan/data/x.tif", "image/tiff")
        assert app.extensions["celery"].tasks[abort_stale_uploads.name].apply().get() == 1  # the orphan is new: it is left alone for now
    assert provider.api("GET", f"/api/v1/uploads/{stale['id']}").status_code == 404
    assert provider.api("GET", f"/api/v1/uploads/{fresh['id']}").json()["state"] == "open"
    listing = bucket_listing(app)["open-multipart"]
    assert listing == sorted(["acme-scenes/stale-1/other/stale.tif", "acme-scenes/orphan/data/x.tif"])
    with app.app_context():
        from exchange.ingest.service import abort_stale_uploads as sweep

        assert sweep(SYSTEM, timedelta(0)) == 2  # the open "other" upload and the orphan
    assert bucket_listing(app)["open-multipart"] == []
