"""20 orders at once against a wallet that can pay for exactly 10: exactly 10 are paid, 10 are refused
with 402, the wallet ends at zero and the books balance (row locks in account-id order; the CHECK
constraint behind them)."""
from __future__ import annotations

import pytest
import requests
from sqlalchemy import func, select

from bench.orders import race, seed_market, sign_in
from exchange.core.db import db
from exchange.trading.models import LedgerAccount, Order


@pytest.mark.committed  # concurrent requests, each on a connection of its own
def test_twenty_parallel_orders_against_a_wallet_for_ten(live):
    market = seed_market(live.app, buyers=1, price=1_000, funds=10_000)
    sign_in(live.url, market)
    with live.app.app_context():
        result = race(live.url, market, market.buyers[0], db.engine, orders=20)
        assert (result["paid"], result["refused_402"], result["other"]) == (10, 10, [])
        assert result["wallet"] == 0 and set(result["trial_balance"].values()) == {0}
        assert db.session.scalar(select(func.count()).select_from(Order)) == 10
        assert db.session.scalar(select(func.min(LedgerAccount.balance)).where(LedgerAccount.kind == "wallet")) == 0
    assert requests.get(f"{live.url}/healthz", timeout=5).status_code == 200
