"""Demo catalogue for the embedded default: the sample STAC sets, owned by the demo provider."""
from __future__ import annotations

from pathlib import Path

from flask import current_app
from sqlalchemy import select

from exchange.policy import SYSTEM
from auth.service import find_org
from exchange.catalog.importer import import_path
from exchange.catalog.models import Collection
from exchange.core.db import db

#: (collection file, items file, collection id) under the shared sample folder.
SAMPLE_SETS = [("naip/collection.json", "naip/items.ndjson", "naip"),
               ("sentinel-2-l2a/collection.json", "sentinel-2-l2a/items.json", "sentinel-s2-l2a-cogs-test")]
BESIDE_THE_PROJECT = Path(__file__).resolve().parents[3] / "shared" / "data" / "stac"


def seed_demo_catalog(provider: str = "Demo Provider") -> list[str]:
    """Import the sample sets into an empty catalogue; return lines to show the user."""
    if db.session.scalar(select(Collection.id).limit(1)) is not None:
        return []
    samples = Path(current_app.config["DEMO_STAC_DIR"] or BESIDE_THE_PROJECT)
    if not samples.exists():
        return [f"no sample STAC data at {samples}; the catalogue starts empty"]
    org = find_org(provider)
    lines = []
    for collection_file, items_file, collection_id in SAMPLE_SETS:
        import_path(SYSTEM, samples / collection_file, collection_id=collection_id, provider_org_id=org.id)
        report = import_path(SYSTEM, samples / items_file, collection_id=collection_id, provider_org_id=org.id)
        lines.append(f"demo catalogue: {report.written} items in {collection_id!r}")
    return lines
