"""An NDJSON import written by several processes at once (PostgreSQL).

Where the time of a bulk load goes (bench/catalog_search.py, 1,000,000 items, 2 cores): about two
thirds in Python — parsing, validating each item (validation.py), building its row and encoding it
for COPY — and one third in the PostgreSQL backend inserting the rows and maintaining the indexes.
One process validates while its backend inserts the previous rows, but the two never keep both
cores busy: each waits for the other at every batch's end. So the main process only reads the file
and deals the lines out, and each of ``workers`` forked processes validates and writes its share
through the same ``bulk_upsert`` as a single process does (its own connection, a transaction per
batch, its own COPY stream): Python and the backends together keep every core busy. Every
validation and every report of a bad item is the same; only the order of the reports may differ.

An item goes to the worker its id hashes to, so the same id given twice in a file is written twice
by one process, in file order: the last one wins, as in a single process, and two processes never
write the same row at the same moment. SQLite has one writer at a time: it imports in-process.
"""
from __future__ import annotations

import gc
import json
import multiprocessing
import os
import logging
import queue
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson
from flask import current_app

from exchange.policy import Identity
from exchange.catalog.models import ItemStatus
from exchange.core.config import usable_cores
from exchange.core.db import db, no_cyclic_gc

log = logging.getLogger(__name__)

#: Lines a worker may have waiting in its queue, in batches: enough to never starve it, little memory.
QUEUED_BATCHES = 3
#: Seconds between checks that every worker is still alive while the queues are full.
POLL_SECONDS = 1.0


def parse_line(line: str) -> object:
    """A line's JSON: orjson (a third of the standard library's time), or the standard library for
    what orjson alone refuses (an integer beyond 64 bits); JSONDecodeError if neither reads it."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        try:
            return json.loads(line)
        except (json.JSONDecodeError, RecursionError):  # nested too deeply, say: orjson said it best
            raise exc from None


def default_workers() -> int:
    """One writer per core: the backends' share of the work runs on the same cores."""
    return usable_cores()


def can_fork_writers() -> bool:
    """Workers are forked copies of this process, with the app and its settings: PostgreSQL on a
    platform where fork is safe to use (Linux)."""
    return db.engine.dialect.name == "postgresql" and "fork" in multiprocessing.get_all_start_methods() \
        and os.uname().sysname == "Linux"


class WriterFailed(RuntimeError):
    """A worker stopped on an error (the database went away, say): the batches it and the others
    had committed stay written, as when a single-process import stops."""


@dataclass
class Imported:
    """What the writers reported: items written per collection, and every item that failed."""

    written_to: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[str, list[dict]]] = field(default_factory=list)


def write_in_parallel(identity: Identity, lines: Iterable[tuple[int, str, str, str]], *, workers: int,
                      batch_size: int, status: ItemStatus, repair: bool,
                      progress: Callable[[int], None]) -> Imported:
    """Write ``lines`` — (position in the file, collection, item id, the line) — with ``workers``
    processes, ``batch_size`` items of one collection per ``bulk_upsert``."""
    app = current_app._get_current_object()
    db.session.close()
    db.engine.dispose()  # no pooled connection may be shared with the forked workers
    context = multiprocessing.get_context("fork")
    inboxes = [context.Queue(maxsize=QUEUED_BATCHES) for _ in range(workers)]
    outbox = context.Queue()
    processes = [context.Process(target=_work, args=(app, identity, inbox, outbox, status, repair),
                                 name=f"sdx-import-{n}", daemon=True) for n, inbox in enumerate(inboxes)]
    for process in processes:
        process.start()
    result = Imported()
    try:
        pending: list[dict[str, list[tuple[int, str]]]] = [{} for _ in range(workers)]
        for position, cid, item_id, line in lines:
            worker = zlib.crc32(f"{cid}/{item_id}".encode()) % workers
            batch = pending[worker].setdefault(cid, [])
            batch.append((position, line))
            if len(batch) >= batch_size:
                _send(inboxes[worker], (cid, pending[worker].pop(cid)), processes, outbox, result, progress)
        for worker, batches in enumerate(pending):
            for cid, batch in batches.items():
                _send(inboxes[worker], (cid, batch), processes, outbox, result, progress)
        for inbox in inboxes:
            _send(inbox, None, processes, outbox, result, progress)
        while any(process.is_alive() for process in processes) or not outbox.empty():
            _collect(outbox, result, progress, timeout=POLL_SECONDS)
            _check_exits(processes, outbox, result, progress)
        _check_exits(processes, outbox, result, progress)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()
        for channel in (*inboxes, outbox):  # batches left for a stopped worker must not hold up our exit
            channel.cancel_join_thread()
            channel.close()
    return result


def _check_exits(processes, outbox, result: Imported, progress) -> None:
    """A worker that ended other than by finishing its work (killed: out of memory, say) may have
    taken batches with it: the import fails rather than report fewer items as if all were written."""
    ended = [process for process in processes if process.exitcode not in (None, 0)]
    if ended:
        _collect(outbox, result, progress, timeout=0)  # its own report of why, if it sent one
        raise WriterFailed(f"an import worker ended with exit code {ended[0].exitcode} without reporting why")


def _send(inbox, message, processes, outbox, result: Imported, progress) -> None:
    """Queue a batch for a worker, gathering finished batches' results while its queue is full."""
    while True:
        _collect(outbox, result, progress, timeout=0)
        try:
            inbox.put(message, timeout=POLL_SECONDS)
            return
        except queue.Full:
            if not all(process.is_alive() for process in processes):
                _collect(outbox, result, progress, timeout=POLL_SECONDS)
                _check_exits(processes, outbox, result, progress)
                raise WriterFailed("an import worker stopped before its work was done")


def _collect(outbox, result: Imported, progress, *, timeout: float) -> None:
    while True:
        try:
            message = outbox.get(timeout=timeout) if timeout else outbox.get_nowait()
        except queue.Empty:
            return
        timeout = 0
        if message[0] == "failed":
            raise WriterFailed(message[1])
        _, cid, count, written, failures = message
        result.written_to[cid] = result.written_to.get(cid, 0) + written
        result.failures.extend(failures)
        progress(count)


def _work(app, identity: Identity, inbox, outbox, status: ItemStatus, repair: bool) -> None:
    """A worker: batches from ``inbox`` until None, each parsed, validated and written by
    ``bulk_upsert``; the result of each, or the error that stopped it, to ``outbox``."""
    from exchange.catalog.batches import bulk_upsert

    gc.freeze()  # what the fork copied is never walked (nor written to, by the collector)
    try:
        with app.app_context(), no_cyclic_gc():
            while (message := inbox.get()) is not None:
                cid, batch = message
                docs = [parse_line(line) for _, line in batch]
                done = bulk_upsert(identity, cid, docs, status=status, repair=repair,
                                   positions=[position for position, _ in batch])
                outbox.put(("batch", cid, len(batch), done.written, done.failures))
    except BaseException as exc:  # whatever it is, the main process must hear of it
        log.exception("import worker failed")
        outbox.put(("failed", f"{type(exc).__name__}: {exc}"))
        raise SystemExit(1) from None
