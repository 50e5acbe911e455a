"""Console commands of trading: ``flask --app app sdx wallet topup ORG AMOUNT --reference TEXT`` and
``sdx ledger check`` (exit status 1 when the books do not balance)."""
from __future__ import annotations

import uuid

import click
from flask.cli import with_appcontext

from auth.cli import fail
from auth.service import find_org
from exchange.core.problems import Problem, load_or_problem
from exchange.policy import SYSTEM
from exchange.trading import books, wallets
from exchange.trading.ledger_schemas import MovementSchema


@click.group("wallet")
def wallet_group() -> None:
    """Organisations' wallets."""


@wallet_group.command("topup")
@with_appcontext
@click.argument("org")
@click.argument("amount", type=int)
@click.option("--currency", default="CNY", show_default=True, help="ISO 4217 code: CNY, USD or EUR.")
@click.option("--reference", required=True, help="Where the money came from, e.g. a bank transfer's reference.")
def topup_command(org: str, amount: int, currency: str, reference: str) -> None:
    """Credit ORG's wallet (its id, or its name) with AMOUNT minor units (fen, cents)."""
    try:
        org_id = uuid.UUID(org)
    except ValueError:
        found = find_org(org)
        if found is None:
            fail(Problem(f"no organisation {org!r} (give its id or its exact name)"))
        org_id = found.id
    try:
        body = load_or_problem(MovementSchema(), {"amount": amount, "currency": currency, "reference": reference})
        record = wallets.top_up(SYSTEM, org_id, body)
    except Problem as problem:
        fail(problem)
    click.echo(f"transfer {record['id']}: {record['amount']} {record['currency']} into the wallet of {org_id}; "
               f"balance {record['balance']} {record['currency']}")


@click.group("ledger")
def ledger_group() -> None:
    """The double-entry ledger."""


@ledger_group.command("check")
@with_appcontext
def check_command() -> None:
    """Print the trial balance per currency; exit 1 if the books do not balance."""
    result = books.check()
    currencies = sorted(set(result.trial_balance) | set(result.postings_total))
    if not currencies:
        click.echo("the ledger is empty")
    for currency in currencies:
        click.echo(f"{currency}: balances sum to {result.trial_balance.get(currency, 0)}, "
                   f"postings sum to {result.postings_total.get(currency, 0)}")
    for wrong in result.mismatched:
        click.echo(f"mismatch: {wrong['account']} holds {wrong['balance']} but its postings sum to "
                   f"{wrong['postings']}", err=True)
    if not result.balanced:
        click.echo("the ledger does NOT balance", err=True)
        raise SystemExit(1)
    click.echo("the ledger balances")


COMMANDS = [wallet_group, ledger_group]
