"""Celery tasks of ingest: they take ids and call the pipeline and services.

``ingest_asset`` acknowledges late (a worker killed mid-task leaves the message to be re-delivered)
and retries with exponential back-off while the object store fails; the pipeline itself
is idempotent, so a second delivery finishes the work once.
"""
from __future__ import annotations

import uuid
from datetime import timedelta

from celery import shared_task
from flask import current_app

from exchange.policy import SYSTEM
from exchange.ingest import pipeline, service
from storage.errors import StorageError


# Any storage error but a missing object (which quarantines the asset) is retried: an outage, and also
# what an operator fixes while the upload waits (credentials, a bucket, a clock's skew).
@shared_task(name="ingest.ingest_asset", acks_late=True, reject_on_worker_lost=True,
             autoretry_for=(StorageError,), retry_backoff=5, retry_backoff_max=300, retry_jitter=True,
             max_retries=12)
def ingest_asset(asset_id: str) -> str:
    """Verify, describe and preview one uploaded asset; settle its product's status."""
    return pipeline.ingest_asset(uuid.UUID(asset_id))


@shared_task(name="ingest.abort_stale_uploads")
def abort_stale_uploads() -> int:
    """Abort multipart uploads left incomplete for longer than SDX_UPLOAD_STALE_HOURS."""
    return service.abort_stale_uploads(SYSTEM, timedelta(hours=current_app.config["UPLOAD_STALE_HOURS"]))
