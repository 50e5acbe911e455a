"""The money API (thin: parse, call the wallet, books or statement service, serialise): admin top-ups
and payouts, an organisation's wallet, the admin ledger, providers' monthly statements."""
from __future__ import annotations

from flask import Response, request
from flask_smorest import Blueprint

from auth.schemas import PageArgsSchema
from auth.tokens import current_identity, require_scopes
from exchange.core.body import json_object
from exchange.core.location import LOCATION_HEADER, location
from exchange.core.problems import load_or_problem
from exchange.trading import books, statements, wallets
from exchange.trading.ledger_schemas import (MONTH, LedgerArgsSchema, LedgerSchema, MovementSchema,
                                             StatementArgsSchema, StatementSchema, TransferSchema, WalletSchema)

blp = Blueprint("ledger", __name__, url_prefix="/api/v1", description="Wallets, the ledger and statements")
ADMIN = require_scopes("admin:accounts")
CSV = "text/csv"


def _moved(record: dict):
    return record, location("ledger.get_transfer", transfer_id=record["id"])


@blp.route("/admin/wallets/<uuid:org_id>/topups", methods=["POST"])
@ADMIN
@blp.doc(requestBody={"content": {"application/json": {"schema": MovementSchema}}})
@blp.response(201, TransferSchema, headers=LOCATION_HEADER)
def top_up(org_id):
    """Credit an organisation's wallet with money received outside the platform (administrators)."""
    return _moved(wallets.top_up(current_identity(), org_id, load_or_problem(MovementSchema(), json_object())))


@blp.route("/admin/wallets/<uuid:org_id>/payouts", methods=["POST"])
@ADMIN
@blp.doc(requestBody={"content": {"application/json": {"schema": MovementSchema}}})
@blp.response(201, TransferSchema, headers=LOCATION_HEADER)
def pay_out(org_id):
    """Pay a provider out of its receivable (administrators); 409 naming what is available if it holds less."""
    return _moved(wallets.pay_out(current_identity(), org_id, load_or_problem(MovementSchema(), json_object())))


@blp.route("/admin/transfers/<uuid:transfer_id>", methods=["GET"])
@ADMIN
@blp.response(200, TransferSchema)
def get_transfer(transfer_id):
    """One ledger transfer with its postings (administrators)."""
    return wallets.get_transfer(current_identity(), transfer_id)


@blp.route("/admin/wallets/<uuid:org_id>", methods=["GET"])
@ADMIN
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, WalletSchema)
def org_wallet(args, org_id):
    """Any organisation's wallet as its members see it (administrators)."""
    return wallets.org_wallet(current_identity(), org_id, after=args["after"], limit=args["limit"])


@blp.route("/wallet", methods=["GET"])
@require_scopes("orders:read")
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, WalletSchema)
def own_wallet(args):
    """Your organisation's balances and receivables per currency, and its transfers, newest first."""
    return wallets.own_wallet(current_identity(), after=args["after"], limit=args["limit"])


@blp.route("/admin/ledger", methods=["GET"])
@ADMIN
@blp.arguments(LedgerArgsSchema, location="query")
@blp.response(200, LedgerSchema)
def ledger(args):
    """The trial balance per currency (zero when the books balance) and the accounts, by id (administrators)."""
    return books.ledger_overview(current_identity(), org_id=args["org_id"], kind=args["kind"], after=args["after"],
                                 limit=args["limit"])


@blp.route("/statements", methods=["GET"])
@require_scopes("orders:read")
@blp.arguments(StatementArgsSchema, location="query")
@blp.response(200, StatementSchema, description="JSON; or CSV with `Accept: text/csv` or `format=csv`")
def statement(args):
    """A provider's statement for one calendar month (UTC): sales by product and by buyer, fees, refunds,
    payouts and the receivable at the month's start and end. Administrators may name `org_id`."""
    year, month = (int(part) for part in MONTH.match(args["month"]).groups())
    doc = statements.statement(current_identity(), year, month, org_id=args["org_id"])
    wants_csv = args["format"] == "csv" or (
        args["format"] is None and request.accept_mimetypes.best_match(["application/json", CSV]) == CSV)
    if not wants_csv:
        return doc, 200, {"Vary": "Accept"}
    filename = f"sdx-statement-{doc['org_id']}-{doc['month']}.csv"
    return Response(statements.statement_csv(doc), mimetype=CSV,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"', "Vary": "Accept"})
