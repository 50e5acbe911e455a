"""Licensing: licence templates (versioned), offers on products and collections, and the
entitlements paid orders grant. Trading (quotes, orders, the ledger) builds on it."""
from __future__ import annotations

from importlib import import_module

from flask import Flask


def init_app(app: Flask) -> None:
    """Plug licensing into the platform."""
    from exchange.licensing import models  # noqa: F401  (the tables, for migrations)
    from exchange.core import domains
    from exchange.licensing import item_offers
    from exchange.licensing.api import blp

    domains.register_blueprint(app, blp)
    item_offers.connect()
    import_module("exchange.licensing.policies")  # registers the domain's rules (once per process)
