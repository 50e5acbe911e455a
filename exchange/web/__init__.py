"""HTML pages for buyers, providers and admins (server-rendered, progressively enhanced).

Each group of pages is its own blueprint and module: ``views`` (home, static files), ``search``
(map search, product page), ``buyer`` (cart, quote, checkout, orders), ``holdings`` (licences and
downloads, wallet, usage, access requests), ``provider`` and ``upload`` (``/provider/…``), ``admin``
and ``admin_policies`` (``/admin/…``) and ``account`` (API clients). They call the
same services as the API, acting as the signed-in user (``pages.current_identity``).
"""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Plug the pages into the platform (the security headers are the core's, set before any domain)."""
    from exchange.core import domains
    from exchange.web import i18n, pages
    from exchange.web.account import bp as account_bp
    from exchange.web.admin import bp as admin_bp
    from exchange.web.admin_policies import bp as admin_policies_bp
    from exchange.web.buyer import bp as buyer_bp
    from exchange.web.holdings import bp as holdings_bp
    from exchange.web.provider import bp as provider_bp
    from exchange.web.search import bp as search_bp
    from exchange.web.upload import bp as upload_bp
    from exchange.web.views import bp as web_bp

    i18n.init_app(app)
    pages.init_app(app)
    for blueprint in (web_bp, search_bp, buyer_bp, holdings_bp, provider_bp, upload_bp, admin_bp, admin_policies_bp,
                      account_bp):
        domains.register_blueprint(app, blueprint)
