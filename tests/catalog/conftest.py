"""Catalog fixtures: the real sample STAC sets loaded through the importer, and their brute-force oracle."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import shapely
from shapely.geometry import shape

from auth import service
from exchange.policy import SYSTEM
from exchange.catalog.importer import import_path
from exchange.catalog.stac import parse_rfc3339
from tests.conftest import project_root, service_missing

#: The sample STAC sets: beside the project (../shared/data/stac) unless SDX_TEST_SAMPLE_STAC says where.
SAMPLES = Path(os.environ.get("SDX_TEST_SAMPLE_STAC") or project_root().parent / "shared" / "data" / "stac")
NAIP, S2 = "naip", "sentinel-s2-l2a-cogs-test"


def sample_items() -> list[dict]:
    naip = [json.loads(line) for line in (SAMPLES / "naip" / "items.ndjson").read_text().splitlines() if line]
    s2 = json.loads((SAMPLES / "sentinel-2-l2a" / "items.json").read_text())["features"]
    for item in s2:
        item["collection"] = S2
    return naip + s2


def load_samples(app, provider: str = "Open Data") -> None:
    """The samples, written by this process (``workers=1``) so that a rolled-back test holds them in its
    transaction; the forked writers of PostgreSQL have tests of their own (test_parallel_import.py)."""
    with app.app_context():
        if service.find_org(provider) is None:
            service.create_org(SYSTEM, {"name": provider, "kind": "provider"})
        org_id = service.find_org(provider).id
        for folder, items_file, collection in (("naip", "items.ndjson", NAIP), ("sentinel-2-l2a", "items.json", S2)):
            import_path(SYSTEM, SAMPLES / folder / "collection.json", collection_id=None, provider_org_id=org_id)
            report = import_path(SYSTEM, SAMPLES / folder / items_file, collection_id=collection,
                                 provider_org_id=org_id, workers=1)
            assert not report.failures, report.failures


def token_for(live, email: str, org: str, roles=("provider",), scopes="catalog:read catalog:write") -> str:
    live.user(email, roles=roles, kind="provider" if "provider" in roles else "buyer", org=org)
    client_id, _ = live.client(email, scopes)
    return live.minted_token(client_id)


@pytest.fixture
def alice(live) -> str:
    """A provider's token, with its organisation's collection ``alice``."""
    token = token_for(live, "alice@a.example", "Alice Sat")
    assert live.api("POST", "/stac/collections", token, json={"id": "alice", "description": "A"}).status_code == 201
    return token


@pytest.fixture
def samples(app):
    if not SAMPLES.exists():
        service_missing(f"sample STAC data not found at {SAMPLES}")
    load_samples(app)
    return app


class Oracle:
    """Brute force over the sample files with Shapely: what every search must return."""

    def __init__(self) -> None:
        self.items = []
        for item in sample_items():
            props = item["properties"]
            start = props.get("start_datetime") or props["datetime"]
            end = props.get("end_datetime") or props["datetime"]
            self.items.append((item["id"], item["collection"], shape(item["geometry"]),
                               parse_rfc3339(start), parse_rfc3339(end), props))

    def ids(self, *, geometry=None, start=None, end=None, collections=None) -> set[str]:
        return {item_id for item_id, collection, footprint, s, e, _ in self.items
                if (geometry is None or shapely.intersects(footprint, geometry))
                and (end is None or s <= end) and (start is None or e >= start)
                and (collections is None or collection in collections)}


@pytest.fixture(scope="session")
def oracle() -> Oracle:
    if not SAMPLES.exists():
        service_missing(f"sample STAC data not found at {SAMPLES}")
    return Oracle()


def all_ids(client, path: str, **params) -> list[str]:
    """Every id a GET search returns, following next links."""
    ids: list[str] = []
    url = path + "?" + "&".join(f"{k}={v}" for k, v in params.items())
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.json
        ids += [f["id"] for f in response.json["features"]]
        following = [link["href"] for link in response.json["links"] if link["rel"] == "next"]
        url = following[0].split("://", 1)[1].split("/", 1)[1] if following else None
        url = "/" + url if url else None
    return ids

