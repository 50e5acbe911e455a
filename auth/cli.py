"""Console commands for accounts: ``flask --app app sdx create-org|create-user``."""
from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from auth import service
from auth.models import OrgKind, Role
from auth.policy import SYSTEM
from exchange.core.problems import Problem


def fail(problem: Problem) -> None:
    """Print a problem as a message a person can act on and exit with status 2 (bad arguments)."""
    lines = [f"error: {problem.detail or problem.title}"]
    for error in problem.errors or []:
        lines.append(f"  --{error['field']}: {error['message']}" if error.get("field") else f"  {error['message']}")
    click.echo("\n".join(lines), err=True)
    raise SystemExit(2)


def emit(payload: dict) -> None:
    click.echo(json.dumps(payload, default=str))


@click.command("create-org")
@with_appcontext
@click.option("--name", required=True, help="Organisation name (unique, case-insensitive).")
@click.option("--kind", required=True, type=click.Choice([k.value for k in OrgKind]), help="What the organisation is.")
def create_org_command(name: str, kind: str) -> None:
    """Create an active organisation and print it as JSON."""
    try:
        org = service.create_org(SYSTEM, {"name": name, "kind": kind})
    except Problem as problem:
        fail(problem)
    emit({"id": org.id, "name": org.name, "kind": org.kind.value, "status": org.status.value})


@click.command("create-user")
@with_appcontext
@click.option("--org", required=True, help="Name of the user's organisation.")
@click.option("--email", required=True)
@click.option("--password", required=True, help="At least 10 characters.")
@click.option("--role", "roles", required=True, multiple=True, type=click.Choice([r.value for r in Role]),
              help="Repeat for several roles.")
def create_user_command(org: str, email: str, password: str, roles: tuple[str, ...]) -> None:
    """Create a user in an organisation and print it as JSON."""
    try:
        user = service.create_user(SYSTEM, {"org": org, "email": email, "password": password, "roles": list(roles)})
    except Problem as problem:
        fail(problem)
    emit({"id": user.id, "org_id": user.org_id, "email": user.email, "roles": sorted(r.value for r in user.roles)})


COMMANDS = [create_org_command, create_user_command]
