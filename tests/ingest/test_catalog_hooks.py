"""Ingest answers the catalogue's hooks: an item's files go with it in the deletion's own unit of
work, and only once that commits; publishing asks ingest what is missing."""
from __future__ import annotations

import pytest

from exchange.catalog import lifecycle, transactions
from exchange.core.db import unit_of_work
from exchange.core.problems import Conflict
from exchange.policy import SYSTEM
from tests.ingest.conftest import bucket_listing, write_geotiff


def test_a_deletion_undone_by_its_caller_keeps_the_files_and_a_committed_one_removes_them(provider, tmp_path):
    pid = provider.new_product("kept-1")
    assert provider.upload(pid, "data", write_geotiff(tmp_path / "kept.tif")).status_code == 202
    app = provider.live.app
    stored = bucket_listing(app)
    assert stored[app.config["S3_PRODUCTS_BUCKET"]] == ["acme-scenes/kept-1/data/kept.tif"]
    with app.app_context():
        with pytest.raises(RuntimeError):
            with unit_of_work():  # a caller whose later step fails: the deletion joined its transaction
                transactions.delete_item(SYSTEM, "acme-scenes", "kept-1")
                raise RuntimeError("a later step of the caller failed")
    assert [a["state"] for a in provider.status(pid)["assets"]] == ["ready"]
    assert bucket_listing(app) == stored
    with app.app_context():
        transactions.delete_item(SYSTEM, "acme-scenes", "kept-1")
    assert provider.api("GET", f"/api/v1/products/{pid}").status_code == 404
    assert all(objects == [] for objects in bucket_listing(app).values())


def test_publishing_asks_ingest_what_is_missing(provider):
    pid = provider.new_product("waiting-1", assets={"data": {"href": "waiting.tif", "roles": ["data"]}})
    with provider.live.app.app_context():
        with pytest.raises(Conflict) as refused:
            lifecycle.publish(SYSTEM, pid)
    assert refused.value.extra["missing"] == ["data: not uploaded"]
