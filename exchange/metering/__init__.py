"""Metering: the download gateway (licensed, ranged, streamed from S3), the byte reservations that
keep every download within its licence's allowance, append-only meter events, and usage reports."""
from __future__ import annotations

from importlib import import_module

from flask import Flask


def init_app(app: Flask) -> None:
    """Plug metering into the platform."""
    from exchange.core import celery, domains
    from exchange.metering import models  # noqa: F401  (the tables, for migrations)
    from exchange.metering.demo import seed_demo_files
    from exchange.metering import tasks  # noqa: F401  (the Celery tasks, also for the in-process mode)
    from exchange.metering.api import blp as gateway_blp
    from exchange.metering.usage_api import blp as usage_blp

    domains.register_blueprint(app, gateway_blp)
    domains.register_blueprint(app, usage_blp)  # usage reports, presigned links
    celery.add_tasks(app, "exchange.metering.tasks", beat={
        "downloads-reap-reservations": {"task": "downloads.reap_reservations", "schedule": 60.0},
        "usage-roll-up": {"task": "usage.roll_up", "schedule": 300.0}})
    domains.add_demo_seeder(app, lambda app: seed_demo_files())
    import_module("exchange.metering.policies")  # registers the domain's rules (once per process)
