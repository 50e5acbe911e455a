"""Platform commands: ``flask --app app sdx run|ensure-buckets|settings``."""
from __future__ import annotations

import signal
import socket
import sys
from contextlib import nullcontext
from pathlib import Path

import click
from flask.cli import with_appcontext
from flask import current_app
from flask_migrate import upgrade
from werkzeug.serving import make_server

from exchange.core import domains
from exchange.core.config import SETTINGS
from exchange.core.gunicorn_conf import freeze_start_up_objects
from exchange.core.security import QuietRequestHandler
from storage.embedded import EmbeddedS3
from storage.objectstore import get_store


#: How production serves the same app (threaded workers, keep-alive); see exchange/core/gunicorn_conf.py.
PRODUCTION_COMMAND = "gunicorn -c python:exchange.core.gunicorn_conf --bind 0.0.0.0:8000 'app:create_app()'"


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _stop_on_sigterm(signum, frame) -> None:
    raise KeyboardInterrupt  # unwinds through `finally`, which stops the embedded S3 server


@click.command("run")
@with_appcontext
def run_command() -> None:
    """Start the platform: embedded S3 (unless SDX_S3_ENDPOINT is set), migrations, buckets, demo data, web."""
    app = current_app._get_current_object()
    host, port = app.config["SDX_HOST"], app.config["SDX_PORT"]
    if not _port_free(host, port):
        click.echo(f"error: port {port} on {host} is in use; choose another with SDX_PORT=…", err=True)
        raise SystemExit(2)
    embedded = None
    if not app.config["S3_ENDPOINT"]:
        click.echo("Starting the embedded S3 server (SeaweedFS)…")
        embedded = EmbeddedS3(Path(app.config["SDX_VAR_DIR"]) / "s3")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    with embedded or nullcontext():
        if embedded:
            app.config.update(embedded.app_config())
            click.echo(f"  S3 at http://{embedded.endpoint} (data in {embedded.directory})")
        click.echo("Migrating the database…")
        upgrade()
        created = get_store().ensure_buckets()
        if created:
            click.echo(f"  created buckets: {', '.join(created)}")
        if app.config["DEMO_DATA"]:
            for seed in domains.demo_seeders(app):  # each installed domain's demo data, in order
                for line in seed(app):
                    click.echo(f"  {line}")
        url = f"http://{host}:{port}/"
        server = make_server(host, port, app, threaded=True, request_handler=QuietRequestHandler)  # bound before the URL is announced
        freeze_start_up_objects()  # unless SDX_GC_FREEZE=false
        click.echo(f"\nThis is the development server (werkzeug); in production serve with\n  {PRODUCTION_COMMAND}")
        click.echo(f"SDX is running at {url}  (STAC API: {url}stac/ · API docs: {url}api/docs; Ctrl-C to stop)\n")
        sys.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
        click.echo("Stopping…")


@click.command("ensure-buckets")
@with_appcontext
def ensure_buckets_command() -> None:
    """Create the platform's S3 buckets if they are missing (production start-up)."""
    created = get_store().ensure_buckets()
    click.echo(f"created: {', '.join(created)}" if created else "all buckets exist")


@click.command("settings")
@with_appcontext
def settings_command() -> None:
    """List every SDX_* environment variable the platform reads, with its default."""
    for setting in SETTINGS:
        default = "(derived)" if setting.default is None else repr(setting.default)
        click.echo(f"{setting.env:<24} default {default:<16} {setting.help}")


COMMANDS = [run_command, ensure_buckets_command, settings_command]
