"""Bulk import of STAC metadata: a collection file, a FeatureCollection or NDJSON.

Items are validated one by one and written in batches; a bad item is reported with its errors (a
JSON pointer and a message each) and the import carries on. An item whose ``collection`` differs
from the target collection (the Sentinel-2 sample's ``sentinel-s2-l2a-cogs`` vs its collection
file's ``…-test``) is mapped to the target and the mismatch reported once, not refused.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from auth.policy import Identity
from exchange.catalog.models import Collection, ItemStatus
from exchange.catalog.batches import bulk_upsert
from exchange.catalog.transactions import create_collection
from exchange.core.db import db

BATCH_SIZE = 500


class ImportFailed(ValueError):
    """The file as a whole cannot be imported (unreadable, not STAC, no collection to put items in)."""


@dataclass
class ImportReport:
    collection_id: str
    written: int = 0
    failures: list[tuple[str, list[dict]]] = field(default_factory=list)  # (item, [{"field", "message"}])
    notes: list[str] = field(default_factory=list)


def read_stac(path: Path) -> tuple[dict | None, Iterator[object]]:
    """(collection document or None, iterator over item documents) for any of the layouts."""
    if not path.is_file():
        raise ImportFailed(f"{path} is not a file")
    if path.suffix in (".ndjson", ".jsonl"):
        return None, _ndjson(path)
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # several JSON documents, one a line
            return None, _ndjson(path)
        raise ImportFailed(f"{path} is not JSON: {exc}") from None
    kind = doc.get("type") if isinstance(doc, dict) else None
    if kind == "FeatureCollection":
        return None, iter(doc.get("features") or [])
    if kind == "Collection":
        return doc, iter(())
    if kind == "Feature":
        return None, iter([doc])
    raise ImportFailed(f"{path} is not a STAC collection, FeatureCollection, item or NDJSON file")


def _ndjson(path: Path) -> Iterator[object]:
    with path.open() as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                yield {"__unreadable__": f"line {number}: {exc}"}


def import_path(identity: Identity, path: Path, *, collection_id: str | None, provider_org_id,
                status: ItemStatus = ItemStatus.published, repair: bool = False,
                progress: Callable[[int], None] = lambda n: None) -> ImportReport:
    collection_doc, items = read_stac(path)
    if collection_doc is not None:
        target = collection_id or collection_doc.get("id")
        if db.session.get(Collection, target) is not None:
            return ImportReport(target, notes=[f"collection {target!r} exists already; nothing to do"])
        if provider_org_id is None:
            raise ImportFailed("creating a collection needs an owning organisation (--provider ORG)")
        create_collection(identity, {**collection_doc, "id": target}, owner_org_id=provider_org_id)
        return ImportReport(target, notes=[f"collection {target!r} created"])
    report = ImportReport(collection_id or "")
    mismatched: set[str] = set()
    batch: list[object] = []
    position = 0

    def flush() -> None:
        nonlocal batch, position
        if not batch:
            return
        if not report.collection_id:
            first = next((d.get("collection") for d in batch if isinstance(d, dict) and d.get("collection")), None)
            if first is None or db.session.get(Collection, first) is None:
                raise ImportFailed("no target collection: pass --collection ID (an existing collection), "
                                   "or import the collection file first")
            report.collection_id = first
        result = bulk_upsert(identity, report.collection_id, batch, status=status, first_position=position,
                             repair=repair)
        report.written += result.written
        report.failures.extend(result.failures)
        position += len(batch)
        progress(len(batch))
        batch = []

    for doc in items:
        if isinstance(doc, dict) and "__unreadable__" in doc:
            unreadable = {"field": None, "message": doc["__unreadable__"]}
            report.failures.append((f"#{position + len(batch) + 1}", [unreadable]))
            continue
        stated = doc.get("collection") if isinstance(doc, dict) else None
        if report.collection_id and stated and stated != report.collection_id:
            mismatched.add(stated)
        batch.append(doc)
        if len(batch) >= BATCH_SIZE:
            flush()
    flush()
    for stated in sorted(mismatched):
        report.notes.append(f"items said collection {stated!r}; imported into {report.collection_id!r}")
    return report
