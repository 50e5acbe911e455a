"""How a domain package plugs into the platform.

``app.py`` names the installed domains once (``DOMAINS``); ``install`` calls each package's
``init_app(app)``, which registers what the domain brings through the functions below: its
blueprints (flask-smorest ones into the platform's ``Api``), its ``sdx`` console commands, its
Celery task modules and beat entries, and what it adds to the demo data. The core names no domain.
A domain's ``init_app`` imports its web and console modules inside the function, so that importing
the domain's models or services elsewhere does not load them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib import import_module

import click
from flask import Blueprint, Flask
from flask.cli import AppGroup
from flask_smorest import Api, Blueprint as ApiBlueprint

#: A demo seeder fills in its domain's demo data and returns lines to show the user.
DemoSeeder = Callable[[Flask], list[str]]


def init_app(app: Flask, api: Api, commands: Iterable[click.Command]) -> None:
    """Make room for the domains: the platform's Api, the ``sdx`` command group, the demo seeders."""
    group = AppGroup("sdx", help="SDX platform commands.")
    for command in commands:
        group.add_command(command)
    app.cli.add_command(group)
    app.extensions["sdx_domains"] = {"api": api, "commands": group, "demo_seeders": []}


def install(app: Flask, names: Iterable[str]) -> None:
    """Plug in each domain package, in order (its blueprints and OpenAPI paths follow that order)."""
    for name in names:
        import_module(name).init_app(app)


def register_blueprint(app: Flask, blueprint: Blueprint) -> None:
    """A flask-smorest blueprint goes through the platform's Api (so it is in the OpenAPI document)."""
    if isinstance(blueprint, ApiBlueprint):
        app.extensions["sdx_domains"]["api"].register_blueprint(blueprint)
    else:
        app.register_blueprint(blueprint)


def api_spec(app: Flask):
    """The OpenAPI document being built, for a domain that describes hand-written routes itself."""
    return app.extensions["sdx_domains"]["api"].spec


def add_commands(app: Flask, commands: Iterable[click.Command]) -> None:
    """Add console commands to ``flask --app app sdx …``."""
    for command in commands:
        app.extensions["sdx_domains"]["commands"].add_command(command)


def add_demo_seeder(app: Flask, seeder: DemoSeeder) -> None:
    """Have ``sdx run`` (with SDX_DEMO_DATA) call ``seeder``; seeders run in installation order."""
    app.extensions["sdx_domains"]["demo_seeders"].append(seeder)


def demo_seeders(app: Flask) -> list[DemoSeeder]:
    return list(app.extensions["sdx_domains"]["demo_seeders"])
