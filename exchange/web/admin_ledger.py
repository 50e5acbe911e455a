"""Money (administrators): a form that tops up an organisation's wallet or pays a provider out of its
receivable, the trial balance, the platform's revenue per currency, the recent transfers (top-ups,
payouts, orders, refunds) and the accounts.

The form takes the amount in major units (yuan, euros) and turns it into the minor units the wallet
service takes, with the currency's own digits; the movement is validated by the API's own schema
and made by ``wallets.top_up`` / ``wallets.pay_out``, which write the ledger transfer and its audit
entry. The organisation is named as people know it, by name.
"""
from __future__ import annotations

from decimal import Decimal

from babel.numbers import get_currency_precision
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from auth import service
from exchange.core.problems import Conflict, Problem, load_or_problem
from exchange.licensing.models import CURRENCIES
from exchange.trading import books, wallets
from exchange.trading.ledger_schemas import MovementSchema
from exchange.trading.models import AccountKind
from exchange.web.admin import PAGE_SIZE, bp, form_errors, org_names
from exchange.web.i18n import money
from exchange.web.pages import ADMINS, current_identity, page

MOVEMENTS = {"topup": wallets.top_up, "payout": wallets.pay_out}


def _minor(amount: str, currency: str):
    """``"12.50", "CNY"`` → 1250; text that is no amount in that currency's digits → None."""
    digits = get_currency_precision(currency) if currency in CURRENCIES else 2
    try:
        value = Decimal(amount.strip().replace(",", ""))
        minor = value.scaleb(digits)
        return int(minor) if value.is_finite() and minor == minor.to_integral_value() else None
    except ArithmeticError:  # not a number, or one beyond what a Decimal holds
        return None


def _ledger_page(form: dict | None = None, errors: dict | None = None, status: int = 200):
    identity = current_identity()
    after = request.args.get("after") or None
    try:
        overview = books.ledger_overview(identity, org_id=None, kind=None, after=after, limit=PAGE_SIZE)
    except Problem:  # a cursor that is not ours: the first page
        after = None
        overview = books.ledger_overview(identity, org_id=None, kind=None, after=None, limit=PAGE_SIZE)
    if overview["trial_balance"] is None:  # the check of the whole ledger comes with the first page only
        first = books.ledger_overview(identity, org_id=None, kind=None, after=None, limit=1)
        overview.update({key: first[key] for key in ("trial_balance", "postings_total", "balanced",
                                                     "mismatched_accounts")})
    revenue = books.ledger_overview(identity, org_id=None, kind=AccountKind.revenue, after=None,
                                    limit=len(CURRENCIES))["accounts"]
    moved_after = request.args.get("moved_after") or None
    try:
        movements, moved_next = books.recent_transfers(identity, after=moved_after, limit=PAGE_SIZE)
    except Problem:  # a cursor that is not ours: the first page
        moved_after = None
        movements, moved_next = books.recent_transfers(identity, after=None, limit=PAGE_SIZE)
    names = org_names([a["org_id"] for a in overview["accounts"]]
                      + [p["org_id"] for m in movements for p in m["postings"]])
    return render_template(
        "admin/ledger.html", overview=overview, revenue=revenue, movements=movements, names=names,
        currency_options=[(c, c) for c in CURRENCIES], form=form or {"kind": "topup", "currency": "CNY"}, errors=errors or {},
        kinds=[("topup", _("Top-up: into the organisation's wallet")),
               ("payout", _("Payout: out of the provider's receivable"))],
        accounts_next=url_for("admin.ledger", after=overview["next"]) if overview["next"] else None,
        accounts_first=url_for("admin.ledger") if after else None,
        moved_next=url_for("admin.ledger", moved_after=moved_next) + "#moves" if moved_next else None,
        moved_first=url_for("admin.ledger") + "#moves" if moved_after else None), status


@bp.get("/ledger")
@page(ADMINS)
def ledger():
    return _ledger_page()


@bp.post("/ledger")
@page(ADMINS)
def move_money():
    """Top up or pay out; bad input → the form again (422) with every bad field named, nothing moved."""
    form = {name: request.form.get(name, "").strip() for name in ("kind", "org", "currency", "amount", "reference")}
    errors: dict[str, list[str]] = {}
    if form["kind"] not in MOVEMENTS:
        errors["kind"] = [_("Choose a top-up or a payout.")]
    org = service.find_org(form["org"]) if form["org"] else None
    if org is None:
        errors["org"] = [_("Enter the name of an organisation.") if not form["org"]
                         else _("There is no organisation named %(name)s.", name=form["org"])]
    amount = _minor(form["amount"], form["currency"]) if form["amount"] else None
    if amount is None:
        errors["amount"] = [_("Enter an amount such as 100 or 99.50.")]
    body = {"amount": amount if amount is not None else 0, "currency": form["currency"],
            "reference": request.form.get("reference", "")}
    try:
        body = load_or_problem(MovementSchema(), body)
    except Problem as problem:
        for name, messages in form_errors(problem).items():
            errors.setdefault(name, messages)
    if errors:
        return _ledger_page(form, errors, 422)
    try:
        moved = MOVEMENTS[form["kind"]](current_identity(), org.id, body)
    except Conflict as problem:
        return _ledger_page(form, form_errors(problem), 409)
    shown = {"org": org.name, "amount": money(moved["amount"], moved["currency"]),
             "balance": money(moved["balance"], moved["currency"])}
    flash(_("The wallet of %(org)s is topped up by %(amount)s; it holds %(balance)s.", **shown) if form["kind"] == "topup"
          else _("%(org)s is paid %(amount)s; its receivable now holds %(balance)s.", **shown))
    return redirect(url_for("admin.ledger"))
