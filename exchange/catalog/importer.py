"""Bulk import of STAC metadata: a collection file or an array of collections (as exporters write
them, or ``{"collections": [...]}`` as GET /collections serves them), a FeatureCollection, an array
of items or NDJSON.

Items are validated one by one and written in batches, per collection; a bad item is reported with
its errors (a JSON pointer and a message each) and the import carries on.

Where items go: given a target (``--collection``), every item goes there, and an item naming
another collection (the Sentinel-2 sample's ``sentinel-s2-l2a-cogs`` vs its collection file's
``…-test``) is mapped to it and the mismatch reported once. Without one, each item goes to the
collection it names; when any names none, an unknown one or (given a provider) one of another
organisation, the import refuses before writing anything.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from exchange.policy import Identity
from exchange.catalog.batches import bulk_upsert
from exchange.catalog.models import Collection, ItemStatus
from exchange.catalog.parallel_import import WriterFailed, can_fork_writers, default_workers, parse_line, \
    write_in_parallel
from exchange.catalog.transactions import create_collection, validate_collection
from exchange.catalog.validation import error
from exchange.core.db import db, no_cyclic_gc
from exchange.core.problems import ValidationProblem

#: Items of one collection per unit of work (and COPY stream, on PostgreSQL).
BATCH_SIZE = 2000
#: Items held back while collections fill their batches; beyond it the fullest batch is written.
MAX_PENDING = 10 * BATCH_SIZE
#: Offending items named in a refusal (the rest are counted).
SHOWN = 10


class ImportFailed(ValueError):
    """The file as a whole cannot be imported (unreadable, not STAC, items with nowhere to go);
    ``errors`` (``{"field", "message"}`` each) say what stops it."""

    def __init__(self, message: str, errors: list[dict] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


@dataclass
class ImportReport:
    written_to: dict[str, int] = field(default_factory=dict)  # items written per collection, in file order
    failures: list[tuple[str, list[dict]]] = field(default_factory=list)  # (item, [{"field", "message"}])
    notes: list[str] = field(default_factory=list)
    collections: list[str] = field(default_factory=list)  # the collections a collection file held
    created: list[str] = field(default_factory=list)  # those of them created by this import

    @property
    def written(self) -> int:
        return sum(self.written_to.values())


@dataclass
class StacFile:
    collections: list            # collection documents
    items: Iterable[object]      # item documents; may be iterated more than once


@dataclass
class Unreadable:
    """An NDJSON line that is not JSON: reported as a failed item, not written."""

    message: str


class _Lines:
    """The documents of an NDJSON file, read afresh on each iteration (never all in memory)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self) -> Iterator[object]:
        return (doc for _, doc in self.lines())

    def lines(self) -> Iterator[tuple[str, object]]:
        """(line, its document or Unreadable) for each line that is not blank."""
        with self.path.open() as fh:
            for number, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        yield line, parse_line(line)
                    except json.JSONDecodeError as exc:
                        yield line, Unreadable(f"line {number}: {exc}")


def read_stac(path: Path) -> StacFile:
    """The collections and items of a file, in any of the layouts."""
    if not path.is_file():
        raise ImportFailed(f"{path} is not a file")
    if path.suffix in (".ndjson", ".jsonl"):
        return StacFile([], _Lines(path))
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # several JSON documents, one a line
            return StacFile([], _Lines(path))
        raise ImportFailed(f"{path} is not JSON: {exc}") from None
    except RecursionError:
        raise ImportFailed(f"{path} is nested too deeply to be STAC") from None
    if isinstance(doc, list):
        return _listed(doc, path, "")
    kind = doc.get("type") if isinstance(doc, dict) else None
    if kind == "FeatureCollection" and isinstance(doc.get("features", []), list):
        return StacFile([], doc.get("features") or [])
    if kind == "Collection":
        return StacFile([doc], [])
    if kind == "Feature":
        return StacFile([], [doc])
    if kind is None and isinstance(doc, dict) and isinstance(doc.get("collections"), list):
        return _listed(doc["collections"], path, "/collections")
    raise ImportFailed(f"{path} is not a STAC collection, an array of collections, a FeatureCollection, an item, "
                       "an array of items or NDJSON")


def _listed(docs: list, path: Path, pointer: str) -> StacFile:
    """An array of collections, or of items; a mix is refused (each kind is imported differently)."""
    collections = [n for n, d in enumerate(docs) if isinstance(d, dict) and d.get("type") == "Collection"]
    if len(collections) == len(docs):
        return StacFile(docs, [])
    if not collections and not pointer:
        return StacFile([], docs)
    others = [n for n in range(len(docs)) if n not in set(collections)]
    raise ImportFailed(f"{path} mixes collections and other documents; import collections and items as "
                       f"separate files", [error(f"{pointer}/{n}", "is not a STAC collection") for n in others[:SHOWN]])


def import_path(identity: Identity, path: Path, *, collection_id: str | None, provider_org_id,
                status: ItemStatus = ItemStatus.published, repair: bool = False, workers: int | None = None,
                progress: Callable[[int], None] = lambda n: None) -> ImportReport:
    """Import a file. NDJSON on PostgreSQL is written by ``workers`` processes (default: one per
    core; 1: this process alone), see parallel_import.py."""
    stac = read_stac(path)
    if stac.collections:
        return _create_collections(identity, stac.collections, collection_id, provider_org_id)
    workers = default_workers() if workers is None else workers
    with no_cyclic_gc():
        if workers > 1 and isinstance(stac.items, _Lines) and can_fork_writers():
            return _import_lines(identity, stac.items, collection_id, provider_org_id, workers=workers,
                                 status=status, repair=repair, progress=progress)
        return _import_items(identity, stac.items, collection_id, provider_org_id, status=status, repair=repair,
                             progress=progress)


def _create_collections(identity: Identity, docs: list, collection_id: str | None, provider_org_id) -> ImportReport:
    """Create the collections that do not exist yet (an existing one is left as it is, with a note).
    All are validated first: one invalid, and none is created."""
    if collection_id is not None:
        if len(docs) > 1:
            raise ImportFailed(f"--collection renames the collection of a collection file; this file holds "
                               f"{len(docs)} collections (import it without --collection)")
        docs = [{**docs[0], "id": collection_id}]
    report, errors, new = ImportReport(), [], []
    for number, doc in enumerate(docs):
        prefix = f"/{number}" if len(docs) > 1 else ""
        try:
            cid = validate_collection(doc)["id"]
        except ValidationProblem as problem:
            errors += [dict(e, field=prefix + e["field"]) for e in problem.errors]
            continue
        if cid in report.collections:
            errors.append(error(f"{prefix}/id", f"repeats the id of an earlier collection ({cid!r})"))
            continue
        report.collections.append(cid)
        if db.session.get(Collection, cid) is not None:
            report.notes.append(f"collection {cid!r} exists already; left as it is")
        else:
            new.append(doc)
    if errors:
        raise ValidationProblem("The collection file is invalid; no collection was created. See errors.",
                                errors=errors)
    if new and provider_org_id is None:
        raise ImportFailed("creating a collection needs an owning organisation (--provider ORG)")
    for doc in new:
        create_collection(identity, doc, owner_org_id=provider_org_id)
        report.created.append(doc["id"])
        report.notes.append(f"collection {doc['id']!r} created")
    return report


def _label(doc: object, position: int) -> str:
    item_id = doc.get("id") if isinstance(doc, dict) else None
    return item_id if isinstance(item_id, str) else f"#{position}"


def _named(doc: object) -> str | None:
    named = doc.get("collection") if isinstance(doc, dict) else None
    return named if isinstance(named, str) else None


def _destinations(items: Iterable[object], collection_id: str | None, provider_org_id) -> list[str]:
    """Where the items go, checked before anything is written: the collections, in the order the
    items first name them; else ImportFailed listing every obstacle.

    Without a target this is a first pass over the file that keeps only each item's collection.
    A whole NDJSON file is never held in memory, and one transaction for a million items would hold
    locks (and SQLite's journal) for the whole load and lose it all to one late error. The second
    read costs ~13 µs an item (json.loads of a 2.8 kB NAIP item) against ~500 µs to validate and
    write it: 2.6% of the import on either backend (bench/import_mixed.py, 20,000 items)."""
    named, nameless, nameless_count = Counter({} if collection_id is None else {collection_id: 0}), [], 0
    for position, doc in enumerate(items if collection_id is None else (), 1):
        if isinstance(doc, dict):  # anything else fails as an item, wherever it would go
            if _named(doc) is not None:
                named[_named(doc)] += 1
                continue
            nameless_count += 1
            if len(nameless) < SHOWN:
                nameless.append(_label(doc, position))
    owners = dict(db.session.execute(select(Collection.id, Collection.owner_org_id)
                                     .where(Collection.id.in_(list(named)))).all()) if named else {}
    obstacles = []
    if nameless:
        shown = ", ".join(nameless) + (", …" if nameless_count > len(nameless) else "")
        obstacles.append(error(None, f"{nameless_count} items name no collection: {shown}"))
    for cid, count in named.items():
        named_by = f" (named by {count} items)" if count else ""
        if cid not in owners:
            obstacles.append(error(None, f"collection {cid!r}{named_by} does not exist"))
        elif provider_org_id is not None and owners[cid] != provider_org_id:
            obstacles.append(error(None, f"collection {cid!r}{named_by} belongs to another organisation than "
                                         "--provider"))
    if obstacles and collection_id is not None:
        raise ImportFailed("Nothing was imported: the --collection cannot take the items.", obstacles)
    if obstacles:
        raise ImportFailed("Nothing was imported: some items have no collection to go to. Import their collections "
                           "first (a collection file or an array of them, with --provider), or pass --collection ID "
                           "to load every item into one collection.", obstacles)
    return list(named)


def _import_items(identity: Identity, items: Iterable[object], collection_id: str | None, provider_org_id, *,
                  status: ItemStatus, repair: bool, progress: Callable[[int], None]) -> ImportReport:
    """Stream the items into their collections, a batch of up to BATCH_SIZE per collection at a time."""
    report = ImportReport(written_to=dict.fromkeys(_destinations(items, collection_id, provider_org_id), 0))
    pending: dict[str, list[tuple[int, object]]] = {}  # collection -> (position in the file, document)
    held = 0  # items in ``pending``
    mismatched: set[str] = set()

    def flush(cid: str) -> None:
        nonlocal held
        batch = pending.pop(cid)
        held -= len(batch)
        result = bulk_upsert(identity, cid, [doc for _, doc in batch], status=status, repair=repair,
                             positions=[position for position, _ in batch])
        report.written_to[cid] += result.written
        report.failures.extend(result.failures)
        progress(len(batch))

    for position, doc, cid, _ in _routed(((doc, None) for doc in items), collection_id, report, mismatched):
        pending.setdefault(cid, []).append((position, doc))
        held += 1
        if len(pending[cid]) >= BATCH_SIZE:
            flush(cid)
        elif held > MAX_PENDING:
            flush(max(pending, key=lambda c: len(pending[c])))
    for cid in list(pending):
        flush(cid)
    _note_mismatches(report, mismatched, collection_id)
    return report


def _routed(records: Iterable[tuple[object, object]], collection_id: str | None, report: ImportReport,
            mismatched: set[str]) -> Iterator[tuple[int, object, str, object]]:
    """For each (document, what comes with it) that can go somewhere: (position in the file,
    document, the collection it goes to, what came with it); what cannot is reported as failed."""
    for position, (doc, extra) in enumerate(records, 1):
        if isinstance(doc, Unreadable):
            report.failures.append((f"#{position}", [error(None, doc.message)]))
            continue
        if collection_id is None and not isinstance(doc, dict):
            report.failures.append((f"#{position}", [error(None, "is not a STAC item (a JSON object)")]))
            continue
        cid = _named(doc) if collection_id is None else collection_id
        if _named(doc) not in (None, cid):
            mismatched.add(_named(doc))
        yield position, doc, cid, extra


def _note_mismatches(report: ImportReport, mismatched: set[str], collection_id: str | None) -> None:
    for stated in sorted(mismatched):
        report.notes.append(f"items said collection {stated!r}; imported into {collection_id!r}")


def _import_lines(identity: Identity, lines: _Lines, collection_id: str | None, provider_org_id, *, workers: int,
                  status: ItemStatus, repair: bool, progress: Callable[[int], None]) -> ImportReport:
    """``_import_items`` for NDJSON on PostgreSQL: the same checks first, then the lines dealt out
    to ``workers`` writer processes (parallel_import.py)."""
    report = ImportReport(written_to=dict.fromkeys(_destinations(lines, collection_id, provider_org_id), 0))
    mismatched: set[str] = set()
    routed = ((position, cid, str(doc.get("id")) if isinstance(doc, dict) else "", line) for position, doc, cid, line
              in _routed(((doc, line) for line, doc in lines.lines()), collection_id, report, mismatched))
    try:
        written = write_in_parallel(identity, routed, workers=workers, batch_size=BATCH_SIZE, status=status,
                                    repair=repair, progress=progress)
    except WriterFailed as exc:
        raise ImportFailed("The import stopped: a writer process failed (the batches committed before stay "
                           f"written; importing the file again replaces them). {exc}") from None
    for cid, count in written.written_to.items():
        report.written_to[cid] = report.written_to.get(cid, 0) + count
    report.failures.extend(written.failures)
    _note_mismatches(report, mismatched, collection_id)
    return report
