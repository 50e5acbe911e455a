"""Licensing: licence templates (versioned), offers on products and collections, and the
entitlements paid orders grant. Trading (quotes, orders, the ledger) builds on it."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Plug licensing into the platform."""
    from exchange.licensing import models  # noqa: F401  (the tables, for migrations)
