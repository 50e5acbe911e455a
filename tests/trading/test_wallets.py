"""Wallets over HTTP: admin top-ups and payouts (good and bad input, nothing half-written), who may
call what, and an organisation's wallet showing its own money only."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from exchange.core import paging
from tests.trading import money

CNY_TOPUP = {"amount": 500000, "currency": "CNY", "reference": "bank transfer 42"}


@pytest.fixture
def bank(live):
    """An admin token, two buyer organisations and a provider with a sale (so its receivable holds 9000)."""
    admin = money.admin_token(live)
    shop = money.token(live, "buyer@shop.example", "Shop")
    rival = money.token(live, "buyer@rival.example", "Rival")
    provider = money.token(live, "seller@acme.example", "Acme", roles=("provider",), kind="provider")
    with live.app.app_context():
        ids = {name: money.org_id(name) for name in ("Shop", "Rival", "Acme", "Platform")}
        money.top_up(ids["Rival"], 50000)
        key, = money.products("Acme", "acme", 1)
        money.sell(ids["Rival"], ids["Acme"], [(key, 10000)], dt.datetime.now(dt.timezone.utc))
    return {"live": live, "admin": admin, "shop": shop, "rival": rival, "provider": provider, "ids": ids}


def _ledger(bank) -> dict:
    answer = bank["live"].api("GET", "/api/v1/admin/ledger", bank["admin"])
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_an_admin_top_up_credits_the_wallet_and_the_buyer_sees_it(bank):
    live, shop = bank["live"], bank["ids"]["Shop"]
    answer = live.api("POST", f"/api/v1/admin/wallets/{shop}/topups", bank["admin"], json=CNY_TOPUP)
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert {k: made[k] for k in ("kind", "amount", "currency", "reference", "account", "balance", "org_id")} == {
        "kind": "topup", "amount": 500000, "currency": "CNY", "reference": "bank transfer 42", "account": "wallet",
        "balance": 500000, "org_id": str(shop)}
    assert {(p["account"], p["amount"]) for p in made["postings"]} == {
        ("external:CNY", -500000), (f"org:{shop}:wallet:CNY", 500000)}
    assert answer.headers["Location"] == f"{live.url}/api/v1/admin/transfers/{made['id']}"
    shown = live.api("GET", answer.headers["Location"].removeprefix(live.url), bank["admin"])
    assert shown.status_code == 200 and shown.json()["id"] == made["id"] and shown.json()["amount"] == 500000

    second = live.api("POST", f"/api/v1/admin/wallets/{shop}/topups", bank["admin"],
                      json={"amount": 250, "reference": "cheque 9"})  # CNY by default
    assert second.status_code == 201 and second.json()["balance"] == 500250 and second.json()["currency"] == "CNY"

    wallet = live.api("GET", "/api/v1/wallet", bank["shop"]).json()
    assert wallet["balances"] == {"CNY": 500250} and wallet["receivables"] == {} and wallet["next"] is None
    assert [(t["kind"], t["amount"], t["reference"], t["account"]) for t in wallet["transfers"]] == [
        ("topup", 250, "cheque 9", "wallet"), ("topup", 500000, "bank transfer 42", "wallet")]
    assert _ledger(bank)["trial_balance"] == {"CNY": 0} and _ledger(bank)["balanced"] is True


BAD_TOPUPS = [
    ({"amount": 0}, "amount"), ({"amount": -100}, "amount"), ({"amount": 12.5}, "amount"),
    ({"amount": "100"}, "amount"), ({"amount": 2**63}, "amount"), ({"amount": 10**30}, "amount"),
    ({"amount": True}, "amount"), ({"amount": None}, "amount"), ({"currency": "GBP"}, "currency"),
    ({"currency": "cny"}, "currency"), ({"reference": ""}, "reference"), ({"reference": "   "}, "reference"),
    ({"reference": "x" * 201}, "reference"), ({"reference": None}, "reference"), ({"extra": 1}, "extra"),
]


def test_bad_top_ups_and_payouts_name_each_bad_field_and_write_nothing(bank):
    live, shop, admin = bank["live"], bank["ids"]["Shop"], bank["admin"]
    before = _ledger(bank)
    for route in ("topups", "payouts"):
        for change, field in BAD_TOPUPS:
            answer = live.api("POST", f"/api/v1/admin/wallets/{shop}/{route}", admin, json={**CNY_TOPUP, **change})
            assert answer.status_code == 422, (change, answer.text)
            assert answer.headers["Content-Type"] == "application/problem+json"
            assert field in {e["field"] for e in answer.json()["errors"]}, (change, answer.json())
        missing = live.api("POST", f"/api/v1/admin/wallets/{shop}/{route}", admin, json={})
        assert {e["field"] for e in missing.json()["errors"]} == {"amount", "reference"}
        assert live.api("POST", f"/api/v1/admin/wallets/{shop}/{route}", admin, data="amount=5").status_code == 415
        assert live.api("POST", f"/api/v1/admin/wallets/{shop}/{route}", admin, data="{", headers={
            "Content-Type": "application/json"}).status_code == 400
        unknown = live.api("POST", f"/api/v1/admin/wallets/{uuid.uuid4()}/{route}", admin, json=CNY_TOPUP)
        assert unknown.status_code == 404 and "No organisation" in unknown.json()["detail"]
    assert _ledger(bank) == before


def test_a_payout_takes_from_the_receivable_and_never_more_than_it_holds(bank):
    live, acme, admin = bank["live"], bank["ids"]["Acme"], bank["admin"]
    before = _ledger(bank)
    too_much = live.api("POST", f"/api/v1/admin/wallets/{acme}/payouts", admin,
                        json={"amount": 9001, "reference": "SWIFT 1"})
    assert too_much.status_code == 409, too_much.text
    assert too_much.json()["available"] == 9000 and too_much.json()["requested"] == 9001
    assert "holds 9000" in too_much.json()["detail"]
    never_earned = live.api("POST", f"/api/v1/admin/wallets/{acme}/payouts", admin,
                            json={"amount": 1, "currency": "USD", "reference": "SWIFT 2"})
    assert never_earned.status_code == 409 and never_earned.json()["available"] == 0
    assert _ledger(bank) == before  # not even a USD account was opened

    paid = live.api("POST", f"/api/v1/admin/wallets/{acme}/payouts", admin, json={"amount": 6000, "reference": "SWIFT 3"})
    assert paid.status_code == 201, paid.text
    assert paid.json()["account"] == "receivable" and paid.json()["balance"] == 3000
    assert {(p["account"], p["amount"]) for p in paid.json()["postings"]} == {
        (f"org:{acme}:receivable:CNY", -6000), ("external:CNY", 6000)}
    wallet = live.api("GET", "/api/v1/wallet", bank["provider"]).json()
    assert wallet["balances"] == {} and wallet["receivables"] == {"CNY": 3000}
    assert [(t["kind"], t["amount"]) for t in wallet["transfers"]] == [("payout", -6000), ("order", 9000)]
    assert _ledger(bank)["trial_balance"] == {"CNY": 0}


def test_buyers_providers_and_narrow_tokens_are_refused_the_admin_routes(bank):
    live, shop = bank["live"], bank["ids"]["Shop"]
    some_transfer = live.api("GET", "/api/v1/wallet", bank["rival"]).json()["transfers"][0]["id"]
    admin_routes = [("POST", f"/api/v1/admin/wallets/{shop}/topups", CNY_TOPUP),
                    ("POST", f"/api/v1/admin/wallets/{shop}/payouts", CNY_TOPUP),
                    ("GET", f"/api/v1/admin/wallets/{shop}", None), ("GET", "/api/v1/admin/ledger", None),
                    ("GET", f"/api/v1/admin/transfers/{some_transfer}", None)]
    admin_without_scope = money.token(live, "admin@sdx.example", "Platform", roles=("admin",), kind="platform",
                                      scopes="orders:read")
    before = _ledger(bank)
    for method, path, body in admin_routes:
        for caller in (bank["shop"], bank["provider"], admin_without_scope):
            answer = live.api(method, path, caller, json=body)
            assert answer.status_code == 403, (method, path, answer.text)
            assert 'error="insufficient_scope"' in answer.headers["WWW-Authenticate"]
        assert live.api(method, path, json=body).status_code == 401
    assert _ledger(bank) == before


def test_the_wallet_shows_the_callers_organisation_only_a_page_at_a_time(bank):
    live, admin, ids = bank["live"], bank["admin"], bank["ids"]
    for n in range(3):
        assert live.api("POST", f"/api/v1/admin/wallets/{ids['Shop']}/topups", admin,
                        json={"amount": 100 + n, "reference": f"shop {n}"}).status_code == 201
    assert live.api("POST", f"/api/v1/admin/wallets/{ids['Rival']}/topups", admin,
                    json={"amount": 7, "currency": "EUR", "reference": "rival eur"}).status_code == 201

    first = live.api("GET", "/api/v1/wallet?limit=2", bank["shop"]).json()
    assert first["org_id"] == str(ids["Shop"]) and first["balances"] == {"CNY": 303}
    assert [t["reference"] for t in first["transfers"]] == ["shop 2", "shop 1"] and first["next"]
    second = live.api("GET", "/api/v1/wallet", bank["shop"], params={"limit": 2, "after": first["next"]}).json()
    assert [t["reference"] for t in second["transfers"]] == ["shop 0"] and second["next"] is None

    rival = live.api("GET", "/api/v1/wallet", bank["rival"]).json()
    assert rival["balances"] == {"CNY": 40000, "EUR": 7}
    assert {t["reference"] for t in rival["transfers"]} == {"rival eur", "test top-up", None}
    order = next(t for t in rival["transfers"] if t["kind"] == "order")
    assert order["amount"] == -10000 and order["order_id"]
    assert not any(t["reference"].startswith("shop") for t in rival["transfers"] if t["reference"])

    empty = live.api("GET", "/api/v1/wallet", money.token(live, "new@empty.example", "Empty")).json()
    assert empty == {"org_id": empty["org_id"], "balances": {}, "receivables": {}, "transfers": [], "next": None}

    for bad in ({"after": "not-a-cursor"}, {"limit": 0}, {"limit": 201}):
        answer = live.api("GET", "/api/v1/wallet", bank["shop"], params=bad)
        assert answer.status_code == 422 and {e["field"] for e in answer.json()["errors"]} == set(bad)
    no_scope = money.token(live, "buyer@shop.example", "Shop", scopes="catalog:read")
    assert live.api("GET", "/api/v1/wallet", no_scope).status_code == 403

    as_admin = live.api("GET", f"/api/v1/admin/wallets/{ids['Shop']}", admin).json()
    assert as_admin["balances"] == {"CNY": 303} and len(as_admin["transfers"]) == 3
    assert live.api("GET", f"/api/v1/admin/wallets/{uuid.uuid4()}", admin).status_code == 404


def test_the_admin_ledger_balances_and_lists_accounts_by_organisation_and_kind(bank):
    live, admin, ids = bank["live"], bank["admin"], bank["ids"]
    live.api("POST", f"/api/v1/admin/wallets/{ids['Shop']}/topups", admin, json={"amount": 5, "currency": "USD",
                                                                                  "reference": "usd"})
    books = _ledger(bank)
    assert books["trial_balance"] == {"CNY": 0, "USD": 0} and books["postings_total"] == {"CNY": 0, "USD": 0}
    assert books["balanced"] is True and books["mismatched_accounts"] == []
    assert sum(a["balance"] for a in books["accounts"] if a["currency"] == "CNY") == 0
    by_name = {a["name"]: a["balance"] for a in books["accounts"]}
    assert by_name["platform:revenue:CNY"] == 1000 and by_name[f"org:{ids['Acme']}:receivable:CNY"] == 9000
    assert by_name[f"org:{ids['Rival']}:wallet:CNY"] == 40000 and by_name["external:CNY"] == -50000

    mine = live.api("GET", "/api/v1/admin/ledger", admin, params={"org_id": str(ids["Shop"])}).json()["accounts"]
    assert [(a["kind"], a["currency"], a["balance"]) for a in mine] == [("wallet", "USD", 5)]
    wallets = live.api("GET", "/api/v1/admin/ledger", admin, params={"kind": "wallet", "limit": 1}).json()
    assert len(wallets["accounts"]) == 1 and wallets["next"]
    rest = live.api("GET", "/api/v1/admin/ledger", admin, params={"kind": "wallet", "after": wallets["next"]}).json()
    assert {a["kind"] for a in wallets["accounts"] + rest["accounts"]} == {"wallet"}
    assert len(wallets["accounts"] + rest["accounts"]) == 2
    assert wallets["balanced"] is True and rest["trial_balance"] is None and rest["balanced"] is None  # first page only
    huge = paging.encode(str(2**70))
    for path in ("/api/v1/admin/ledger", "/api/v1/wallet"):
        answer = live.api("GET", path, admin if "admin" in path else bank["shop"], params={"after": huge})
        assert answer.status_code == 422, answer.text
        assert answer.headers["Content-Type"] == "application/problem+json"
        assert [e["field"] for e in answer.json()["errors"]] == ["after"]
    bad = live.api("GET", "/api/v1/admin/ledger", admin, params={"kind": "piggybank", "org_id": "x"})
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} == {"kind", "org_id"}
