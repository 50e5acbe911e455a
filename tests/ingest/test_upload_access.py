"""Who may upload what: only a provider of the owning organisation, with the uploads:write scope."""
from __future__ import annotations

from tests.ingest.conftest import GEOTIFF, bucket_listing, make_provider, write_geotiff

BODY = {"filename": "x.tif", "size": 1000, "sha256": "a" * 64, "media_type": GEOTIFF}


def _token(live, email: str, roles: tuple, scopes: str, org: str, kind: str) -> str:
    live.user(email, roles=roles, org=org, kind=kind)
    client_id, _ = live.client(email, scopes)
    return live.minted_token(client_id)


def test_another_organisation_gets_no_upload_url_and_cannot_touch_uploads(provider, upload_live, tmp_path):
    rival = make_provider(upload_live, "rival@other.example", "Other Imaging", "other-scenes")
    draft = provider.new_product("mine-1")
    response = rival.api("POST", f"/api/v1/products/{draft}/assets/data/uploads", json=BODY)
    assert response.status_code == 404  # a draft of another organisation is not even visible
    assert "url" not in response.json() and "parts" not in response.json()

    published = provider.new_product("mine-2")
    assert provider.api("POST", f"/api/v1/products/{published}/publish").status_code == 200
    response = rival.api("POST", f"/api/v1/products/{published}/assets/data/uploads", json=BODY)
    assert response.status_code == 403 and response.json()["rule"] == "ownership"
    assert rival.api("GET", f"/api/v1/products/{published}").status_code == 403

    path = write_geotiff(tmp_path / "mine.tif")
    upload = provider.start(draft, "data", path).json()
    for method, suffix, body in (("GET", "", None), ("POST", "/parts", {"part_numbers": [1]}),
                                 ("POST", "/complete", None), ("DELETE", "", None)):
        assert rival.api(method, f"/api/v1/uploads/{upload['id']}{suffix}", json=body).status_code == 404
    assert rival.api("GET", f"/api/v1/products/{draft}/uploads").status_code == 404
    assert provider.api("GET", f"/api/v1/uploads/{upload['id']}").json()["state"] == "open"
    assert bucket_listing(upload_live.app)["open-multipart"] == []  # nothing was started for the rival


def test_buyers_admins_and_anonymous_callers_cannot_upload(provider, upload_live):
    pid = provider.new_product("guarded-1")
    buyer = _token(upload_live, "buyer@shop.example", ("buyer",), "catalog:read orders:read", "Shop", "buyer")
    response = upload_live.api("POST", f"/api/v1/products/{pid}/assets/data/uploads", buyer, json=BODY)
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]

    admin = _token(upload_live, "admin@sdx.example", ("admin",), "catalog:read uploads:write admin:accounts",
                   "Platform", "platform")
    response = upload_live.api("POST", f"/api/v1/products/{pid}/assets/data/uploads", admin, json=BODY)
    assert response.status_code == 403 and response.json()["rule"] == "role-provider"

    anonymous = upload_live.api("POST", f"/api/v1/products/{pid}/assets/data/uploads", json=BODY)
    assert anonymous.status_code == 401
    assert upload_live.api("GET", f"/api/v1/products/{pid}").status_code == 401
    assert provider.status(pid)["assets"] == []


def test_a_provider_token_without_the_upload_scope_is_refused(provider, upload_live):
    pid = provider.new_product("scoped-1")
    client_id, _ = upload_live.client("uploader@acme.example", "catalog:read catalog:write")
    token = upload_live.minted_token(client_id)
    response = upload_live.api("POST", f"/api/v1/products/{pid}/assets/data/uploads", token, json=BODY)
    assert response.status_code == 403 and "uploads:write" in response.headers["WWW-Authenticate"]


def test_a_started_upload_says_where_it_is(provider, upload_live, tmp_path):
    draft = provider.new_product("located-1")
    started = provider.start(draft, "data", write_geotiff(tmp_path / "located.tif"))
    assert started.status_code == 201, started.text
    assert started.headers["Location"] == f"{upload_live.url}/api/v1/uploads/{started.json()['id']}"
    shown = provider.api("GET", started.headers["Location"].removeprefix(upload_live.url))
    assert shown.status_code == 200 and shown.json()["id"] == started.json()["id"]
