"""The upload service called directly with an identity: a provider opens an upload on its own product
(presigned by the real S3 server's credentials); others and tokens without the scope are refused."""
from __future__ import annotations

import pytest
import requests

from exchange.catalog.transactions import create_collection, create_item
from exchange.core.problems import Forbidden, NotFound
from exchange.ingest import service
from storage.objectstore import get_store
from tests.conftest import add_user, identity_for
from tests.ingest.conftest import item_doc

SCOPES = "catalog:read catalog:write uploads:write"
BODY = {"filename": "scene.tif", "size": 11, "sha256": "0" * 64, "media_type": "image/tiff; application=geotiff",
        "roles": ["data"]}


def _product(email: str, org: str, collection: str) -> tuple:
    provider = identity_for(add_user(email, ("provider",), org, "provider"), SCOPES)
    create_collection(provider, {"type": "Collection", "id": collection, "description": "d", "license": "proprietary"})
    return provider, create_item(provider, collection, item_doc("scene-1")).key


def test_a_provider_opens_an_upload_on_its_own_product(app):
    with app.app_context():
        provider, product_id = _product("up@svc.example", "Upload Sat", "up-scenes")
        opened = service.start_upload(provider, product_id, "data", BODY)
        assert opened["state"] == "open" and not opened["multipart"] and opened["product_id"] == product_id
        assert service.get_upload(provider, opened["id"])["id"] == opened["id"]
        assert requests.put(opened["url"], data=b"eleven byte", timeout=10).status_code == 200  # S3 takes it
        store = get_store()
        store.client.remove_object(store.products_bucket, opened["asset"].object_key)  # the buckets are shared


def test_another_organisation_and_a_token_without_the_scope_are_refused(app):
    with app.app_context():
        owner, product_id = _product("own@svc.example", "Owner Sat", "own-scenes")
        other = identity_for(add_user("other@svc.example", ("provider",), "Other Sat", "provider"), SCOPES)
        with pytest.raises(NotFound):  # another organisation's draft reads as absent
            service.start_upload(other, product_id, "data", BODY)
        owner_without_scope = identity_for(add_user("own2@svc.example", ("provider",), "Owner Sat", "provider"),
                                          "catalog:read catalog:write")
        with pytest.raises(Forbidden):
            service.start_upload(owner_without_scope, product_id, "data", BODY)
