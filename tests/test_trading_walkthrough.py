"""The README's trading walkthrough, on the newcomer's own platform (`make run`'s `sdx run` with the
demo accounts and catalogue): the provider offers a product, the admin funds the buyer, the buyer is
quoted, orders and holds a licence, and the provider's statement shows the sale; then the buyer
downloads the product's file whole and by range, sees the allowance fall and run out, mints a
licence-scoped token that is refused on any other product, and everyone reads the usage report."""
from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timezone

import requests

from storage.embedded import free_ports
from tests.catalog.conftest import SAMPLES
from tests.conftest import service_missing
from tests.test_run import start_platform, stop_platform


def token_of(url: str, account: dict) -> dict:
    answer = requests.post(url + "oauth/token", data={"grant_type": "client_credentials"},
                           auth=(account["client_id"], account["client_secret"]), timeout=10)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_the_readme_walkthrough_from_offer_to_statement(tmp_path):
    if not SAMPLES.exists():
        service_missing(f"sample STAC data not found at {SAMPLES} (set SDX_TEST_SAMPLE_STAC)")
    var_dir = (tmp_path / "var").resolve()
    (port,) = free_ports(1)
    process, url, _lines = start_platform(var_dir, port)
    try:
        accounts = json.loads((var_dir / "demo-accounts.json").read_text())
        provider = token_of(url, accounts["provider@sdx.example"])
        admin = token_of(url, accounts["admin@sdx.example"])
        buyer = token_of(url, accounts["buyer@sdx.example"])

        # The provider puts an offer on one of its products.
        item = requests.get(url + "stac/search?collections=naip&limit=1", timeout=10).json()["features"][0]
        product_id = item["properties"]["sdx:product_id"]
        offer = requests.post(url + "api/v1/offers", headers=provider, timeout=10, json={
            "product_id": product_id, "license": "commercial-single-org@1",
            "pricing": {"model": "per_scene", "price": 12000, "currency": "CNY"}})
        assert offer.status_code == 201, offer.text
        offer_id = offer.json()["id"]
        listed = requests.get(url + f"stac/collections/naip/items/{item['id']}", timeout=10).json()
        assert offer_id in [o["id"] for o in listed["properties"]["sdx:offers"]]  # besides the demo's own offer

        # The admin tops up the buyer's wallet (the buyer's organisation id is its token's org claim).
        orgs = requests.get(url + "api/v1/admin/orgs?limit=100", headers=admin, timeout=10).json()["items"]
        buyer_org = next(o["id"] for o in orgs if o["name"] == "Demo Buyer")
        topup = requests.post(url + f"api/v1/admin/wallets/{buyer_org}/topups", headers=admin, timeout=10,
                              json={"amount": 500000, "currency": "CNY", "reference": "bank transfer 42"})
        assert topup.status_code == 201, topup.text

        # The buyer is quoted, orders, and holds the licence; the wallet shows the debit.
        quote = requests.post(url + "api/v1/quotes", headers=buyer, timeout=10,
                              json={"items": [{"product_id": product_id, "offer_id": offer_id}]})
        assert quote.status_code == 201, quote.text
        line = quote.json()["lines"][0]
        assert (line["quantity"], line["unit_price"], line["total"], line["reason"]) == (1, 12000, 12000, None)
        assert quote.json()["totals"] == {"CNY": 12000}
        order = requests.post(url + "api/v1/orders", timeout=10,
                              headers={**buyer, "Idempotency-Key": str(uuid.uuid4())},
                              json={"quote_id": quote.json()["id"], "accept_licenses": ["commercial-single-org@1"]})
        assert order.status_code == 201, order.text
        assert order.json()["status"] == "fulfilled" and len(order.json()["license_ids"]) == 1
        licences = requests.get(url + "api/v1/licenses", headers=buyer, timeout=10).json()["items"]
        assert [(lic["product_id"], lic["status"], lic["license"]["code"]) for lic in licences] == [
            (product_id, "active", "commercial-single-org")]
        wallet = requests.get(url + "api/v1/wallet", headers=buyer, timeout=10).json()
        assert wallet["balances"] == {"CNY": 1_000_000 + 500000 - 12000}  # the demo's top-up, then this one

        # The provider sees the sale in this month's statement; the platform's books balance.
        month = datetime.now(timezone.utc).strftime("%Y-%m")
        statement = requests.get(url + "api/v1/statements", headers=provider, timeout=10, params={"month": month})
        assert statement.status_code == 200, statement.text
        sales = statement.json()["by_product"]
        assert [(s["product_id"], s["currency"], s["gross"], s["fees"], s["net"]) for s in sales] == [
            (product_id, "CNY", 12000, 1200, 10800)]  # the platform's fee is 10 % by default
        assert [b["name"] for b in statement.json()["by_buyer"]] == ["Demo Buyer"]
        ledger = requests.get(url + "api/v1/admin/ledger", headers=admin, timeout=10).json()
        assert ledger["trial_balance"] == {"CNY": 0}

        download_steps(url, accounts, item, licences[0], provider=provider, admin=admin, buyer=buyer)
    finally:
        stop_platform(process)


def download_steps(url: str, accounts: dict, item: dict, licence: dict, *, provider: dict, admin: dict,
                   buyer: dict) -> None:
    """Steps 5–8 of the walkthrough: the demo product's stored file (a GeoTIFF the demo put there)."""
    href = item["assets"]["image"]["href"]
    assert href.endswith(f"/stac/collections/naip/items/{item['id']}/assets/image/download")
    size = licence["bytes_allowed"] // 3  # commercial-single-org: three times the product's size

    # 5. Whole, then the first KiB: the bytes remaining fall by exactly what was sent.
    whole = requests.get(href, headers=buyer, timeout=30)
    assert whole.status_code == 200 and len(whole.content) == size and whole.content[:4] in (b"II*\0", b"MM\0*")
    assert whole.headers["SDX-License-Id"] == licence["id"]
    assert int(whole.headers["SDX-Bytes-Remaining"]) == 2 * size
    assert whole.headers["ETag"] == '"' + hashlib.sha256(whole.content).hexdigest() + '"'
    part = requests.get(href, headers={**buyer, "Range": "bytes=0-1023"}, timeout=30)
    assert part.status_code == 206 and part.content == whole.content[:1024]
    assert part.headers["Content-Range"] == f"bytes 0-1023/{size}"
    assert int(part.headers["SDX-Bytes-Remaining"]) == 2 * size - 1024
    assert part.headers["SDX-Downloads-Remaining"] == "2"  # COUNTER: one download so far

    # 6. Used up: the next whole file does not fit, and the 403 says so and why.
    assert requests.get(href, headers=buyer, timeout=30).status_code == 200
    refused = requests.get(href, headers=buyer, timeout=30)
    assert refused.status_code == 403 and refused.json()["rule"] == "bytes-used-up"
    assert f"has {size - 1024} bytes left" in refused.json()["detail"]
    held = requests.get(url + f"api/v1/licenses/{licence['id']}", headers=buyer, timeout=10).json()
    assert (held["downloads_per_asset"], held["downloads_remaining"]) == (3, 2)
    assert (held["bytes_used"], held["bytes_reserved"], held["bytes_remaining"]) == (2 * size + 1024, 0, size - 1024)

    # 7. A token scoped to this licence downloads under it, and nothing else.
    client = accounts["buyer@sdx.example"]
    details = json.dumps([{"type": "sdx_license", "license_ids": [licence["id"]], "actions": ["download"]}])
    minted = requests.post(url + "oauth/token", auth=(client["client_id"], client["client_secret"]), timeout=10,
                           data={"grant_type": "client_credentials", "authorization_details": details})
    assert minted.status_code == 200, minted.text
    assert minted.json()["authorization_details"][0]["license_ids"] == [licence["id"]]
    scoped = {"Authorization": f"Bearer {minted.json()['access_token']}"}
    assert requests.get(href, headers={**scoped, "Range": "bytes=0-99"}, timeout=30).status_code == 206
    others = requests.get(url + "stac/search?collections=naip&limit=2", timeout=10).json()["features"]
    other_href = others[1]["assets"]["image"]["href"]  # the demo stored a file for it too
    elsewhere = requests.get(other_href, headers=scoped, timeout=30)
    assert elsewhere.status_code == 403 and elsewhere.json()["rule"] == "license-scope"

    # 8. The usage report, as buyer, provider and admin, in JSON and CSV.
    product_id = item["properties"]["sdx:product_id"]
    for who in (buyer, provider, admin):
        report = requests.get(url + "api/v1/usage?group_by=product", headers=who, timeout=10)
        assert report.status_code == 200, report.text
        rows = [row for row in report.json()["items"] if row["product_id"] == product_id]
        sent = 2 * size + 1024 + 100
        assert [(row["downloads"], row["bytes"], row["refusals"]) for row in rows] == [(1, sent, 1)]
        csv = requests.get(url + "api/v1/usage?group_by=product", headers={**who, "Accept": "text/csv"}, timeout=10)
        assert csv.status_code == 200 and csv.headers["Content-Type"].startswith("text/csv")
        assert csv.text.splitlines()[0].startswith("product_id") and str(sent) in csv.text
