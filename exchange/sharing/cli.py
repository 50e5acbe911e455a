"""Console commands of sharing: ``flask --app app sdx audit verify`` recomputes the audit chain (exit 0
and the entry count when it holds; exit 1 naming the first bad entry otherwise)."""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from exchange.sharing import audit


@click.group("audit")
def audit_group() -> None:
    """The tamper-evident audit log."""


@audit_group.command("verify")
@with_appcontext
def verify_command() -> None:
    """Recompute every entry's hash and link, in order; exit 1 at the first entry that does not hold."""
    check = audit.verify()
    if not check.holds:
        click.echo(f"the audit chain does NOT hold: {check.problem} ({check.entries} entries before it hold)",
                   err=True)
        raise SystemExit(1)
    click.echo(f"the audit chain holds: {check.entries} entries")


COMMANDS = [audit_group]
