"""Sharing: the administrators' and providers' sharing policies (data, versioned, enforced through the
one decision point on every path), access requests and their approvals, in-app notifications, and the
hash-chained audit log."""
from __future__ import annotations

from importlib import import_module

from flask import Flask


def init_app(app: Flask) -> None:
    """Plug sharing into the platform."""
    from exchange.core import domains
    from exchange.sharing import models  # noqa: F401  (the tables, for migrations)
    from exchange.sharing.api import blp
    from exchange.sharing.audit_api import blp as audit_blp
    from exchange.sharing.cli import COMMANDS

    domains.register_blueprint(app, blp)
    domains.register_blueprint(app, audit_blp)
    domains.add_commands(app, COMMANDS)

    import_module("exchange.sharing.policies")  # registers the domain's rules (once per process)
