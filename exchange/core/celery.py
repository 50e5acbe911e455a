"""The Celery app, bound to a Flask app so that tasks run inside its application context.

Tasks are declared with ``@shared_task`` in each package's ``tasks.py`` and take ids, never
objects; each domain's ``init_app`` adds its module and beat entries with ``add_tasks``. Without
``SDX_BROKER_URL`` (the embedded default) tasks run in-process at enqueue time, so no broker
process is needed; with it, they go to the broker for the worker processes.
"""
from __future__ import annotations

from pathlib import Path

from celery import Celery, Task
from celery.beat import PersistentScheduler
from flask import Flask, current_app


#: Beat wakes up at least this often, so its heartbeat file is never older than this while it runs.
BEAT_MAX_INTERVAL = 60


class HeartbeatScheduler(PersistentScheduler):
    """Beat's persistent scheduler, touching ``<schedule file>.alive`` on every tick.

    A health check that finds the file fresh knows the scheduling loop itself is running, not just the
    process or a schedule file left behind by an earlier one.
    """

    def tick(self, *args, **kwargs):
        delay = super().tick(*args, **kwargs)
        Path(f"{self.schedule_filename}.alive").touch()
        return delay


def _transport_options(visibility_timeout: int) -> dict:
    """Redis transport options. A task taken by a worker that died is delivered again once it has been
    unacknowledged for ``visibility_timeout`` seconds; the sweep that finds such tasks runs about
    every ``interval × throttle`` seconds, so it is scaled down with a short timeout."""
    short = visibility_timeout < 600
    return {"socket_connect_timeout": 3, "socket_timeout": 5, "visibility_timeout": visibility_timeout,
            "unacked_restore_interval": 1 if short else 10, "unacked_restore_throttle": 1 if short else 10}


def init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    broker = app.config["BROKER_URL"]
    celery = Celery(app.import_name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=broker or "memory://",
        task_always_eager=not broker,
        task_eager_propagates=True,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        broker_transport_options=_transport_options(app.config["BROKER_VISIBILITY_TIMEOUT"]),
        task_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        include=[],
        beat_schedule={},
        beat_scheduler=HeartbeatScheduler,
        beat_max_loop_interval=BEAT_MAX_INTERVAL,
    )
    celery.set_default()
    app.extensions["celery"] = celery
    return celery


def add_tasks(app: Flask, module: str, beat: dict | None = None) -> None:
    """Have the workers import ``module`` (a domain's tasks.py) and beat run the periodic ``beat`` entries."""
    conf = app.extensions["celery"].conf
    conf.include = [*conf.include, module]
    conf.beat_schedule.update(beat or {})


def enqueue(task: Task, *args, **kwargs):
    """Send ``task`` through the current Flask app's Celery: several apps may share one process (the
    tests do), and a shared task would otherwise go through whichever Celery app was made last."""
    return current_app.extensions["celery"].tasks[task.name].apply_async(args, kwargs)
