"""The ledger's guarantees, below the API: transfers balance, wallets never go negative (the code
refuses, and so does the database), the books add up, and 20 concurrent debits against a wallet
that can pay for 10 leave exactly 10 paid."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from exchange.core.db import db, unit_of_work
from exchange.trading import books, ledger
from exchange.trading.ledger import Leg
from exchange.trading.models import AccountKind, LedgerAccount, Posting, Transfer, TransferKind
from tests.conftest import add_user
from tests.trading.money import top_up


def _counts() -> tuple[int, int, int]:
    return tuple(db.session.scalar(select(func.count()).select_from(model))
                 for model in (LedgerAccount, Transfer, Posting))


@pytest.fixture
def buyer(app):
    with app.app_context():
        yield add_user("buyer@shop.example", org="Shop").org_id


def test_a_transfer_that_does_not_balance_is_refused_and_writes_nothing(app, buyer):
    wallet = ledger.account(AccountKind.wallet, "CNY", buyer)
    outside = ledger.account(AccountKind.external, "CNY")
    usd = ledger.account(AccountKind.external, "USD")
    before = _counts()
    for legs in ([Leg(outside, -100), Leg(wallet, 99)],  # off by one
                 [Leg(wallet, 0)],  # one leg
                 [Leg(outside, 0), Leg(wallet, 0)],  # nothing moves: a transfer of no postings
                 [Leg(outside, -100), Leg(ledger.account(AccountKind.wallet, "USD", buyer), 100)],  # two currencies
                 [Leg(outside, -1.5), Leg(wallet, 1.5)],  # not minor units
                 [Leg(outside, True), Leg(usd, -True)]):
        with pytest.raises(ledger.Unbalanced):
            ledger.transfer(TransferKind.topup, legs)
    assert _counts()[1:] == before[1:]
    assert wallet.balance == 0


def test_a_wallet_short_of_money_is_refused_with_the_shortfall_and_nothing_moves(app, buyer):
    top_up(buyer, 1000)
    wallet = ledger.find_account(AccountKind.wallet, "CNY", buyer)
    with unit_of_work():
        revenue = ledger.account(AccountKind.revenue, "CNY")
    before = _counts()
    with pytest.raises(ledger.InsufficientFunds) as refused:
        with unit_of_work():
            ledger.transfer(TransferKind.order, [Leg(wallet, -1500), Leg(revenue, 1500)])
    assert refused.value.shortfall == 500 and refused.value.account.name == wallet.name
    db.session.expire_all()
    assert _counts() == before and wallet.balance == 1000 and revenue.balance == 0


def test_the_database_refuses_a_negative_wallet_even_from_a_raw_update(app, buyer):
    top_up(buyer, 10)
    wallet = ledger.find_account(AccountKind.wallet, "CNY", buyer)
    for statement in (update(LedgerAccount).where(LedgerAccount.id == wallet.id).values(balance=-1),
                      text("UPDATE ledger_accounts SET balance = balance - 11 WHERE id = :id").bindparams(id=wallet.id)):
        with pytest.raises(IntegrityError, match="balance_not_negative"):
            with db.session.begin_nested():
                db.session.execute(statement)
    db.session.expire_all()
    assert wallet.balance == 10
    # The platform's own accounts may go below zero: external is where top-ups come from.
    assert ledger.find_account(AccountKind.external, "CNY").balance == -10


def test_a_balance_beyond_what_bigint_holds_is_refused_before_the_database(app, buyer):
    wallet = ledger.account(AccountKind.wallet, "CNY", buyer)
    outside = ledger.account(AccountKind.external, "CNY")
    limit = ledger.BALANCE_LIMIT
    ledger.transfer(TransferKind.topup, [Leg(outside, -limit), Leg(wallet, limit)])
    with pytest.raises(ledger.OutOfRange):
        ledger.transfer(TransferKind.topup, [Leg(outside, -1), Leg(wallet, 1)])
    db.session.expire_all()
    assert wallet.balance == limit


def test_the_check_finds_a_balance_that_is_not_the_sum_of_its_postings(app, buyer, runner):
    top_up(buyer, 700)
    result = books.check()
    assert result.balanced and result.trial_balance == {"CNY": 0} and result.postings_total == {"CNY": 0}
    answer = runner.invoke(args=["sdx", "ledger", "check"])
    assert answer.exit_code == 0, answer.output
    assert "CNY: balances sum to 0, postings sum to 0" in answer.output and "the ledger balances" in answer.output

    revenue = ledger.account(AccountKind.revenue, "CNY")
    db.session.execute(update(LedgerAccount).where(LedgerAccount.id == revenue.id).values(balance=5))  # a rogue UPDATE
    result = books.check()
    assert not result.balanced and result.trial_balance == {"CNY": 5}
    assert result.mismatched == [{"account": "platform:revenue:CNY", "balance": 5, "postings": 0}]
    answer = runner.invoke(args=["sdx", "ledger", "check"])
    assert answer.exit_code == 1
    assert "CNY: balances sum to 5" in answer.output and "does NOT balance" in answer.output
    assert "platform:revenue:CNY holds 5 but its postings sum to 0" in answer.output


def test_the_console_tops_up_a_wallet_by_organisation_id_or_name(app, buyer, runner):
    answer = runner.invoke(args=["sdx", "wallet", "topup", str(buyer), "25000", "--reference", "bank transfer 7"])
    assert answer.exit_code == 0, answer.output
    assert "25000 CNY into the wallet" in answer.output and "balance 25000 CNY" in answer.output
    answer = runner.invoke(args=["sdx", "wallet", "topup", "Shop", "100", "--currency", "EUR", "--reference", "x"])
    assert answer.exit_code == 0, answer.output
    assert ledger.find_account(AccountKind.wallet, "EUR", buyer).balance == 100
    assert ledger.find_account(AccountKind.wallet, "CNY", buyer).balance == 25000
    transfer = db.session.scalar(select(Transfer).where(Transfer.reference == "bank transfer 7"))
    assert transfer.kind is TransferKind.topup and sorted(p.amount for p in transfer.postings) == [-25000, 25000]

    before = _counts()
    for args, message in ((["0"], "--amount: must be a whole number"),
                          (["10", "--currency", "GBP"], "--currency: Must be one of"),
                          (["10", "--reference", " "], "--reference: Must not be blank")):
        argv = ["sdx", "wallet", "topup", str(buyer), *args]
        if "--reference" not in args:
            argv += ["--reference", "r"]
        answer = runner.invoke(args=argv)
        assert answer.exit_code == 2 and message in answer.output, (args, answer.output)
    answer = runner.invoke(args=["sdx", "wallet", "topup", "No Such Org", "10", "--reference", "r"])
    assert answer.exit_code == 2 and "no organisation 'No Such Org'" in answer.output
    assert _counts() == before


@pytest.mark.committed  # threads with connections of their own, each committing
def test_twenty_concurrent_debits_against_a_wallet_for_ten_leave_exactly_ten_paid(app):
    price = 1200
    with app.app_context():
        buyer = add_user("buyer@race.example", org="Race").org_id
        top_up(buyer, 10 * price)
        with unit_of_work():
            ledger.account(AccountKind.revenue, "CNY")
    start = threading.Barrier(20)
    outcomes: list[str] = []

    def debit() -> None:
        with app.app_context():
            start.wait()
            try:
                with unit_of_work():
                    wallet = ledger.account(AccountKind.wallet, "CNY", buyer)
                    revenue = ledger.account(AccountKind.revenue, "CNY")
                    ledger.transfer(TransferKind.order, [Leg(wallet, -price), Leg(revenue, price)])
                outcomes.append("paid")
            except ledger.InsufficientFunds:
                outcomes.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=debit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["paid"] * 10 + ["refused"] * 10
    with app.app_context():
        assert ledger.find_account(AccountKind.wallet, "CNY", buyer).balance == 0
        assert ledger.find_account(AccountKind.revenue, "CNY").balance == 10 * price
        assert db.session.scalar(select(func.count()).select_from(Transfer)
                                 .where(Transfer.kind == TransferKind.order)) == 10
        result = books.check()
        assert result.balanced and result.trial_balance == {"CNY": 0}
