"""The STAC catalogue: collections, items, search, transactions, the product lifecycle.

It imports no other domain: what other domains keep for an item they hear about through
``exchange.catalog.hooks``.
"""
from __future__ import annotations

from importlib import import_module

from flask import Flask


def init_app(app: Flask) -> None:
    """Plug the catalogue into the platform: the STAC API (and its OpenAPI paths), the catalogue
    commands, the property-index tasks, the demo catalogue."""
    from exchange.catalog.api import blp
    from exchange.catalog.cli import COMMANDS
    from exchange.catalog.demo import seed_demo_catalog
    from exchange.core import celery, domains

    domains.register_blueprint(app, blp)
    domains.add_commands(app, COMMANDS)
    celery.add_tasks(app, "exchange.catalog.tasks")
    domains.add_demo_seeder(app, lambda app: seed_demo_catalog())
    import_module("exchange.catalog.policies")  # registers the domain's rules with the decision point (once per process)
