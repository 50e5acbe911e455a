"""Quotes over HTTP: a priced line per product (geodesic km², GB, scenes, discounts), a reason for each
line that cannot be licensed while the rest stands, 422 when none can, and only one's own quotes."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
from pyproj import Geod
from shapely.geometry import shape

from exchange.core.db import utcnow
from tests.trading.orders_world import QUARTER, SQUARE, build_world

pytestmark = pytest.mark.committed  # bearer tokens are checked on a connection of their own


@pytest.fixture
def world(app):
    return build_world(app)


def geodesic_km2(geojson: dict) -> float:
    return abs(Geod(ellps="WGS84").geometry_area_perimeter(shape(geojson))[0]) / 1e6


def test_a_per_scene_quote_has_its_line_totals_and_expiry(world):
    offer = world.offer(world.products[0], price=12_000)
    response = world.post("/api/v1/quotes", {"items": [{"product_id": world.products[0], "offer_id": str(offer)}]})
    assert response.status_code == 201, response.text
    quote = response.json
    assert response.headers["Location"].endswith(f"/api/v1/quotes/{quote['id']}")
    assert quote["lines"] == [{"product_id": world.products[0], "offer_id": str(offer),
                               "license": "orders-test-commercial@1", "quantity": 1.0, "unit": "scene",
                               "unit_price": 12_000, "discount_percent": 0, "total": 12_000, "currency": "CNY",
                               "aoi": None, "reason": None}]
    assert quote["totals"] == {"CNY": 12_000} and quote["licenses"] == ["orders-test-commercial@1"]
    expires = dt.datetime.fromisoformat(quote["expires_at"])
    assert abs(expires - (utcnow() + dt.timedelta(hours=24))) < dt.timedelta(minutes=1)
    assert world.get(f"/api/v1/quotes/{quote['id']}").json == quote


def test_per_km2_bills_the_geodesic_area_of_aoi_and_footprint_raised_to_the_minimum(world):
    offer = world.offer(world.products[0], model="per_km2", price=150, min_km2=25.0)
    whole, quarter, tiny = (world.quote(line)["lines"][0] for line in (
        {"product_id": world.products[0], "offer_id": str(offer)},
        {"product_id": world.products[0], "offer_id": str(offer), "aoi": QUARTER},
        {"product_id": world.products[0], "offer_id": str(offer),
         "aoi": {"type": "Polygon", "coordinates": [[[0, 0], [0.01, 0], [0.01, 0.01], [0, 0.01], [0, 0]]]}}))
    assert whole["unit"] == "km2" and whole["quantity"] == pytest.approx(geodesic_km2(SQUARE), abs=0.01)
    assert 12_300 < whole["quantity"] < 12_320  # not 1 "square degree", not a planar projection's figure
    assert quarter["quantity"] == pytest.approx(geodesic_km2(QUARTER), abs=0.01)
    assert tiny["quantity"] == 25.0  # about 1.2 km², billed as the offer's minimum
    for line in (whole, quarter, tiny):
        assert round(line["quantity"] * 100) == pytest.approx(line["quantity"] * 100)  # whole hundredths
        assert line["total"] == round(line["quantity"] * 150)


def test_the_aoi_is_cut_to_the_footprint(world):
    offer = world.offer(world.products[0], model="per_km2", price=100)
    half_outside = {"type": "Polygon", "coordinates": [[[0.5, 0], [1.5, 0], [1.5, 1], [0.5, 1], [0.5, 0]]]}
    (line,) = world.quote({"product_id": world.products[0], "offer_id": str(offer), "aoi": half_outside})["lines"]
    assert line["quantity"] == pytest.approx(geodesic_km2(SQUARE) / 2, rel=1e-3)


def test_per_gb_free_and_the_buyers_discount(world):
    gb = world.offer(world.products[0], model="per_gb", price=2_000, gb=2.5, discounts={"research": 30})
    free = world.offer(world.products[1], model="free", price=0)
    for who, discount, total in (("buyer", 0, 5_000), ("lab", 30, 3_500)):
        quote = world.quote({"product_id": world.products[0], "offer_id": str(gb)},
                            {"product_id": world.products[1], "offer_id": str(free)}, who=who)
        paid, gratis = quote["lines"]
        assert (paid["quantity"], paid["unit"], paid["discount_percent"], paid["total"]) == (2.5, "GB", discount, total)
        assert (gratis["unit_price"], gratis["total"], gratis["reason"]) == (0, 0, None)
        assert quote["totals"] == {"CNY": total}


def test_discounts_round_half_up_to_the_minor_unit(world):
    offer = world.offer(world.products[0], price=1_005, discounts={"research": 50})
    (line,) = world.quote({"product_id": world.products[0], "offer_id": str(offer)}, who="lab")["lines"]
    assert line["total"] == 503  # 502.5 rounded half up


def test_a_collection_offer_sells_products_without_their_own(world):
    collection_offer = world.offer(collection="orders-test", price=700)
    own = world.offer(world.products[1], price=900)
    quote = world.post("/api/v1/quotes", {"items": [
        {"product_id": world.products[0], "offer_id": str(collection_offer)},
        {"product_id": world.products[1], "offer_id": str(collection_offer)},
        {"product_id": world.products[1], "offer_id": str(own)}]}).json
    reasons = [line["reason"] for line in quote["lines"]]
    assert reasons == [None, "the offer is not for this product", None]
    assert quote["totals"] == {"CNY": 1_600}


def test_each_line_that_cannot_be_licensed_says_why_and_the_rest_stands(world):
    good = world.offer(world.products[0])
    withdrawn = world.offer(world.products[1])
    world.change_offer(withdrawn, withdrawn_at=utcnow())
    expired = world.offer(world.products[2], valid_from=utcnow() - dt.timedelta(days=2),
                          valid_until=utcnow() - dt.timedelta(days=1))
    far = {"type": "Polygon", "coordinates": [[[50, 50], [51, 50], [51, 51], [50, 51], [50, 50]]]}
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    huge = {"type": "Polygon", "coordinates": [[[i / 20_000, (i % 2) / 10] for i in range(10_001)] + [[0, 0]]]}
    asked = [
        {"product_id": world.products[0], "offer_id": str(good)},
        {"product_id": 999_999, "offer_id": str(good)},
        {"product_id": world.products[1], "offer_id": str(withdrawn)},
        {"product_id": world.products[2], "offer_id": str(expired)},
        {"product_id": world.products[1], "offer_id": str(good)},
        {"product_id": world.products[0], "offer_id": str(uuid.uuid4())},
        {"product_id": world.products[0], "offer_id": str(good), "aoi": {"type": "Point", "coordinates": [0, 0]}},
        {"product_id": world.products[0], "offer_id": str(good), "aoi": bowtie},
        {"product_id": world.products[0], "offer_id": str(good), "aoi": far},
        {"product_id": world.products[0], "offer_id": str(good), "aoi": huge},
        {"product_id": world.products[0], "offer_id": str(good), "aoi": {"type": "Polygon", "coordinates": "x"}},
    ]
    response = world.post("/api/v1/quotes", {"items": asked})
    assert response.status_code == 201, response.text
    reasons = [line["reason"] for line in response.json["lines"]]
    assert reasons[0] is None and response.json["totals"] == {"CNY": 12_000}
    assert reasons[1] == "no product 999999 that you may see"
    assert reasons[2] == "the offer has been withdrawn"
    assert reasons[3] == "the offer has expired"
    assert reasons[4] == "the offer is not for this product"
    assert reasons[5] == "no such offer"
    assert reasons[6] == "aoi must be a GeoJSON Polygon or MultiPolygon"
    assert reasons[7].startswith("aoi is self-intersecting")
    assert reasons[8] == "the AOI does not overlap the product's footprint"
    assert reasons[9] == "aoi has 10002 vertices; at most 10000 are accepted"
    assert reasons[10].startswith("aoi is not a valid GeoJSON geometry")
    invalid = [line for line in response.json["lines"] if line["reason"]]
    assert all(line["total"] is None and line["discount_percent"] is None for line in invalid)


def test_a_provider_cannot_quote_its_own_product_and_a_hidden_one_reads_as_absent(world):
    offer = world.offer(world.products[0])
    before = world.counts()
    response = world.post("/api/v1/quotes", {"items": [{"product_id": world.products[0], "offer_id": str(offer)}]},
                          who="provider")
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json["errors"] == [{"field": "items.0", "message": "this is your own organisation's product"}]
    assert world.counts() == before


def test_a_quote_with_no_valid_line_is_422_naming_every_line_and_writes_nothing(world):
    offer = world.offer(world.products[0])
    before = world.counts()
    response = world.post("/api/v1/quotes", {"items": [
        {"product_id": 424242, "offer_id": str(offer)},
        {"product_id": world.products[0], "offer_id": str(offer), "aoi": {"type": "LineString",
                                                                         "coordinates": [[0, 0], [1, 1]]}}]})
    assert response.status_code == 422
    assert response.json["errors"] == [
        {"field": "items.0", "message": "no product 424242 that you may see"},
        {"field": "items.1", "message": "aoi must be a GeoJSON Polygon or MultiPolygon"}]
    assert world.counts() == before


@pytest.mark.parametrize("body, fields", [
    ({}, {"items"}),
    ({"items": []}, {"items"}),
    ({"items": [{"product_id": "one", "offer_id": "nope", "aoi": 3}]},
     {"items.0.product_id", "items.0.offer_id", "items.0.aoi"}),
])
def test_a_malformed_request_names_every_bad_field(world, body, fields):
    response = world.post("/api/v1/quotes", body)
    assert response.status_code == 422 and {e["field"] for e in response.json["errors"]} == fields


def test_too_many_lines_are_refused(world):
    offer = world.offer(world.products[0])
    response = world.post("/api/v1/quotes", {"items": [{"product_id": world.products[0], "offer_id": str(offer)}]
                                             * 101})
    assert response.status_code == 422 and response.json["errors"][0]["field"] == "items"


def test_only_the_own_organisations_quotes_are_readable(world):
    offer = world.offer(world.products[0])
    quote = world.quote({"product_id": world.products[0], "offer_id": str(offer)})
    assert world.get(f"/api/v1/quotes/{quote['id']}", who="lab").status_code == 404
    assert world.get(f"/api/v1/quotes/{uuid.uuid4()}").status_code == 404
    assert world.http.get(f"/api/v1/quotes/{quote['id']}").status_code == 401
    refused = world.http.post("/api/v1/quotes", json={"items": []}, headers={
        "Authorization": world.headers()["Authorization"].replace("Bearer ", "Bearer x")})
    assert refused.status_code == 401


def test_an_aoi_that_only_touches_the_footprint_is_no_overlap(world):
    """A shared edge or corner intersects the footprint but covers none of it: not a line of 0 km²."""
    offer = world.offer(world.products[0], model="per_km2", price=100, min_km2=0.0)
    edge = {"type": "Polygon", "coordinates": [[[1, 0], [2, 0], [2, 1], [1, 1], [1, 0]]]}
    corner = {"type": "Polygon", "coordinates": [[[1, 1], [2, 1], [2, 2], [1, 2], [1, 1]]]}
    other = world.offer(world.products[1])
    quote = world.quote({"product_id": world.products[0], "offer_id": str(offer), "aoi": edge},
                        {"product_id": world.products[0], "offer_id": str(offer), "aoi": corner},
                        {"product_id": world.products[1], "offer_id": str(other)})
    on_edge, on_corner, _ = quote["lines"]
    assert on_edge["reason"] == on_corner["reason"] == "the AOI does not overlap the product's footprint"
    assert on_edge["total"] is None and on_corner["total"] is None


def test_the_same_product_twice_is_charged_once(world):
    offer = world.offer(world.products[0], price=12_000)
    bad_aoi = {"type": "Point", "coordinates": [0, 0]}
    quote = world.quote({"product_id": world.products[0], "offer_id": str(offer), "aoi": bad_aoi},
                        {"product_id": world.products[0], "offer_id": str(offer)},
                        {"product_id": world.products[0], "offer_id": str(offer), "aoi": QUARTER})
    reasons = [line["reason"] for line in quote["lines"]]
    assert reasons == ["aoi must be a GeoJSON Polygon or MultiPolygon", None, "this product is already in the quote"]
    assert quote["totals"] == {"CNY": 12_000} and quote["lines"][2]["total"] is None


def test_a_line_over_the_largest_total_says_so_and_writes_nothing(world):
    """Offers written before prices were bounded could still multiply past what a ledger should hold."""
    offer = world.offer(world.products[0], model="per_gb", price=10**14, gb=1e6)
    before = world.counts()
    response = world.post("/api/v1/quotes", {"items": [{"product_id": world.products[0], "offer_id": str(offer)}]})
    assert response.status_code == 422, response.text
    assert response.json["errors"] == [{"field": "items.0", "message": "the line's total 100000000000000000000 "
                                        "exceeds the maximum of 1000000000000000 minor units"}]
    assert world.counts() == before


def test_a_product_id_no_database_holds_is_a_422_naming_it(world):
    offer = world.offer(world.products[0])
    response = world.post("/api/v1/quotes", {"items": [{"product_id": 2**70, "offer_id": str(offer)}]})
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in response.json["errors"]] == ["items.0.product_id"]
