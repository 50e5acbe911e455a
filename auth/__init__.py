"""Identities (organisations, users, roles), the OAuth 2.0 authorization server and its pages."""
from __future__ import annotations

from importlib import import_module

from flask import Flask


def init_app(app: Flask) -> None:
    """Plug accounts and OAuth into the platform: the accounts API, the OAuth endpoints, the
    account commands, the purge of expired credentials, the demo accounts."""
    from auth import oauth_server
    from auth.api import blp
    from auth.cli import COMMANDS
    from auth.demo import seed_demo_accounts
    from auth.views import bp, limiter
    from exchange.core import celery, domains

    _document_security(domains.api_spec(app), app.config["PUBLIC_BASE_URL"])
    domains.register_blueprint(app, blp)
    domains.register_blueprint(app, bp)
    oauth_server.init_app(app)
    limiter.init_app(app)
    domains.add_commands(app, COMMANDS)
    celery.add_tasks(app, "auth.tasks", beat={
        "purge-expired-credentials": {"task": "auth.purge_expired_credentials", "schedule": 3600.0}})
    domains.add_demo_seeder(app, lambda app: seed_demo_accounts(app.config["SDX_VAR_DIR"],
                                                               app.config["PUBLIC_BASE_URL"]))
    import_module("auth.policies")  # registers the domain's rules with the decision point (once per process)


def _document_security(spec, base: str) -> None:
    """Tell OpenAPI readers that the API takes this server's OAuth 2.0 access tokens, and which scopes."""
    from auth.scopes import SCOPES

    spec.options.setdefault("security", [{"oauth2": []}])
    spec.options.setdefault("components", {}).setdefault("securitySchemes", {})["oauth2"] = {
        "type": "oauth2",
        "description": "RFC 9068 JWT access tokens; see /.well-known/oauth-authorization-server",
        "flows": {
            "authorizationCode": {"authorizationUrl": f"{base}/oauth/authorize", "tokenUrl": f"{base}/oauth/token",
                                  "refreshUrl": f"{base}/oauth/token", "scopes": SCOPES},
            "clientCredentials": {"tokenUrl": f"{base}/oauth/token", "scopes": SCOPES},
        }}
