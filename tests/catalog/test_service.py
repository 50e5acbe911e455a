"""The catalogue service called directly with an identity: what a provider writes, who sees it."""
from __future__ import annotations

import pytest

from exchange.catalog import service
from exchange.catalog.models import ItemStatus
from exchange.catalog.transactions import create_collection, create_item
from exchange.core.problems import Forbidden, NotFound
from tests.catalog.test_bulk import item
from tests.conftest import add_user, identity_for

WRITE = "catalog:read catalog:write"


def test_a_providers_draft_is_its_own_until_published(app):
    with app.app_context():
        provider = identity_for(add_user("p@cat.example", ("provider",), "Draft Sat", "provider"), WRITE)
        buyer = identity_for(add_user("b@cat.example"), "catalog:read")
        create_collection(provider, {"type": "Collection", "id": "drafts", "description": "d", "license": "CC0-1.0"})
        draft = create_item(provider, "drafts", item("scene-1", 10.0, 5.0))
        assert draft.status is ItemStatus.draft
        assert service.get_item(provider, "drafts", "scene-1").key == draft.key
        with pytest.raises(NotFound):  # hidden reads as absent
            service.get_item(buyer, "drafts", "scene-1")
        assert [c.id for c in service.list_collections(provider)] == ["drafts"]
        assert service.list_collections(buyer) == []


def test_a_buyer_may_not_create_a_collection_and_nothing_is_written(app):
    with app.app_context():
        buyer = identity_for(add_user("b2@cat.example"), WRITE)
        with pytest.raises(Forbidden):
            create_collection(buyer, {"type": "Collection", "id": "nope", "description": "d", "license": "CC0-1.0"})
        admin = identity_for(add_user("root@cat.example", ("admin",), "Platform", "platform"), "catalog:read")
        assert service.find_collection(admin, "nope") is None


def test_a_provider_token_without_catalog_write_is_refused(app):
    with app.app_context():
        owner = add_user("p2@cat.example", ("provider",), "Scoped Sat", "provider")
        create_collection(identity_for(owner, WRITE),
                          {"type": "Collection", "id": "scoped", "description": "d", "license": "CC0-1.0"})
        with pytest.raises(Forbidden):
            create_item(identity_for(owner, "catalog:read"), "scoped", item("scene-2", 10.0, 5.0))
