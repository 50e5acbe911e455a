"""Liveness and readiness probes.

``/healthz`` says the process answers. ``/readyz`` checks each dependency with a short time limit
and names the one that is down, so an orchestrator (and a person) knows what to fix; the error text
itself only to the operators' networks (``SDX_METRICS_ALLOW``).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout
from typing import Callable

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from exchange.core.db import db
from exchange.core.observability import operators_network
from storage.objectstore import get_store

bp = Blueprint("health", __name__)

CHECK_TIMEOUT = 5.0


def _describe(exc: BaseException) -> str:
    first_line = (str(exc).strip().splitlines() or [""])[0][:200]
    return f"error: {type(exc).__name__}: {first_line}" if first_line else f"error: {type(exc).__name__}"


def check_database() -> str:
    db.session.execute(text("SELECT 1"))
    db.session.rollback()
    return "ok"


def check_storage() -> str:
    get_store().check()
    return "ok"


def check_broker() -> str:
    celery = current_app.extensions["celery"]
    if celery.conf.task_always_eager:
        return "ok"  # embedded mode: tasks run in-process, there is no broker to reach
    with celery.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=3)
    return "ok"


CHECKS: dict[str, Callable[[], str]] = {"database": check_database, "storage": check_storage, "broker": check_broker}


def _run_in_context(app, check: Callable[[], str]) -> str:
    with app.app_context():
        try:
            return check()
        except Exception as exc:  # every failure is reported, none is raised
            return _describe(exc)
        finally:
            db.session.remove()


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    app = current_app._get_current_object()
    results: dict[str, str] = {}
    # Not a `with` block: its exit would wait for a check that hangs, which is what we guard against.
    pool = ThreadPoolExecutor(max_workers=len(CHECKS))
    futures = {name: pool.submit(_run_in_context, app, check) for name, check in CHECKS.items()}
    for name, future in futures.items():
        try:
            results[name] = future.result(timeout=CHECK_TIMEOUT)
        except FutureTimeout:
            results[name] = f"error: no answer within {CHECK_TIMEOUT:.0f}s"
    pool.shutdown(wait=False, cancel_futures=True)
    ready = all(value == "ok" for value in results.values())
    if not operators_network():
        # Others learn which dependency is down, not its error text (hosts, ports, driver messages).
        results = {name: "ok" if value == "ok" else "error" for name, value in results.items()}
    body = dict(results, status="ready" if ready else "unavailable")
    return jsonify(body), (200 if ready else 503)
