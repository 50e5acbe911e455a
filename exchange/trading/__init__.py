"""Trading: quotes, orders, wallets and the double-entry ledger, spending caps, statements and
webhooks. It builds on licensing (offers, entitlements) and the catalogue (products)."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Plug trading into the platform."""
    from exchange.trading import models  # noqa: F401  (the tables, for migrations)
