"""Trading: quotes, orders, wallets and the double-entry ledger, spending caps, statements and
webhooks. It builds on licensing (offers, entitlements) and the catalogue (products)."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Plug trading into the platform."""
    from exchange.trading import models  # noqa: F401  (the tables, for migrations)
    from importlib import import_module

    from exchange.core import domains
    from exchange.trading.orders_api import blp as orders_blp
    domains.register_blueprint(app, orders_blp)  # quotes, orders, spending caps
    import_module("exchange.trading.policies")  # registers trading's rules with the decision point (once per process)
