"""Providers' monthly statements: sales by product and buyer, fees, refunds, payouts and the
receivable at the month's bounds (they reconcile), in JSON and CSV, for the provider alone."""
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from exchange.policy import SYSTEM
from exchange.trading import statements
from tests.conftest import add_user, identity_for
from tests.trading import money


def at(month: int, day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=dt.timezone.utc)


@pytest.fixture
def market(app):
    """Acme sells two products to Shop and Rival in October, November and on 1 December (UTC)."""
    with app.app_context():
        seller = add_user("seller@acme.example", ("provider",), "Acme", "provider")
        acme, shop, rival = seller.org_id, add_user("b@shop.example", org="Shop").org_id, \
            add_user("b@rival.example", org="Rival").org_id
        p1, p2 = money.products("Acme", "acme", 2)
        other_provider = add_user("s@other.example", ("provider",), "Other", "provider").org_id
        (o1,) = money.products("Other", "other", 1)
        for buyer in (shop, rival):
            money.top_up(buyer, 100000)
        money.top_up(shop, 1000, "USD")
        money.sell(shop, acme, [(p1, 10000)], at(10, 20))
        refunded_later = money.sell(shop, acme, [(p2, 5000)], at(10, 25))
        money.sell(shop, acme, [(p1, 10000), (p2, 5000)], at(11, 3))
        money.sell(shop, acme, [(p1, 300)], at(11, 4), currency="USD")
        money.refund(refunded_later, at(11, 5))
        money.sell(rival, acme, [(p2, 5000)], at(11, 10))
        refunded_now = money.sell(rival, acme, [(p1, 20000)], at(11, 12))
        money.pay_out(acme, 4000, at(11, 15))
        money.refund(refunded_now, at(11, 20))
        money.sell(shop, other_provider, [(o1, 7000)], at(11, 21))  # another provider's sale
        money.sell(shop, acme, [(p1, 10000)], dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc))  # December
        yield {"seller": seller, "acme": acme, "shop": shop, "rival": rival, "p1": p1, "p2": p2,
               "refunded": (refunded_later.id, refunded_now.id)}


def test_the_statement_shows_the_months_sales_refunds_and_payouts_and_reconciles(market):
    doc = statements.statement(identity_for(market["seller"], "orders:read"), 2026, 11)
    assert doc["organisation"] == "Acme" and doc["month"] == "2026-11"
    assert doc["from"] == at(11, 1, 0) and doc["until"] == at(12, 1, 0)
    cny = doc["totals"]["CNY"]
    assert cny == {"gross": 40000, "fees": 4000, "net": 36000, "refunded": 25000, "refunded_fees": 2500,
                   "refunded_net": 22500, "payouts": 4000, "opening_receivable": 13500, "closing_receivable": 23000}
    assert cny["closing_receivable"] == cny["opening_receivable"] + cny["net"] - cny["refunded_net"] - cny["payouts"]
    assert doc["totals"]["USD"] == {"gross": 300, "fees": 30, "net": 270, "refunded": 0, "refunded_fees": 0,
                                    "refunded_net": 0, "payouts": 0, "opening_receivable": 0,
                                    "closing_receivable": 270}
    assert [(p["product_id"], p["product"], p["currency"], p["lines"], p["gross"], p["fees"], p["net"])
            for p in doc["by_product"]] == [
        (market["p1"], "acme/acme-0", "CNY", 2, 30000, 3000, 27000),
        (market["p2"], "acme/acme-1", "CNY", 2, 10000, 1000, 9000),
        (market["p1"], "acme/acme-0", "USD", 1, 300, 30, 270)]
    assert [(b["name"], b["currency"], b["lines"], b["gross"], b["net"]) for b in doc["by_buyer"]] == [
        ("Rival", "CNY", 2, 25000, 22500), ("Shop", "CNY", 2, 15000, 13500), ("Shop", "USD", 1, 300, 270)]
    assert [(r["order_id"], r["buyer"], r["gross"], r["fees"], r["net"]) for r in doc["refunds"]] == [
        (market["refunded"][0], "Shop", -5000, -500, -4500), (market["refunded"][1], "Rival", -20000, -2000, -18000)]
    assert [(p["amount"], p["currency"], p["reference"]) for p in doc["payouts"]] == [(4000, "CNY", "payout 2026-11-15")]

    october = statements.statement(SYSTEM, 2026, 10, org_id=market["acme"])["totals"]["CNY"]
    assert october["gross"] == 15000 and october["opening_receivable"] == 0 and october["closing_receivable"] == 13500
    december = statements.statement(SYSTEM, 2026, 12, org_id=market["acme"])["totals"]["CNY"]
    assert december["opening_receivable"] == 23000 and december["gross"] == 10000
    assert statements.statement(SYSTEM, 2025, 1, org_id=market["acme"])["totals"] == {}


def test_the_csv_has_a_row_per_product_buyer_refund_payout_and_total(market):
    doc = statements.statement(SYSTEM, 2026, 11, org_id=market["acme"])
    rows = list(csv.DictReader(io.StringIO(statements.statement_csv(doc))))
    assert [(r["section"], r["name"], r["gross"], r["net"]) for r in rows if r["section"] == "product"] == [
        ("product", "acme/acme-0", "30000", "27000"), ("product", "acme/acme-1", "10000", "9000"),
        ("product", "acme/acme-0", "300", "270")]
    assert [r["net"] for r in rows if r["section"] == "refund"] == ["-4500", "-18000"]
    assert [(r["currency"], r["net"]) for r in rows if r["section"] == "payout"] == [("CNY", "-4000")]
    totals = {(r["currency"], r["name"]): int(r["net"]) for r in rows if r["section"] == "total"}
    assert totals[("CNY", "closing_receivable")] == 23000 and totals[("USD", "net")] == 270


def test_cells_a_spreadsheet_would_run_as_formulas_are_quoted(app):
    with app.app_context():
        seller = add_user("seller@acme.example", ("provider",), "Acme", "provider")
        buyer = add_user("b@evil.example", org="=HYPERLINK(\"http://evil.example\")").org_id
        (p1,) = money.products("Acme", "acme", 1)
        money.top_up(buyer, 1000)
        money.sell(buyer, seller.org_id, [(p1, 1000)], at(11, 2))
        doc = statements.statement(SYSTEM, 2026, 11, org_id=seller.org_id)
    rows = list(csv.DictReader(io.StringIO(statements.statement_csv(doc))))
    assert [r["name"] for r in rows if r["section"] == "buyer"] == ["'=HYPERLINK(\"http://evil.example\")"]


def _month(live, token, month, **params):
    return live.api("GET", "/api/v1/statements", token, params={"month": month, **params})


def test_a_provider_reads_its_statement_as_json_or_csv_and_nobody_else_does(live):
    provider = money.token(live, "seller@acme.example", "Acme", roles=("provider",), kind="provider")
    other = money.token(live, "seller@other.example", "Other", roles=("provider",), kind="provider")
    buyer = money.token(live, "b@shop.example", "Shop")
    admin = money.admin_token(live)
    with live.app.app_context():
        acme, shop = money.org_id("Acme"), money.org_id("Shop")
        (p1,) = money.products("Acme", "acme", 1)
        money.top_up(shop, 20000)
        money.sell(shop, acme, [(p1, 12000)], at(11, 2))

    answer = _month(live, provider, "2026-11")
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    assert answer.json()["totals"]["CNY"]["net"] == 10800 and answer.json()["by_buyer"][0]["name"] == "Shop"
    for csv_answer in (live.api("GET", "/api/v1/statements", provider, params={"month": "2026-11"},
                                headers={"Accept": "text/csv"}), _month(live, provider, "2026-11", format="csv")):
        assert csv_answer.status_code == 200 and csv_answer.headers["Content-Type"].startswith("text/csv")
        assert csv_answer.headers["Content-Disposition"] == \
            f'attachment; filename="sdx-statement-{acme}-2026-11.csv"'
        assert "product,CNY,%d,acme/acme-0,,1,12000,1200,10800" % p1 in csv_answer.text
    both = live.api("GET", "/api/v1/statements", provider, params={"month": "2026-11"},
                    headers={"Accept": "text/csv;q=0.5, application/json"})
    assert both.headers["Content-Type"] == "application/json"

    for bad in ("2026-13", "2026-1", "26-11", "november", "2026-11-01", "", "0000-01", "9999-12", "2026-11\n"):
        refused = _month(live, provider, bad)
        assert refused.status_code == 422 and [e["field"] for e in refused.json()["errors"]] == ["month"], bad
    missing = live.api("GET", "/api/v1/statements", provider)
    assert missing.status_code == 422 and [e["field"] for e in missing.json()["errors"]] == ["month"]
    assert _month(live, provider, "2026-11", format="pdf").status_code == 422

    refused = _month(live, buyer, "2026-11")
    assert refused.status_code == 403 and refused.json()["rule"] == "role-provider"
    assert _month(live, other, "2026-11", org_id=str(acme)).status_code == 404
    assert _month(live, other, "2026-11").json()["totals"] == {}  # its own: nothing sold
    assert _month(live, provider, "2026-11", org_id=str(shop)).status_code == 404
    assert _month(live, admin, "2026-11", org_id=str(acme)).json()["totals"]["CNY"]["gross"] == 12000
    no_scope = money.token(live, "seller@acme.example", "Acme", scopes="catalog:read")
    assert _month(live, no_scope, "2026-11").status_code == 403
    assert live.api("GET", "/api/v1/statements", params={"month": "2026-11"}).status_code == 401
