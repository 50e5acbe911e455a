"""HTML pages for providers, buyers and admins."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Plug the pages into the platform (the security headers are the core's, set before any domain)."""
    from exchange.core import domains
    from exchange.web.account import bp as account_bp
    from exchange.web.views import bp as web_bp

    domains.register_blueprint(app, web_bp)
    domains.register_blueprint(app, account_bp)
