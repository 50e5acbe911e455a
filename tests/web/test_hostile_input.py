"""Numbers a hostile or careless visitor types — superscript digits, 5,000 digits, ids beyond the
database's BIGINT, NaN, 1e30 — are named as bad fields or read as absent: never a 500."""
from __future__ import annotations

import re

import pytest

from tests.web.test_pages import signed_in

HUGE = "9" * 25
LONG = "9" * 5000


def csrf_of(client, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


@pytest.fixture
def provider(app):
    return signed_in(app, app.test_client(), "hostile@provider.example", ("provider",), "provider")


@pytest.mark.parametrize("path", [
    "/search?limit=²", f"/search?limit={LONG}", "/search?max_cloud=nan", "/search?max_gsd=inf",
    f"/products/{HUGE}", f"/provider/products?after={HUGE}", f"/provider/sales?after={HUGE}",
    f"/provider/upload?after={HUGE}", f"/provider/upload?product={HUGE}", "/provider/upload?product=²",
    f"/provider/upload/products/{HUGE}/status",
])
def test_odd_numbers_in_addresses_are_no_server_error(provider, path):
    answer = provider.get(path)
    assert answer.status_code in (200, 404, 422), (path, answer.status_code)


def test_nan_cloud_cover_is_named(provider):
    answer = provider.get("/search?max_cloud=nan")
    assert answer.status_code == 422 and 'aria-invalid="true"' in answer.get_data(as_text=True)


@pytest.mark.parametrize("fields", [
    {"price": "1e30"}, {"price": "9" * 40}, {"product_id": "²"}, {"product_id": LONG}, {"discount_research": "²"},
])
def test_odd_numbers_in_the_offer_form_are_named_fields(provider, fields):
    form = {"target": "product", "product_id": "1", "model": "per_scene", "price": "10", "currency": "CNY",
            "license": "open-cc-by-4.0@1", **fields, "csrf_token": csrf_of(provider, "/provider/offers")}
    answer = provider.post("/provider/offers", data=form)
    assert answer.status_code == 422, answer.status_code
    page = answer.get_data(as_text=True)
    assert all(f'id="e-{name}"' in page for name in fields), page[:2000]


@pytest.mark.parametrize("product_id", ["²", LONG, HUGE])
def test_odd_product_ids_in_an_access_request_are_named(provider, product_id):
    form = {"target": "product", "product_id": product_id, "purpose": "research", "message": "",
            "csrf_token": csrf_of(provider, "/access-requests")}
    answer = provider.post("/access-requests", data=form)
    assert answer.status_code == 422, answer.status_code
    assert "product_id" in answer.get_data(as_text=True)
