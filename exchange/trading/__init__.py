"""Trading: quotes, orders, wallets and the double-entry ledger, spending caps, statements and
webhooks. It builds on licensing (offers, entitlements) and the catalogue (products)."""
from __future__ import annotations

from importlib import import_module

from flask import Flask


def init_app(app: Flask) -> None:
    """Plug trading into the platform."""
    from exchange.core import celery, domains
    from exchange.trading import models  # noqa: F401  (the tables, for migrations)
    from exchange.trading import tasks  # noqa: F401  (the Celery tasks, also for the in-process mode)
    from exchange.trading import webhook_delivery
    from exchange.trading.demo import seed_demo_offers
    from exchange.trading.cli import COMMANDS as LEDGER_COMMANDS
    from exchange.trading.ledger_api import blp as ledger_blp
    from exchange.trading.orders_api import blp as orders_blp
    from exchange.trading.webhooks_api import blp as webhooks_blp

    domains.register_blueprint(app, ledger_blp)
    domains.register_blueprint(app, orders_blp)  # quotes, orders, spending caps
    domains.register_blueprint(app, webhooks_blp)
    domains.add_commands(app, LEDGER_COMMANDS)
    celery.add_tasks(app, "exchange.trading.tasks", beat={
        "webhooks-resend-overdue": {"task": "webhooks.resend_overdue", "schedule": 300.0}})
    webhook_delivery.connect()
    # Offers on the demo products metering stores files for, and money for the demo buyer.
    domains.add_demo_seeder(app, lambda app: seed_demo_offers())
    import_module("exchange.trading.policies")  # registers the domain's rules with the decision point (once per process)
