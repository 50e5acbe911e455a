"""Trading: quotes, orders, wallets and the double-entry ledger, spending caps, statements and
webhooks. It builds on licensing (offers, entitlements) and the catalogue (products)."""
from __future__ import annotations

from importlib import import_module

from flask import Flask


def init_app(app: Flask) -> None:
    """Plug trading into the platform."""
    from exchange.core import domains
    from exchange.trading import models  # noqa: F401  (the tables, for migrations)

    from exchange.trading.ledger_api import blp as ledger_blp
    from exchange.trading.cli import COMMANDS as LEDGER_COMMANDS
    domains.register_blueprint(app, ledger_blp)
    domains.add_commands(app, LEDGER_COMMANDS)

    import_module("exchange.trading.policies")  # registers the domain's rules with the decision point (once per process)
