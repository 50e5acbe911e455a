"""Domains plug themselves in: every installed package's blueprints, commands and tasks are there,
although the core names none of them."""
from __future__ import annotations

import importlib
from pathlib import Path

import app as app_module
from exchange.core import domains

ROOT = Path(__file__).resolve().parents[2]


def test_every_tasks_module_is_given_to_the_workers(app):
    """`celery -A exchange.worker worker` imports conf.include: every domain's tasks.py must be in it."""
    on_disk = {".".join(path.relative_to(ROOT).with_suffix("").parts)
               for name in app_module.DOMAINS for path in (ROOT / Path(*name.split("."))).glob("tasks.py")}
    assert on_disk and set(app.extensions["celery"].conf.include) == on_disk
    beat = {entry["task"] for entry in app.extensions["celery"].conf.beat_schedule.values()}
    assert beat == {"auth.purge_expired_credentials", "ingest.abort_stale_uploads",
                    "webhooks.resend_overdue", "downloads.reap_reservations", "usage.roll_up",
                    "access_requests.expire"}
    app.extensions["celery"].loader.import_default_modules()
    assert {"ingest.ingest_asset", "catalog.build_property_index", "auth.purge_expired_credentials"} \
        <= set(app.extensions["celery"].tasks)
    assert {"webhooks.deliver", "webhooks.resend_overdue"} <= set(app.extensions["celery"].tasks)
    assert {"downloads.reap_reservations", "usage.roll_up"} <= set(app.extensions["celery"].tasks)
    assert "access_requests.expire" in app.extensions["celery"].tasks


def test_every_domains_commands_are_in_the_sdx_group(app):
    group = app.cli.commands["sdx"]
    for name in ("auth.cli", "exchange.catalog.cli", "exchange.ingest.cli", "exchange.core.cli"):
        for command in importlib.import_module(name).COMMANDS:
            assert group.commands[command.name] is command


def test_demo_data_is_seeded_accounts_first(app):
    """The demo catalogue belongs to the demo provider, so the accounts' seeder runs before it, and
    the demo's offers and data files are for products of that catalogue, after it."""
    seeders = domains.demo_seeders(app)
    assert [seed.__module__ for seed in seeders] == ["auth", "exchange.catalog", "exchange.trading",
                                                     "exchange.metering"]


def test_the_openapi_paths_follow_the_order_of_the_domains(client):
    """Accounts, then uploads, then the STAC API: the document a client cached stays the same."""
    paths = list(client.get("/api/openapi.json").json["paths"])
    first = [next(i for i, p in enumerate(paths) if p.startswith(prefix))
             for prefix in ("/api/v1/signup", "/api/v1/products/", "/stac/")]
    assert first == sorted(first) and first[0] == 0
