"""Console commands for accounts: ``flask --app app sdx create-org|create-user``."""
from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from auth import clients, keys, service
from auth.models import OrgKind, Role
from exchange.policy import SYSTEM
from exchange.core.problems import Problem


def fail(problem: Problem) -> None:
    """Print a problem as a message a person can act on and exit with status 2 (bad arguments)."""
    lines = [f"error: {problem.detail or problem.title}"]
    for error in problem.errors or []:
        field = error.get("field")
        if field:  # a command option, or a JSON pointer into a document the command read
            lines.append(f"  {field if field.startswith('/') else '--' + field}: {error['message']}")
        else:
            lines.append(f"  {error['message']}")
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


@click.command("create-client")
@with_appcontext
@click.option("--user", "email", required=True, help="Email of the user who owns the client.")
@click.option("--scopes", required=True, help='Space-separated scopes, e.g. "catalog:read orders:read".')
@click.option("--name", default=None, help="A name people recognise; default derived from the user.")
@click.option("--redirect-uri", "redirect_uris", multiple=True,
              help="Exact redirect URI for the authorization-code flow; repeatable.")
@click.option("--public", is_flag=True, help="A public client (no secret; PKCE only).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (client_id, client_secret, …).")
def create_client_command(email: str, scopes: str, name: str | None, redirect_uris: tuple[str, ...], public: bool,
                          as_json: bool) -> None:
    """Register an OAuth client for a user; the secret is printed once."""
    owner = service.find_user(email)
    if owner is None:
        fail(Problem(f"no user with email {email!r}"))
    grant_types = ["authorization_code", "refresh_token"] if redirect_uris else []
    if not public:
        grant_types.append("client_credentials")
    try:
        client, secret = clients.create_client(SYSTEM, {
            "name": name or f"{owner.email} client", "grant_types": grant_types,
            "redirect_uris": list(redirect_uris), "scope": scopes, "public": public}, owner=owner)
    except Problem as problem:
        fail(problem)
    if as_json:
        emit({"client_id": client.client_id, "client_secret": secret, "scope": client.scope,
              "grant_types": client.grant_types, "redirect_uris": client.redirect_uris})
    else:
        click.echo(f"client_id:     {client.client_id}")
        click.echo(f"client_secret: {secret or '(public client: none)'}   <- shown once; store it now")
        click.echo(f"scopes:        {client.scope}")


@click.command("rotate-signing-key")
@with_appcontext
def rotate_signing_key_command() -> None:
    """Start signing access tokens with a new key; the old one stays published until its tokens expire."""
    key = keys.rotate()
    emit({"kid": key.kid, "alg": key.alg})


COMMANDS = [create_org_command, create_user_command, create_client_command, rotate_signing_key_command]
