"""Shapes of the wallet, ledger and statement API; the console validates top-ups with the same schema."""
from __future__ import annotations

import re

from marshmallow import Schema, ValidationError, fields, validate

from auth.schemas import PageArgsSchema
from exchange.licensing.models import CURRENCIES
from exchange.trading.models import AccountKind

#: The most one top-up or payout may move (10^15 minor units: ten trillion yuan). Far below the
#: BIGINT the balances are kept in, so no sum of a few movements overflows it.
MAX_AMOUNT = 10**15
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])\Z")


def _month(value: str) -> None:
    """YYYY-MM, in years whose month and the next one a datetime can hold."""
    match = MONTH.match(value)
    if match is None or not 1000 <= int(match.group(1)) <= 9998:
        raise ValidationError("must be a month as YYYY-MM (years 1000 to 9998)")


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("Must not be blank.")


class MovementSchema(Schema):
    """A top-up or payout."""

    amount = fields.Integer(required=True, strict=True, validate=validate.Range(
        min=1, max=MAX_AMOUNT, error=f"must be a whole number of minor units from 1 to {MAX_AMOUNT}"),
        metadata={"description": "Minor units (fen, cents), a positive integer", "example": 500000})
    currency = fields.String(load_default="CNY", validate=validate.OneOf(CURRENCIES),
                             metadata={"description": "ISO 4217 code", "example": "CNY"})
    reference = fields.String(required=True, validate=[validate.Length(min=1, max=200), _not_blank],
                              metadata={"description": "Where the money came from or went (bank reference)",
                                        "example": "bank transfer 42"})


class PostingSchema(Schema):
    account = fields.String()
    kind = fields.String()
    org_id = fields.UUID(allow_none=True)
    amount = fields.Integer()
    currency = fields.String()


class TransferSchema(Schema):
    id = fields.UUID()
    kind = fields.String()
    amount = fields.Integer(metadata={"description": "Minor units moved"})
    currency = fields.String(allow_none=True)
    reference = fields.String(allow_none=True)
    order_id = fields.UUID(allow_none=True)
    created_by = fields.UUID(allow_none=True)
    created_at = fields.DateTime()
    org_id = fields.UUID(metadata={"description": "The organisation whose account moved (top-ups, payouts)"})
    account = fields.String(metadata={"description": "`wallet` (top-up) or `receivable` (payout)"})
    balance = fields.Integer(metadata={"description": "That account's balance right after the transfer"})
    postings = fields.List(fields.Nested(PostingSchema))


class WalletEntrySchema(Schema):
    id = fields.UUID(metadata={"description": "The transfer"})
    kind = fields.String(metadata={"description": "topup, payout, order or refund"})
    account = fields.String(metadata={"description": "wallet or receivable"})
    amount = fields.Integer(metadata={"description": "Signed minor units into (+) or out of (−) the account"})
    currency = fields.String()
    reference = fields.String(allow_none=True)
    order_id = fields.UUID(allow_none=True)
    created_at = fields.DateTime()


class WalletSchema(Schema):
    org_id = fields.UUID()
    balances = fields.Dict(keys=fields.String(), values=fields.Integer(),
                           metadata={"description": "Wallet balance per currency (money to spend)"})
    receivables = fields.Dict(keys=fields.String(), values=fields.Integer(),
                              metadata={"description": "What the platform owes the organisation for its sales"})
    transfers = fields.List(fields.Nested(WalletEntrySchema), metadata={"description": "Newest first"})
    next = fields.String(allow_none=True, metadata={"description": "Cursor for the next page; null on the last"})


class AccountSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    org_id = fields.UUID(allow_none=True)
    kind = fields.String()
    currency = fields.String()
    balance = fields.Integer()
    created_at = fields.DateTime()


class MismatchSchema(Schema):
    account = fields.String()
    balance = fields.Integer()
    postings = fields.Integer()


class LedgerSchema(Schema):
    trial_balance = fields.Dict(keys=fields.String(), values=fields.Integer(), allow_none=True, metadata={
        "description": "Sum of all balances per currency: zero when the books balance (first page only; null after)"})
    postings_total = fields.Dict(keys=fields.String(), values=fields.Integer(), allow_none=True,
                                 metadata={"description": "Sum of all postings per currency: zero as well"})
    balanced = fields.Boolean(allow_none=True)
    mismatched_accounts = fields.List(fields.Nested(MismatchSchema), allow_none=True, metadata={
        "description": "Accounts whose stored balance differs from the sum of their postings"})
    accounts = fields.List(fields.Nested(AccountSchema))
    next = fields.String(allow_none=True)


class LedgerArgsSchema(PageArgsSchema):
    org_id = fields.UUID(load_default=None, metadata={"description": "Only this organisation's accounts"})
    kind = fields.Enum(AccountKind, by_value=True, load_default=None, metadata={"description": "Only accounts of this kind"})


class StatementArgsSchema(Schema):
    month = fields.String(required=True, validate=_month,
                          metadata={"example": "2026-11"})
    org_id = fields.UUID(load_default=None, metadata={"description": "Administrators: whose statement"})
    format = fields.String(load_default=None, validate=validate.OneOf(["json", "csv"]),
                           metadata={"description": "csv: the same as `Accept: text/csv`"})


class _SalesSchema(Schema):
    currency = fields.String()
    lines = fields.Integer(metadata={"description": "Order lines sold"})
    gross = fields.Integer(metadata={"description": "What buyers paid"})
    fees = fields.Integer(metadata={"description": "The platform's fees on it"})
    net = fields.Integer(metadata={"description": "gross − fees: what the provider earned"})


class ProductSalesSchema(_SalesSchema):
    product_id = fields.Integer(allow_none=True)
    product = fields.String(metadata={"description": "collection/item, or (deleted product)"})


class BuyerSalesSchema(_SalesSchema):
    org_id = fields.UUID()
    name = fields.String()


class RefundSchema(Schema):
    order_id = fields.UUID()
    refunded_at = fields.DateTime()
    product_id = fields.Integer(allow_none=True)
    product = fields.String()
    buyer_org_id = fields.UUID()
    buyer = fields.String()
    currency = fields.String()
    gross = fields.Integer()
    fees = fields.Integer()
    net = fields.Integer()


class PayoutSchema(Schema):
    transfer_id = fields.UUID()
    created_at = fields.DateTime()
    reference = fields.String(allow_none=True)
    currency = fields.String()
    amount = fields.Integer()


class StatementSchema(Schema):
    org_id = fields.UUID()
    organisation = fields.String()
    month = fields.String()
    from_ = fields.DateTime(attribute="from", data_key="from")
    until = fields.DateTime()
    totals = fields.Dict(keys=fields.String(), values=fields.Dict(keys=fields.String(), values=fields.Integer()),
                         metadata={"description": "Per currency: gross, fees, net, refunded, refunded_fees, "
                                                  "refunded_net, payouts, opening_receivable, closing_receivable"})
    by_product = fields.List(fields.Nested(ProductSalesSchema))
    by_buyer = fields.List(fields.Nested(BuyerSalesSchema))
    refunds = fields.List(fields.Nested(RefundSchema))
    payouts = fields.List(fields.Nested(PayoutSchema))
