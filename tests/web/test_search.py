"""The home, map search and product pages through the Flask test client (both backends): what each
shows, as the visitor may see it; bad search input named by field; other organisations' drafts and
unknown ids as the same 404; provider text escaped."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from auth import service as accounts
from auth.policies import identity_of
from exchange.catalog.batches import bulk_write
from exchange.catalog.models import Item, ItemStatus
from exchange.catalog.transactions import create_collection
from exchange.core.db import db
from exchange.licensing import offers
from exchange.policy import SYSTEM
from exchange.sharing import service as sharing
from tests.conftest import add_user
from tests.web.test_pages import PASSWORD


def signed_in(app, client, email: str, roles: tuple[str, ...], kind: str, org: str | None = None):
    """A test client signed in through the sign-in form as a new user (of ``org``, when given)."""
    with app.app_context():
        add_user(email, roles=roles, kind=kind, org=org)
    form = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    answer = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return client

XSS = "<script>alert(1)</script>"


def item_doc(item_id: str, collection: str, west: float, *, title: str | None = None, day: int = 1,
             cloud: float = 10.0, gsd: float = 10.0) -> dict:
    props = {"datetime": f"2026-06-{day:02d}T10:00:00Z", "gsd": gsd, "eo:cloud_cover": cloud, "platform": "sat-1"}
    if title:
        props["title"] = title
    return {"type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": collection,
            "geometry": {"type": "Polygon", "coordinates": [[[west, 0], [west + 1, 0], [west + 1, 1], [west, 1],
                                                             [west, 0]]]},
            "bbox": [west, 0, west + 1, 1], "properties": props,
            "assets": {"data": {"href": "scene.tif", "type": "image/tiff", "roles": ["data"], "title": "Scene"}}}


def seed_catalogue() -> dict:
    """Two providers: "optical" (three published products, one with a script tag for a title, one
    with an offer; one draft) and "radar" (one published, one draft). Returns item id -> product id."""
    optical_org = add_user("p1@search.example", roles=("provider",), org="Optical Co", kind="provider").org_id
    radar_org = add_user("p2@search.example", roles=("provider",), org="Radar Co", kind="provider").org_id
    create_collection(SYSTEM, {"id": "optical", "title": "Optical scenes", "description": "d"}, owner_org_id=optical_org)
    create_collection(SYSTEM, {"id": "radar", "title": "Radar scenes", "description": "d"}, owner_org_id=radar_org)
    bulk_write(SYSTEM, "optical", [item_doc("opt-1", "optical", 10, title=XSS, day=3),
                                   item_doc("opt-2", "optical", 12, title="Harbour", day=2, cloud=60),
                                   item_doc("opt-3", "optical", 40, title="Desert", day=1, gsd=30)],
               method="insert", status=ItemStatus.published)
    bulk_write(SYSTEM, "optical", [item_doc("opt-draft", "optical", 14, title="Secret draft")], method="insert")
    bulk_write(SYSTEM, "radar", [item_doc("rad-1", "radar", 20, title="Radar one")], method="insert",
               status=ItemStatus.published)
    bulk_write(SYSTEM, "radar", [item_doc("rad-draft", "radar", 22, title="Radar draft")], method="insert")
    keys = {row.item_id: row.key for row in db.session.scalars(select(Item))}
    offers.create_offer(SYSTEM, {"product_id": keys["opt-1"], "license": "open-cc-by-4.0@1",
                                 "pricing": {"model": "per_scene", "price": 12345, "currency": "EUR"}})
    return keys


@pytest.fixture
def keys(app):
    with app.app_context():
        return seed_catalogue()


def text(answer) -> str:
    return answer.get_data(as_text=True)


def product_ids(page: str) -> list[int]:
    return [int(key) for key in re.findall(r'<li data-product-id="(\d+)"', page)]


# -- home --------------------------------------------------------------------------------------------
def test_home_lists_collections_with_counts_and_the_newest_products(client, keys):
    page = text(client.get("/"))
    assert re.search(r'href="/search\?collections=optical">Optical scenes</a>\s*</td>\s*<td[^>]*>3</td>', page)
    assert re.search(r'href="/search\?collections=radar">Radar scenes</a>\s*</td>\s*<td[^>]*>1</td>', page)
    assert f'href="/products/{keys["opt-2"]}"' in page and "Secret draft" not in page
    assert page.index("Harbour") < page.index("Desert")  # newest first
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and XSS not in page
    assert 'action="/search"' in page


def test_home_tells_a_visitor_where_the_demo_passwords_are_only_when_the_file_exists(app, client):
    assert "buyer@sdx.example" not in text(client.get("/"))
    path = app.config["SDX_VAR_DIR"] + "/demo-accounts.json"
    import os
    os.makedirs(app.config["SDX_VAR_DIR"], exist_ok=True)
    with open(path, "w") as handle:
        json.dump({"buyer@sdx.example": {"password": "s3cret-demo-pass"}}, handle)
    try:
        page = text(client.get("/"))
        assert "buyer@sdx.example" in page and "provider@sdx.example" in page and "admin@sdx.example" in page
        assert "demo-accounts.json" in page and "s3cret-demo-pass" not in page
        assert app.config["SDX_VAR_DIR"] not in page  # the server's directories are not the visitor's business
        signed = signed_in(app, app.test_client(), "home@buyer.example", ("buyer",), "buyer")
        assert "provider@sdx.example" not in text(signed.get("/"))  # only for visitors not signed in
    finally:
        os.remove(path)


# -- search ------------------------------------------------------------------------------------------
def test_search_without_parameters_lists_what_the_visitor_may_discover(client, keys):
    answer = client.get("/search")
    assert answer.status_code == 200
    page = text(answer)
    assert sorted(product_ids(page)) == sorted([keys["opt-1"], keys["opt-2"], keys["opt-3"], keys["rad-1"]])
    assert re.search(r'id="result-count"[^>]*>4 products found', page)
    assert '<ul id="results"' in page and '<button type="submit">Search</button>' in page
    assert f'<a class="result-link" href="/products/{keys["opt-2"]}">Harbour</a>' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and XSS not in page
    assert "123.45" in page and "12345" not in page  # money from minor units
    data = re.search(r'<script type="application/json" id="search-data">(.*?)</script>', page, re.S).group(1)
    features = json.loads(data)["features"]
    assert len(features) == 4 and "<script>" not in data  # tojson escapes < in the data block


@pytest.mark.parametrize("query", ["bbox=9.5,-1,13.5,2", "west=9.5&south=-1&east=13.5&north=2"])
def test_search_by_bbox_both_spellings(client, keys, query):
    page = text(client.get(f"/search?{query}"))
    assert sorted(product_ids(page)) == sorted([keys["opt-1"], keys["opt-2"]])
    assert 'value="9.5"' in page and 'value="13.5"' in page  # the form shows the bounds


def test_search_filters_collection_dates_cloud_gsd_and_polygon(client, keys):
    assert product_ids(text(client.get("/search?collections=radar"))) == [keys["rad-1"]]
    assert product_ids(text(client.get("/search?from=2026-06-02&to=2026-06-02"))) == [keys["opt-2"]]
    assert product_ids(text(client.get("/search?datetime=2026-06-03T00:00:00Z/.."))) == [keys["opt-1"]]
    assert keys["opt-2"] not in product_ids(text(client.get("/search?max_cloud=50")))
    assert keys["opt-3"] not in product_ids(text(client.get("/search?max_gsd=20")))
    polygon = json.dumps({"type": "Polygon", "coordinates": [[[39.5, 0.2], [41, 0.2], [40, 0.8], [39.5, 0.2]]]})
    assert product_ids(text(client.get("/search", query_string={"intersects": polygon}))) == [keys["opt-3"]]


def test_search_pages_with_the_search_tokens(client, keys):
    first = text(client.get("/search?limit=2"))
    # beside a next page, PostgreSQL may give the planner's estimate instead of counting (by design)
    assert len(product_ids(first)) == 2 and re.search(r'id="result-count"[^>]*>(4|About \d+) products found', first)
    next_url = re.search(r'<a href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = text(client.get(next_url))
    assert len(product_ids(second)) == 2 and not set(product_ids(first)) & set(product_ids(second))
    assert 'rel="prev"' in second and 'id="result-count"' in second


def test_bad_search_input_names_every_field_with_422(client, keys):
    answer = client.get("/search?west=abc&south=1&east=&north=&from=yesterday&max_cloud=x&max_gsd=y")
    assert answer.status_code == 422
    page = text(answer)
    for name in ("west", "east", "north", "from", "max_cloud", "max_gsd"):
        assert re.search(rf'id="e-{name}" class="field-error"', page), name
    assert product_ids(page) == []
    inverted = client.get("/search?west=10&south=5&east=11&north=1")
    assert inverted.status_code == 422 and 'id="e-west"' in text(inverted)
    assert client.get("/search?token=forged").status_code == 422


def test_search_page_sends_map_settings_without_inline_script(app, client, keys):
    page = text(client.get("/search"))
    assert 'data-basemap="/assets/basemap/land-110m.geojson"' in page and 'data-tiles=""' in page
    assert "<script>" not in page.replace(XSS, "")
    app.config.update(MAP_TILE_URL="https://tiles.example/{z}/{x}/{y}.png", MAP_TILE_ATTRIBUTION="© Tiles & Co")
    try:
        page = text(client.get("/search"))
        assert 'data-tiles="https://tiles.example/{z}/{x}/{y}.png"' in page and "© Tiles &amp; Co" in page
    finally:
        app.config.update(MAP_TILE_URL="", MAP_TILE_ATTRIBUTION="")
    assert client.get("/assets/basemap/land-110m.geojson").status_code == 200


# -- product page ------------------------------------------------------------------------------------
def test_product_page_shows_metadata_offers_licence_and_escapes_the_title(client, keys):
    answer = client.get(f"/products/{keys['opt-1']}")
    assert answer.status_code == 200
    page = text(answer)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and XSS not in page
    assert "optical" in page and "2026-06-03" in page and "sat-1" in page and "km²" in page
    assert "123.45" in page and "open-cc-by-4.0" in page and "version 1" in page
    assert "Creative Commons Attribution 4.0" in page
    assert "Sign in to buy" in page and "/cart/add" not in page
    assert 'id="product-data"' in page


def test_a_buyer_gets_add_to_cart_forms_and_its_standing(app, client, keys):
    buyer = signed_in(app, app.test_client(), "cart@buyer.example", ("buyer",), "buyer")
    page = text(buyer.get(f"/products/{keys['opt-1']}"))
    assert 'action="/cart/add"' in page and f'name="product_id" value="{keys["opt-1"]}"' in page
    assert 'name="offer_id"' in page and 'name="csrf_token"' in page and "Add to cart" in page
    assert "You may license this product" in page
    not_on_sale = text(buyer.get(f"/products/{keys['opt-2']}"))
    assert "This product is not on sale." in not_on_sale and "not on sale" in not_on_sale


def test_unknown_hidden_and_malformed_products_are_the_same_404(app, client, keys):
    outsider = signed_in(app, app.test_client(), "peek@buyer.example", ("buyer",), "buyer")
    other_provider = signed_in(app, app.test_client(), "peek@radar.example", ("provider",), "provider")
    for who in (client, outsider, other_provider):
        for path in (f"/products/{keys['opt-draft']}", "/products/999999", "/products/abc",
                     "/products/99999999999999999999", f"/products/{keys['opt-draft']}/thumbnail"):
            answer = who.get(path)
            assert answer.status_code == 404, path
            assert "Secret draft" not in text(answer)


def test_the_owner_sees_its_draft_product_and_others_do_not(app, keys):
    owner = signed_in(app, app.test_client(), "member@optical.example", ("provider",), "provider", org="Optical Co")
    assert "Secret draft" in text(owner.get(f"/products/{keys['opt-draft']}"))
    assert "Secret draft" in text(owner.get("/search"))
    assert "Radar draft" not in text(owner.get("/search")) and "Radar draft" not in text(owner.get("/"))


def test_a_product_held_for_approval_links_to_an_access_request(app, keys):
    with app.app_context():
        radar = identity_of(accounts.find_user("p2@search.example"))
        sharing.create_policy(radar, {"name": "Radar needs approval", "target": {"collections": ["radar"]},
                                      "actions": ["license", "download"], "effect": "require_approval"}, own=True)
    buyer = signed_in(app, app.test_client(), "asker@buyer.example", ("buyer",), "buyer")
    page = text(buyer.get(f"/products/{keys['rad-1']}"))
    assert "Approval required." in page and f'href="/access-requests?product_id={keys["rad-1"]}"' in page


def test_a_product_without_preview_answers_404_for_its_thumbnail(client, keys):
    assert client.get(f"/products/{keys['opt-2']}/thumbnail").status_code == 404


def test_search_filters_on_the_price_model_of_the_offers_on_sale(app, client, keys):
    with app.app_context():  # the whole radar collection for free; opt-2 its own offer per km²
        offers.create_offer(SYSTEM, {"collection_id": "radar", "license": "open-cc-by-4.0@1",
                                     "pricing": {"model": "free", "currency": "EUR"}})
        offers.create_offer(SYSTEM, {"product_id": keys["opt-2"], "license": "open-cc-by-4.0@1",
                                     "pricing": {"model": "per_km2", "price": 50, "currency": "EUR", "min_km2": 25}})
    assert product_ids(text(client.get("/search?price_model=per_scene"))) == [keys["opt-1"]]
    assert product_ids(text(client.get("/search?price_model=free"))) == [keys["rad-1"]]
    assert product_ids(text(client.get("/search?price_model=per_km2"))) == [keys["opt-2"]]
    assert product_ids(text(client.get("/search?price_model=per_gb"))) == []
    # filtered in the query, so paging and counts hold: the first page of one links to the other match
    # (a count beside a next page may be the planner's estimate on PostgreSQL; a page of all is exact)
    assert "2 products found" in text(client.get("/search?price_model=per_scene,free&limit=2"))
    first = text(client.get("/search?price_model=per_scene,free&limit=1"))
    following = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert sorted(product_ids(first) + product_ids(text(client.get(following)))) == sorted([keys["opt-1"], keys["rad-1"]])
    refused = client.get("/search?price_model=barter")
    assert refused.status_code == 422 and 'id="e-price_model"' in text(refused)


def test_the_stac_search_takes_the_same_price_model_filter(app, client, keys):
    assert [f["id"] for f in client.get("/stac/search?price_model=per_scene").json["features"]] == ["opt-1"]
    posted = client.post("/stac/search", json={"price_model": ["per_scene"]})
    assert [f["id"] for f in posted.json["features"]] == ["opt-1"]
    assert client.get("/stac/search?price_model=barter").status_code == 400


def test_previews_are_served_to_whoever_may_see_the_footprint(app, client, keys):
    from exchange.catalog import hooks
    with app.app_context():
        bulk_write(SYSTEM, "optical", [
            dict(item_doc("opt-pic", "optical", 16, title="Pictured", day=4), assets={  # as ingest records it
                "thumbnail": {"href": "thumb.png", "type": "image/png", "roles": ["thumbnail"], "sdx:source": "image"}}),
            dict(item_doc("opt-far", "optical", 16, title="Elsewhere", day=5), assets={  # another server's image
                "thumbnail": {"href": "https://images.example/far.png", "type": "image/png", "roles": ["thumbnail"]}})],
            method="insert", status=ItemStatus.published)
        pictured = db.session.scalar(select(Item.key).where(Item.item_id == "opt-pic"))
        elsewhere = db.session.scalar(select(Item.key).where(Item.item_id == "opt-far"))

    def preview(item):
        return b"\x89PNG fake" if item.item_id == "opt-pic" else None

    with hooks.item_preview.connected_to(preview):
        for page in (text(client.get("/")), text(client.get("/search"))):
            assert f'src="/products/{pictured}/thumbnail" alt="Preview of Pictured"' in page
            assert f"/products/{elsewhere}/thumbnail" not in page and "far.png" not in page  # no broken image
        answer = client.get(f"/products/{pictured}/thumbnail")
        assert answer.status_code == 200 and answer.mimetype == "image/png" and answer.data == b"\x89PNG fake"
        with app.app_context():  # the provider withholds footprints from everyone else
            optical = identity_of(accounts.find_user("p1@search.example"))
            sharing.create_policy(optical, {"name": "No footprints", "target": {"collections": ["optical"]},
                                            "actions": ["view_footprint"], "effect": "deny"}, own=True)
        buyer = signed_in(app, app.test_client(), "viewer@buyer.example", ("buyer",), "buyer")
        page = text(buyer.get("/search"))
        assert f"/products/{pictured}/thumbnail" not in page and "Footprint shown coarsened" in page
        assert buyer.get(f"/products/{pictured}/thumbnail").status_code == 403
        product = text(buyer.get(f"/products/{pictured}"))
        assert "The footprint is shown coarsened" in product and "km²" not in product.split("Offers")[0]


def test_a_page_shows_at_most_a_hundred_results_and_a_bad_limit_is_named(client, keys):
    assert client.get("/search?limit=5000").status_code == 200
    refused = client.get("/search?limit=0")
    assert refused.status_code == 422 and "limit must be at least 1" in text(refused)
