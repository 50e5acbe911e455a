"""The provider's pages through the Flask test client, on both backends: products with status and
refusal reasons, offers (create, every bad field named, change the price, withdraw), sales and
statements, access requests to review (approve free or priced, reject) and usage by buyer.
Another provider's things read as absent (404); a buyer gets 403; provider text is escaped."""
from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from sqlalchemy import func, select

from auth import service
from auth.policies import identity_of
from exchange.catalog import batches
from exchange.catalog.models import Item
from exchange.core.db import db, unit_of_work, utcnow
from exchange.ingest.models import AssetState, ProductAsset
from exchange.licensing import offers as offer_service
from exchange.licensing.models import Offer
from exchange.metering.models import MeterEvent
from exchange.policy import SYSTEM
from exchange.sharing import access
from exchange.sharing import service as sharing
from exchange.sharing.models import AccessRequest
from tests.trading import money
from tests.web.test_pages import signed_in

SCRIPT = "<script>alert(1)</script>"
ALICE, BOB = "alice@provider.example", "bob@provider.example"


def csrf(client) -> str:
    page = client.get("/provider/offers").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def error_of(page: str, field: str) -> str:
    found = re.search(rf'<span id="e-{field}" class="field-error" role="alert">([^<]*)</span>', page)
    return found.group(1) if found else ""


@pytest.fixture
def world(app):
    """Alice and Bob (providers) with a collection each; Alice's published products, a draft whose
    title is a script tag and whose file ingest refused; a sale to Shop, a download by Shop, a
    require_approval policy on Alice's collection and Shop's pending request for her first product."""
    alice = signed_in(app, app.test_client(), ALICE, ("provider",), "provider")
    bob = signed_in(app, app.test_client(), BOB, ("provider",), "provider")
    buyer = signed_in(app, app.test_client(), "buyer@shop.example", ("buyer",), "buyer")
    with app.app_context():
        alice_user, buyer_user = service.find_user(ALICE), service.find_user("buyer@shop.example")
        admin_user = service.find_user("admin@sdx.example") or service.create_user(SYSTEM, {
            "org": service.create_org(SYSTEM, {"name": "Platform", "kind": "platform"}).name,
            "email": "admin@sdx.example", "password": "x" * 16, "roles": ["admin"]})
        p1, p2 = money.products(f"Org of {ALICE}", "alice-c", 2)
        (b1,) = money.products(f"Org of {BOB}", "bob-c", 1)
        draft = dict(money.ITEM, id="alice-draft", collection="alice-c",
                     properties={"datetime": "2026-01-01T00:00:00Z", "title": SCRIPT})
        batches.bulk_write(SYSTEM, "alice-c", [draft], method="insert")
        draft_key = db.session.scalar(select(Item.key).where(Item.item_id == "alice-draft"))
        with unit_of_work():
            db.session.add(ProductAsset(item_key=draft_key, asset_key="data", state=AssetState.quarantined,
                                        reason=f"not a GeoTIFF {SCRIPT}", filename="x.tif", media_type="image/tiff",
                                        roles=["data"], size=10, sha256="0" * 64, object_key="alice-c/x"))
        bob_offer = offer_service.create_offer(identity_of(service.find_user(BOB)), {
            "product_id": b1, "license": "commercial-single-org@1",
            "pricing": {"model": "per_scene", "price": 5000, "currency": "CNY"}}).id
        shop = buyer_user.org_id
        money.top_up(shop, 100000)
        money.sell(shop, alice_user.org_id, [(p1, 12050)], utcnow())
        with unit_of_work():
            db.session.add(MeterEvent(at=utcnow(), org_id=shop, provider_org_id=alice_user.org_id, item_key=p1,
                                      collection_id="alice-c", item_id="alice-c-0", asset_key="data",
                                      bytes_sent=2048, status=200, counted=True))
        sharing.create_policy(identity_of(admin_user), {
            "name": "alice's scenes need approval", "target": {"collections": ["alice-c"]},
            "actions": ["license", "download"], "effect": "require_approval"}, own=False)
        request_id = access.create_request(identity_of(buyer_user), {"product_id": p1, "purpose": "research",
                                                                     "message": SCRIPT})[1]["id"]
    return {"alice": alice, "bob": bob, "buyer": buyer, "p1": p1, "p2": p2, "b1": b1, "draft": draft_key,
            "bob_offer": bob_offer, "request": request_id, "app": app}


def offers_of(app, provider_email: str) -> int:
    with app.app_context():
        org = service.find_user(provider_email).org_id
        return db.session.scalar(select(func.count()).select_from(Offer).where(Offer.provider_org_id == org))


# -- products --------------------------------------------------------------------------------------------
def test_products_show_status_refusal_reason_and_links_escaped(world):
    page = world["alice"].get("/provider/products").get_data(as_text=True)
    assert "alice-c-0" in page and "alice-draft" in page and "bob-c-0" not in page
    assert SCRIPT not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "not a GeoTIFF &lt;script&gt;" in page and "refused" in page
    upload = f'/provider/upload?product={world["draft"]}'
    assert f'href="{upload}"' in page
    # the link opens that product's upload page, not the page for choosing one
    assert "alice-draft" in world["alice"].get(upload).get_data(as_text=True)
    assert f'href="/products/{world["p1"]}"' in page
    assert 'href="/provider/offers?collection_id=alice-c#new-offer"' in page
    collection_form = world["alice"].get("/provider/offers?collection_id=alice-c").get_data(as_text=True)
    assert '<option value="collection" selected>' in collection_form
    assert '<option value="alice-c" selected>' in collection_form

    refused = world["alice"].get("/provider/products?status=refused").get_data(as_text=True)
    assert "alice-draft" in refused and "alice-c-0" not in refused
    published = world["alice"].get("/provider/products?status=published&collection=alice-c").get_data(as_text=True)
    assert "alice-c-0" in published and "alice-draft" not in published
    assert "bob-c-0" not in world["alice"].get("/provider/products?collection=bob-c").get_data(as_text=True)


def test_products_are_paged(world):
    with world["app"].app_context():
        docs = [dict(money.ITEM, id=f"many-{n}", collection="alice-c") for n in range(20)]
        batches.bulk_write(SYSTEM, "alice-c", docs, method="insert")
    first = world["alice"].get("/provider/products").get_data(as_text=True)
    following = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = world["alice"].get(following).get_data(as_text=True)
    assert "alice-c-0" in second and "alice-c-0" not in first and 'rel="prev"' in second


# -- offers ----------------------------------------------------------------------------------------------
def test_a_provider_prices_a_product_in_major_units(world):
    client = world["alice"]
    form = {"csrf_token": csrf(client), "target": "product", "product_id": str(world["p2"]),
            "license": "commercial-single-org@1", "model": "per_scene", "price": "120.50", "currency": "CNY",
            "discount_research": "10"}
    answer = client.post("/provider/offers", data=form)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    offer_page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "120.50" in offer_page and "commercial-single-org@1" in offer_page and "The offer is on sale." in offer_page
    with world["app"].app_context():
        offer = db.session.scalar(select(Offer).where(Offer.item_key == world["p2"]))
        assert (offer.price, offer.currency, offer.discounts) == (12050, "CNY", {"research": 10})
    listing = client.get("/provider/offers").get_data(as_text=True)
    assert "alice-c/alice-c-1" in listing and "bob-c" not in listing


def test_a_collection_offer(world):
    client = world["alice"]
    answer = client.post("/provider/offers", data={
        "csrf_token": csrf(client), "target": "collection", "collection_id": "alice-c",
        "license": "commercial-single-org@1", "model": "per_km2", "price": "2", "min_km2": "25", "currency": "USD"})
    assert answer.status_code == 302
    with world["app"].app_context():
        offer = db.session.scalar(select(Offer).where(Offer.collection_id == "alice-c"))
        assert (offer.price, offer.currency, offer.min_km2) == (200, "USD", 25)


def test_every_bad_offer_field_is_named_and_nothing_is_written(world):
    client = world["alice"]
    before = offers_of(world["app"], ALICE)
    answer = client.post("/provider/offers", data={
        "csrf_token": csrf(client), "target": "product", "product_id": "abc", "license": "",
        "model": "per_km2", "price": "12.345", "currency": "CNY", "discount_government": "lots"})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422
    for field in ("product_id", "license", "price", "min_km2", "discount_government"):
        assert error_of(page, field), field
    assert 'aria-invalid="true"' in page and offers_of(world["app"], ALICE) == before

    # the service's own checks, named the same way: a free offer with a price, then an unknown licence
    for wrong, field in (({"model": "free", "price": "3"}, "price"), ({"license": "no-such@1"}, "license")):
        answer = client.post("/provider/offers", data={
            "csrf_token": csrf(client), "target": "product", "product_id": str(world["p1"]),
            "license": "commercial-single-org@1", "model": "free", "currency": "CNY", **wrong})
        assert answer.status_code == 422 and error_of(answer.get_data(as_text=True), field), field
    assert offers_of(world["app"], ALICE) == before


def test_another_providers_product_or_collection_cannot_be_priced(world):
    client = world["alice"]
    before = offers_of(world["app"], ALICE)
    for target, ident, field in (("collection", "bob-c", "collection_id"), ("product", str(world["b1"]), "product_id"),
                                 ("product", "999999", "product_id")):
        answer = client.post("/provider/offers", data={
            "csrf_token": csrf(client), "target": target, "collection_id": ident, "product_id": ident,
            "license": "commercial-single-org@1", "model": "free", "currency": "CNY"})
        assert answer.status_code in (403, 404), (target, ident)
        assert "no such product or collection" in error_of(answer.get_data(as_text=True), field)
    assert offers_of(world["app"], ALICE) == before


def test_offers_are_paged(world):
    with world["app"].app_context():
        seller = identity_of(service.find_user(ALICE))
        for price in range(1, 23):
            offer_service.create_offer(seller, {"product_id": world["p2"], "license": "commercial-single-org@1",
                                                "pricing": {"model": "per_scene", "price": price * 100}})
    first = world["alice"].get("/provider/offers").get_data(as_text=True)
    following = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = world["alice"].get(following).get_data(as_text=True)
    shown = lambda page: set(re.findall(r"/provider/offers/([0-9a-f-]{36})", page))  # noqa: E731
    assert len(shown(first)) == 20 and len(shown(second)) == 2 and not shown(first) & shown(second)
    assert world["alice"].get("/provider/offers?after=garbage").status_code == 200


def test_change_the_price_then_withdraw(world):
    client = world["alice"]
    with world["app"].app_context():
        offer_id = offer_service.create_offer(identity_of(service.find_user(ALICE)), {
            "product_id": world["p2"], "license": "commercial-single-org@1",
            "pricing": {"model": "per_scene", "price": 1000, "currency": "EUR"}}).id
    token = csrf(client)
    bad = client.post(f"/provider/offers/{offer_id}/price", data={"csrf_token": token, "price": "-1"})
    assert bad.status_code == 422 and error_of(bad.get_data(as_text=True), "price")
    good = client.post(f"/provider/offers/{offer_id}/price", data={"csrf_token": token, "price": "15"})
    assert good.status_code == 302
    with world["app"].app_context():
        offer = db.session.get(Offer, offer_id)
        assert (offer.price, offer.revision) == (1500, 2)
    assert client.post(f"/provider/offers/{offer_id}/retire", data={"csrf_token": token}).status_code == 302
    page = client.get(f"/provider/offers/{offer_id}").get_data(as_text=True)
    assert "withdrawn" in page and "Change the price" not in page
    again = client.post(f"/provider/offers/{offer_id}/price", data={"csrf_token": token, "price": "20"})
    assert again.status_code == 409 and "withdrawn" in again.get_data(as_text=True)


def test_another_providers_offer_reads_as_absent(world):
    client, offer_id = world["alice"], world["bob_offer"]
    token = csrf(client)
    for answer in (client.get(f"/provider/offers/{offer_id}"), client.get(f"/provider/offers/{uuid.uuid4()}"),
                   client.post(f"/provider/offers/{offer_id}/price", data={"csrf_token": token, "price": "1"}),
                   client.post(f"/provider/offers/{offer_id}/retire", data={"csrf_token": token})):
        assert answer.status_code == 404
    with world["app"].app_context():
        offer = db.session.get(Offer, offer_id)
        assert offer.withdrawn_at is None and offer.price == 5000


# -- sales and statements ----------------------------------------------------------------------------------
def test_sales_and_the_months_statement_with_its_csv(world):
    client = world["alice"]
    page = client.get("/provider/sales").get_data(as_text=True)
    assert "alice-c/alice-c-0" in page and "Org of buyer@shop.example" in page and "120.50" in page
    month = utcnow().strftime("%Y-%m")
    statement = client.get(f"/provider/statements/{month}").get_data(as_text=True)
    assert "120.50" in statement and "12.05" in statement and "108.45" in statement  # gross, 10 % fee, net
    csv = client.get(f"/provider/statements/{month}.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv" and "12050" in csv.get_data(as_text=True)
    missing = client.get("/provider/statements/not-a-month")
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    assert "No sale yet." in world["bob"].get("/provider/sales").get_data(as_text=True)


# -- access requests -----------------------------------------------------------------------------------------
def test_the_provider_approves_free_with_limits(world):
    client, request_id = world["alice"], world["request"]
    listing = client.get("/provider/requests").get_data(as_text=True)
    assert request_id in listing and "Org of buyer@shop.example" in listing
    page = client.get(f"/provider/requests/{request_id}").get_data(as_text=True)
    assert SCRIPT not in page and "&lt;script&gt;" in page
    token = csrf(client)
    bad = client.post(f"/provider/requests/{request_id}/approve", data={
        "csrf_token": token, "price": "free", "duration_days": "0", "downloads_per_asset": "many",
        "bytes_allowed": "-5", "license": "nope@1"})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422
    for field in ("duration_days", "downloads_per_asset", "bytes_allowed"):
        assert error_of(text, field), field
    good = client.post(f"/provider/requests/{request_id}/approve", data={
        "csrf_token": token, "price": "free", "duration_days": "30", "downloads_per_asset": "2"})
    assert good.status_code == 302, good.get_data(as_text=True)
    with world["app"].app_context():
        row = db.session.get(AccessRequest, uuid.UUID(request_id))
        assert row.state.value == "approved" and row.conditions["downloads_per_asset"] == 2 and row.entitlement_id
    assert "approved" in client.get(f"/provider/requests/{request_id}").get_data(as_text=True)


def test_the_provider_approves_priced_on_an_offer(world):
    client, request_id = world["alice"], world["request"]
    with world["app"].app_context():
        offer_id = offer_service.create_offer(identity_of(service.find_user(ALICE)), {
            "product_id": world["p1"], "license": "commercial-single-org@1",
            "pricing": {"model": "per_scene", "price": 900, "currency": "CNY"}}).id
        elsewhere = offer_service.create_offer(identity_of(service.find_user(ALICE)), {
            "product_id": world["p2"], "license": "commercial-single-org@1",
            "pricing": {"model": "per_scene", "price": 900, "currency": "CNY"}}).id
    page = client.get(f"/provider/requests/{request_id}").get_data(as_text=True)
    assert f'value="{offer_id}"' in page and f'value="{world["bob_offer"]}"' not in page
    assert f'value="{elsewhere}"' not in page  # on another product: it cannot be quoted for this request
    answer = client.post(f"/provider/requests/{request_id}/approve", data={"csrf_token": csrf(client),
                                                                          "price": str(offer_id)})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    with world["app"].app_context():
        assert db.session.get(AccessRequest, uuid.UUID(request_id)).quote_id is not None


def test_the_provider_rejects_with_a_reason(world):
    client, request_id = world["alice"], world["request"]
    token = csrf(client)
    empty = client.post(f"/provider/requests/{request_id}/reject", data={"csrf_token": token, "reason": " "})
    assert empty.status_code == 422 and error_of(empty.get_data(as_text=True), "reason")
    answer = client.post(f"/provider/requests/{request_id}/reject", data={"csrf_token": token,
                                                                         "reason": "Not for this use"})
    assert answer.status_code == 302
    page = client.get(f"/provider/requests/{request_id}").get_data(as_text=True)
    assert "rejected" in page and "Not for this use" in page
    again = client.post(f"/provider/requests/{request_id}/reject", data={"csrf_token": token, "reason": "x"})
    assert again.status_code == 409


def test_another_providers_request_reads_as_absent(world):
    client, request_id = world["bob"], world["request"]
    token = csrf(client)
    assert request_id not in client.get("/provider/requests?state=all").get_data(as_text=True)
    for answer in (client.get(f"/provider/requests/{request_id}"),
                   client.post(f"/provider/requests/{request_id}/approve", data={"csrf_token": token, "price": "free"}),
                   client.post(f"/provider/requests/{request_id}/reject", data={"csrf_token": token, "reason": "no"})):
        assert answer.status_code == 404
    with world["app"].app_context():
        assert db.session.get(AccessRequest, uuid.UUID(request_id)).state.value == "pending"


# -- usage -----------------------------------------------------------------------------------------------------
def test_usage_by_buyer_organisation_with_a_chart(world):
    page = world["alice"].get("/provider/usage?days=7").get_data(as_text=True)
    assert '<svg role="img"' in page and "<title id=\"chart-title\">" in page
    assert "Org of buyer@shop.example" in page and "2.0 kB" in page
    assert "Org of buyer@shop.example" not in world["bob"].get("/provider/usage").get_data(as_text=True)


# -- who may --------------------------------------------------------------------------------------------------
EXTRA_PAGES = ["/provider/requests", "/provider/usage", f"/provider/statements/{dt.date.today():%Y-%m}"]


@pytest.mark.parametrize("path", EXTRA_PAGES)
def test_anonymous_is_sent_to_sign_in(client, path):
    answer = client.get(path)
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login?next=")


def test_a_buyer_gets_403_on_every_provider_page(world):
    buyer = world["buyer"]
    for path in ["/provider/products", "/provider/offers", "/provider/sales", *EXTRA_PAGES,
                 f"/provider/offers/{world['bob_offer']}", f"/provider/requests/{world['request']}"]:
        assert buyer.get(path).status_code == 403, path
    token = re.search(r'name="csrf_token" value="([^"]+)"', buyer.get("/account/clients").get_data(as_text=True))
    refused = buyer.post("/provider/offers", data={"csrf_token": token.group(1), "target": "product",
                                                   "product_id": str(world["b1"])})
    assert refused.status_code == 403


def test_the_pages_read_in_chinese(world):
    page = world["alice"].get("/provider/offers?lang=zh-CN").get_data(as_text=True)
    assert "报价" in page and "Offers and prices" not in page


# -- the small parts ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("typed, currency, minor", [("120.50", "CNY", 12050), ("1,000", "USD", 100000), ("0", "EUR", 0),
                                                    ("", "CNY", None)])
def test_prices_typed_in_major_units_become_minor_units(app, typed, currency, minor):
    from exchange.web.provider import to_major, to_minor
    with app.test_request_context():
        assert to_minor(typed, currency) == (minor, None)
        if minor is not None:
            assert to_minor(to_major(minor, currency), currency) == (minor, None)


@pytest.mark.parametrize("typed", ["abc", "-1", "1.234", "NaN", "Infinity"])
def test_prices_that_are_not_prices_are_named(app, typed):
    from exchange.web.provider import to_minor
    with app.test_request_context():
        minor, problem = to_minor(typed, "CNY")
        assert minor is None and problem


def test_the_statement_months_run_back_over_the_new_year():
    from exchange.web.provider_review import recent_months
    assert recent_months(dt.date(2026, 2, 10), 4) == ["2026-02", "2026-01", "2025-12", "2025-11"]
