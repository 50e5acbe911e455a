"""Sharing: the administrators' and providers' sharing policies (data, versioned, enforced through the
one decision point on every path), access requests and their approvals, in-app notifications, and the
hash-chained audit log."""
from __future__ import annotations

from importlib import import_module

from flask import Flask


def init_app(app: Flask) -> None:
    """Plug sharing into the platform."""
    from exchange.core import celery, domains
    from exchange.sharing import models  # noqa: F401  (the tables, for migrations)
    from exchange.sharing import tasks  # noqa: F401  (the Celery tasks, also for the in-process mode)
    from exchange.sharing.access_api import blp as access_blp
    from exchange.sharing.api import blp
    from exchange.sharing.audit_api import blp as audit_blp
    from exchange.sharing.cli import COMMANDS

    domains.register_blueprint(app, blp)
    domains.register_blueprint(app, audit_blp)
    domains.add_commands(app, COMMANDS)
    domains.register_blueprint(app, access_blp)  # access requests, notifications
    celery.add_tasks(app, "exchange.sharing.tasks", beat={
        "access-requests-expire": {"task": "access_requests.expire", "schedule": 3600.0}})

    import_module("exchange.sharing.policies")  # registers the domain's rules (once per process)
