"""Uploads of a product's files to object storage, then their verification, description and preview.

Ingest depends on the catalogue (it attaches files to products); the catalogue does not import
ingest, which answers its hooks instead (``exchange.ingest.products``).
"""
from __future__ import annotations

from importlib import import_module

from flask import Flask


def init_app(app: Flask) -> None:
    """Plug ingest into the platform: the uploads API, the upload command, the ingest and
    housekeeping tasks, and the answers to the catalogue's hooks."""
    from exchange.core import celery, domains
    from exchange.ingest import products
    from exchange.ingest.api import blp
    from exchange.ingest.cli import COMMANDS

    domains.register_blueprint(app, blp)
    domains.add_commands(app, COMMANDS)
    celery.add_tasks(app, "exchange.ingest.tasks", beat={
        "abort-stale-uploads": {"task": "ingest.abort_stale_uploads", "schedule": 3600.0}})
    products.connect()
    import_module("exchange.ingest.policies")  # registers the domain's rules with the decision point (once per process)
