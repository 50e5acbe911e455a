"""The buyer's pages through the Flask test client, on both backends: the cart, the quote with its
per-line breakdown, the checkout (every licence accepted, one order per form), orders, the metered
download, and who may see what (another organisation's ids read as absent)."""
from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import func, select

from exchange.catalog import transactions
from exchange.core.db import db, unit_of_work
from exchange.licensing.models import Entitlement
from exchange.policy import SYSTEM
from exchange.trading.models import Order, Quote
from tests.conftest import PASSWORD
from tests.trading.orders_world import PRODUCT_BYTES, build_world

XSS = "<script>alert(1)</script>"


@pytest.fixture
def world(app):
    world = build_world(app)
    world.offer_id = world.offer(world.products[0], price=12_000)
    world.km2_offer = world.offer(world.products[1], model="per_km2", price=100, min_km2=None)
    with app.app_context():
        transactions.patch_item(SYSTEM, "orders-test", "scene-0", {"properties": {"title": XSS}})
    return world


def browser(app, email: str):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return client


def csrf_of(client, path: str = "/cart") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def add(client, product_id, offer_id, token=None):
    return client.post("/cart/add", data={"product_id": str(product_id), "offer_id": str(offer_id),
                                          "csrf_token": token or csrf_of(client)})


def counts(app) -> tuple[int, int, int]:
    with app.app_context():
        return tuple(db.session.scalar(select(func.count()).select_from(model)) for model in (Quote, Order, Entitlement))


def quote_of(client, world) -> str:
    assert add(client, world.products[0], world.offer_id).status_code == 302
    answer = client.post("/cart/quote", data={"csrf_token": csrf_of(client)})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return answer.headers["Location"]


def checkout_form(client, quote_path: str) -> dict:
    page = client.get(quote_path).get_data(as_text=True)
    return {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1),
            "idempotency_key": re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1),
            "refs": re.findall(r'name="accept_licenses" value="([^"]+)"', page)}


def test_the_cart_shows_lines_escaped_and_removes_them(app, world):
    client = browser(app, "buyer@orders.example")
    assert "Your cart is empty" in client.get("/cart").get_data(as_text=True)
    assert add(client, world.products[0], world.offer_id).status_code == 302
    page = client.get("/cart").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and XSS not in page
    assert f'href="/products/{world.products[0]}"' in page
    assert "orders-test-commercial licence" in page and "version 1" in page and "¥120.00" in page
    assert client.post("/cart/remove", data={"product_id": str(world.products[0]),
                                             "csrf_token": csrf_of(client)}).status_code == 302
    assert "Your cart is empty" in client.get("/cart").get_data(as_text=True)


def test_adding_what_cannot_be_licensed_is_refused_with_the_reason(app, world):
    client = browser(app, "buyer@orders.example")
    bad = client.post("/cart/add", data={"product_id": str(10**30), "offer_id": "nope", "csrf_token": csrf_of(client)})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "Give a product id" in text and "Give an offer id" in text
    refused = add(client, world.products[2], world.offer_id)  # the offer is for another product
    assert refused.status_code == 422 and "the offer is not for this product" in refused.get_data(as_text=True)
    hidden = add(client, 999_999, world.offer_id)
    assert hidden.status_code == 422 and "no product 999999 that you may see" in hidden.get_data(as_text=True)
    own = add(browser(app, "provider@orders.example"), world.products[0], world.offer_id)
    assert own.status_code == 422 and "your own organisation" in own.get_data(as_text=True)
    assert "Your cart is empty" in client.get("/cart").get_data(as_text=True)


def test_the_quote_shows_each_line_and_the_totals(app, world):
    client = browser(app, "buyer@orders.example")
    add(client, world.products[1], world.km2_offer)
    path = quote_of(client, world)
    page = client.get(path)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "&lt;script&gt;" in text and XSS not in text
    assert "per scene" in text and "per km²" in text and "¥120.00" in text
    # The 1° square at the equator: about 12,308.8 km² at 1.00 CNY each.
    assert re.search(r"12,30\d\.\d\d", text) or re.search(r"1230\d\.\d\d km²", text)
    assert "valid until" in text and "I accept the licence orders-test-commercial licence version 1" in text


def test_checkout_needs_every_licence_and_places_one_order_per_form(app, world):
    world.fund(1_000_000)
    client = browser(app, "buyer@orders.example")
    path = quote_of(client, world)
    form = checkout_form(client, path)
    before = counts(app)
    missing = client.post(f"{path}/order", data={"csrf_token": form["csrf_token"],
                                                 "idempotency_key": form["idempotency_key"]})
    text = missing.get_data(as_text=True)
    assert missing.status_code == 422 and "Accept the licence orders-test-commercial@1" in text
    assert 'aria-invalid="true"' in text and counts(app) == before
    form = checkout_form(client, path)
    data = {"csrf_token": form["csrf_token"], "idempotency_key": form["idempotency_key"],
            "accept_licenses": form["refs"]}
    first = client.post(f"{path}/order", data=data)
    again = client.post(f"{path}/order", data=data)  # a double submit of the same form
    assert first.status_code == again.status_code == 302
    assert first.headers["Location"] == again.headers["Location"]
    assert counts(app)[1] == before[1] + 1
    order = client.get(first.headers["Location"]).get_data(as_text=True)
    assert "Order placed" in order and "fulfilled" in order and "Downloads left per file: 2" in order
    assert "/licenses/" in order and "/download/" in order
    listed = client.get("/orders").get_data(as_text=True)
    assert first.headers["Location"].rsplit("/", 1)[1][:8] in listed and "¥120.00" in listed


def test_an_order_without_funds_says_so_and_writes_nothing(app, world):
    client = browser(app, "buyer@orders.example")
    path = quote_of(client, world)
    form = checkout_form(client, path)
    before = counts(app)
    answer = client.post(f"{path}/order", data={"csrf_token": form["csrf_token"], "accept_licenses": form["refs"],
                                                "idempotency_key": form["idempotency_key"]})
    assert answer.status_code == 402 and "top up the CNY wallet" in answer.get_data(as_text=True)
    assert counts(app) == before


def test_download_issues_a_metered_link_and_refusals_say_why(app, world):
    world.fund(1_000_000)
    client = browser(app, "buyer@orders.example")
    path = quote_of(client, world)
    form = checkout_form(client, path)
    placed = client.post(f"{path}/order", data={"csrf_token": form["csrf_token"], "accept_licenses": form["refs"],
                                                "idempotency_key": form["idempotency_key"]})
    page = client.get(placed.headers["Location"]).get_data(as_text=True)
    link = re.search(r'action="(/licenses/[^"]+/download/[^"]+)"', page).group(1)
    token = {"csrf_token": form["csrf_token"]}
    # A GET (a link another site made the browser follow, a prefetch) spends nothing; nor does a POST
    # without the form's token.
    assert client.get(link).status_code == 405
    assert client.post(link).status_code == 400
    with app.app_context():
        assert db.session.scalar(select(Entitlement)).bytes_used == 0
    sent = client.post(link, data=token)
    assert sent.status_code == 303 and "X-Amz-Signature" in sent.headers["Location"]
    with app.app_context():
        licence = db.session.scalar(select(Entitlement))
        assert licence.bytes_used == PRODUCT_BYTES
    assert "Downloads left per file: 1" in client.get(placed.headers["Location"]).get_data(as_text=True)
    for _ in range(2):  # 3 × the product's size in all: two more whole files fit
        assert client.post(link, data=token).status_code == 303
    refused = client.post(link, data=token)
    assert refused.status_code == 403 and "Download refused" in refused.get_data(as_text=True)
    assert "bytes left" in refused.get_data(as_text=True)
    # Another organisation's licence reads as absent; a key the product lacks is named.
    lab = browser(app, "lab@orders.example")
    assert lab.post(link, data={"csrf_token": csrf_of(lab)}).status_code == 404
    assert client.post(link.rsplit("/", 1)[0] + "/nothing", data=token).status_code == 422
    assert client.post(f"/licenses/{uuid.uuid4()}/download/1/data", data=token).status_code == 404
    assert "No such licence" in client.post("/licenses/not-an-id/download/1/data", data=token).get_data(as_text=True)


def test_other_organisations_quotes_and_orders_are_absent(app, world):
    world.fund(1_000_000)
    client = browser(app, "buyer@orders.example")
    path = quote_of(client, world)
    lab = browser(app, "lab@orders.example")
    assert lab.get(path).status_code == 404
    assert lab.post(f"{path}/order", data={"csrf_token": csrf_of(lab), "idempotency_key": "k",
                                           "accept_licenses": ["orders-test-commercial@1"]}).status_code == 404
    assert lab.get(f"/orders/{uuid.uuid4()}").status_code == 404
    assert client.get("/quotes/not-a-uuid").status_code == 404


def test_pages_need_sign_in(client):
    """Every role may buy (providers and admins too), so no signed-in user gets a 403 here."""
    for path in ("/cart", "/orders", f"/quotes/{uuid.uuid4()}", f"/orders/{uuid.uuid4()}"):
        answer = client.get(path)
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/login?next="), path
    assert client.post("/cart/add", data={"product_id": "1"}).status_code == 400  # no CSRF token


def test_licence_terms_are_public_and_escaped(app, client):
    with app.app_context(), unit_of_work():
        from exchange.licensing.models import LicenseTemplate
        db.session.add(LicenseTemplate(code="xss-terms", version=1, title=XSS, terms=XSS, uses=["internal"]))
    page = client.get("/license-terms/xss-terms/1")
    assert page.status_code == 200 and XSS not in page.get_data(as_text=True)
    assert client.get("/license-terms/xss-terms/2").status_code == 404


def test_the_pages_read_in_chinese(app, world):
    client = browser(app, "buyer@orders.example")
    add(client, world.products[0], world.offer_id)
    page = client.get("/cart?lang=zh-CN").get_data(as_text=True)
    assert "获取报价" in page and "移除" in page and "Get a quote" not in page
    quote = client.get(quote_of(client, world)).get_data(as_text=True)
    assert "报价单" in quote and "提交订单" in quote and "我接受许可" in quote


def test_a_quote_shows_each_refused_line_with_its_reason_and_remedy(app, world):
    """One line a sharing policy holds back (require approval: its remedy is shown), one whose offer
    was withdrawn since it was added; the line that can be licensed is quoted and ordered alone."""
    from exchange.catalog import batches
    from exchange.catalog.models import Item, ItemStatus
    from exchange.licensing import offers
    from exchange.sharing import service as sharing
    from tests.trading.orders_world import item_doc

    with app.app_context():
        transactions.create_collection(SYSTEM, {"id": "orders-other", "description": "Other"},
                                       owner_org_id=world.provider_org)
        batches.bulk_write(SYSTEM, "orders-other", [dict(item_doc("other-0"), collection="orders-other")],
                           method="insert", status=ItemStatus.published)
        other = db.session.scalar(select(Item.key).where(Item.item_id == "other-0"))
    other_offer = world.offer(other, price=5_000)
    world.fund(1_000_000)
    client = browser(app, "buyer@orders.example")
    for product, offer in ((world.products[0], world.offer_id), (world.products[1], world.km2_offer),
                           (other, other_offer)):
        assert add(client, product, offer).status_code == 302
    with app.app_context():
        sharing.create_policy(SYSTEM, {"name": "Review first", "target": {"collections": ["orders-other"]},
                                       "actions": ["license"], "effect": "require_approval"}, own=False)
        offers.withdraw_offer(SYSTEM, world.km2_offer)
    answer = client.post("/cart/quote", data={"csrf_token": csrf_of(client)})
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Cannot be licensed: the offer has been withdrawn" in page
    refused = re.search(rf'<tr data-product-id="{other}" class="refused">(.*?)</tr>', page, re.S).group(1)
    assert "Review first" in refused and "What would help:" in refused and "access" in refused
    assert page.count('class="refused"') == 2 and "¥120.00" in page
    form = checkout_form(client, answer.headers["Location"])
    placed = client.post(f"{answer.headers['Location']}/order", data={
        "csrf_token": form["csrf_token"], "idempotency_key": form["idempotency_key"], "accept_licenses": form["refs"]})
    assert placed.status_code == 302
    # The ordered product left the cart; the two refused ones stay for the buyer to deal with.
    cart = client.get("/cart").get_data(as_text=True)
    assert f'data-product-id="{world.products[0]}"' not in cart
    assert f'data-product-id="{other}"' in cart and f'data-product-id="{world.products[1]}"' in cart


def test_an_offer_changed_since_the_quote_is_a_conflict_that_says_so(app, world):
    world.fund(1_000_000)
    client = browser(app, "buyer@orders.example")
    path = quote_of(client, world)
    form = checkout_form(client, path)
    world.change_offer(world.offer_id, price=15_000)
    before = counts(app)
    answer = client.post(f"{path}/order", data={"csrf_token": form["csrf_token"], "accept_licenses": form["refs"],
                                                "idempotency_key": form["idempotency_key"]})
    assert answer.status_code == 409 and "ask for a new quote" in answer.get_data(as_text=True)
    assert counts(app) == before
