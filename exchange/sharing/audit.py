"""The audit log: append-only entries, each chained to the one before by SHA-256.

``record`` adds an entry inside the caller's transaction, so the entry commits (or rolls back) with
the action it records. It locks the chain's head row first (``SELECT … FOR UPDATE`` on PostgreSQL,
the write lock on SQLite), so entries are numbered and chained in commit order however many
processes append. An entry's hash covers its content and the previous entry's hash: changing,
removing or inserting a row breaks every hash after it; ``verify`` walks the chain and names the first
entry that does not hold. Callers record after their other writes, so the head stays locked briefly.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from exchange.core import paging
from exchange.core.db import db, hold_sqlite_write_lock, utcnow
from exchange.core.problems import ValidationProblem
from exchange.policy import Identity, require
from exchange.sharing.models import AuditEntry, AuditHead

GENESIS = "0" * 64


def _moment(at: datetime) -> str:
    """The timestamp as hashed: UTC, microseconds always written, whatever zone the driver returns."""
    return at.astimezone(timezone.utc).isoformat(timespec="microseconds")


def entry_hash(*, seq: int, at: datetime, actor_user_id, actor_org_id, action: str, object_type, object_id,
               details: dict, prev_hash: str) -> str:
    """The SHA-256 of an entry's content and its predecessor's hash (a canonical JSON rendering)."""
    content = {"seq": seq, "at": _moment(at), "actor_user_id": str(actor_user_id) if actor_user_id else None,
               "actor_org_id": str(actor_org_id) if actor_org_id else None, "action": action,
               "object_type": object_type, "object_id": object_id, "details": details, "prev_hash": prev_hash}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _head() -> AuditHead:
    hold_sqlite_write_lock(AuditHead.seq, AuditHead.id == 1)
    # populate_existing: a head this session loaded before the lock was taken must be read again.
    locked = select(AuditHead).where(AuditHead.id == 1).with_for_update().execution_options(populate_existing=True)
    head = db.session.scalar(locked)
    if head is None:  # the migrations seed the head; without it, the first writers race to make it
        dialect = {"postgresql": postgresql, "sqlite": sqlite}[db.session.get_bind().dialect.name]
        db.session.execute(dialect.insert(AuditHead).values(id=1, seq=0, hash=GENESIS).on_conflict_do_nothing())
        head = db.session.scalar(locked)
    return head


def record(event: str, *, actor_user_id: uuid.UUID | None = None, actor_org_id: uuid.UUID | None = None,
           object_type: str | None = None, object_id: Any = None, details: dict | None = None) -> AuditEntry:
    """Append one entry (``event``, e.g. "policy.created", stored as its ``action``) to the log in the
    current transaction (the caller commits). ``details`` must hold no secret."""
    head = _head()
    details = json.loads(json.dumps(details or {}, default=str))  # stored exactly as hashed
    # Microseconds are what both backends keep: the stored time reads back exactly as it was hashed.
    entry = AuditEntry(seq=head.seq + 1, at=utcnow(), action=event,
                       actor_user_id=actor_user_id, actor_org_id=actor_org_id, object_type=object_type,
                       object_id=str(object_id) if object_id is not None else None, details=details,
                       prev_hash=head.hash)
    entry.hash = _hash_of(entry)
    db.session.add(entry)
    db.session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=entry.seq, hash=entry.hash))
    db.session.expire(head)
    return entry


def _hash_of(entry: AuditEntry) -> str:
    return entry_hash(seq=entry.seq, at=entry.at, actor_user_id=entry.actor_user_id, actor_org_id=entry.actor_org_id,
                      action=entry.action, object_type=entry.object_type, object_id=entry.object_id,
                      details=entry.details, prev_hash=entry.prev_hash)


@dataclass(frozen=True)
class ChainCheck:
    """What ``verify`` found: the entries it checked, and the first bad one (seq and why) if any."""

    entries: int
    head_seq: int
    bad_seq: int | None = None
    problem: str | None = None

    @property
    def holds(self) -> bool:
        return self.bad_seq is None


def verify(batch: int = 1000) -> ChainCheck:
    """Recompute the chain from the first entry: every seq present in order, every entry's hash its
    content's, every link its predecessor's hash, and the head row naming the last entry."""
    head = db.session.scalar(select(AuditHead).where(AuditHead.id == 1).execution_options(populate_existing=True)) \
        or AuditHead(seq=0, hash=GENESIS)
    expected_seq, prev_hash, count = 1, GENESIS, 0
    # Up to the head read above: entries appended meanwhile (read committed) are the next check's.
    query = select(AuditEntry).where(AuditEntry.seq <= head.seq).order_by(AuditEntry.seq) \
        .execution_options(yield_per=batch, populate_existing=True)
    for entry in db.session.scalars(query):
        if entry.seq != expected_seq:
            missing = expected_seq if entry.seq > expected_seq else entry.seq
            return ChainCheck(count, head.seq, missing, f"entry {missing} is missing (the next one is {entry.seq})")
        if entry.prev_hash != prev_hash:
            return ChainCheck(count, head.seq, entry.seq, f"entry {entry.seq} does not link to entry {entry.seq - 1}"
                                                          " (its prev_hash is not that entry's hash)")
        if _hash_of(entry) != entry.hash:
            return ChainCheck(count, head.seq, entry.seq, f"entry {entry.seq} was altered (its content does not "
                                                          "match its hash)")
        expected_seq, prev_hash, count = expected_seq + 1, entry.hash, count + 1
    if head.seq != count or head.hash != prev_hash:
        if head.seq > count:
            return ChainCheck(count, head.seq, count + 1, f"entry {count + 1} is missing (the head names entry "
                                                          f"{head.seq})")
        return ChainCheck(count, head.seq, count, f"entry {count} is not the one the head names (seq {head.seq}, "
                                                  f"hash {head.hash[:12]}…)")
    return ChainCheck(count, head.seq)


# -- reading (administrators) ---------------------------------------------------------------------------
def chain_status(identity: Identity) -> ChainCheck:
    """``verify``, for an administrator with admin:audit."""
    require(identity, "audit:read")
    return verify()


def list_entries(identity: Identity, args: dict) -> tuple[list[AuditEntry], str | None]:
    """A page of entries matching the filters in ``args``, newest first; the cursor holds the last seq."""
    require(identity, "audit:read")
    query = select(AuditEntry)
    if args["after"] is not None:
        try:
            last = paging.decode(args["after"], max_depth=0)
        except paging.BadCursor:
            last = None
        if not isinstance(last, int) or isinstance(last, bool):
            raise ValidationProblem("The page cursor is invalid; see errors.", errors=[
                {"field": "after", "message": "Not a cursor of this listing: pass the `next` of the previous page, "
                                              "or leave it out for the first page."}])
        query = query.where(AuditEntry.seq < last)
    if args["actor"] is not None:
        query = query.where(AuditEntry.actor_user_id == args["actor"])
    if args["org"] is not None:
        # An entry's org is its actor's organisation (recorded at the time), or the one acted on.
        query = query.where((AuditEntry.actor_org_id == args["org"]) | (
            (AuditEntry.object_type == "organisation") & (AuditEntry.object_id == str(args["org"]))))
    action = args["action"]
    if action is not None:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True) if action.endswith(".")
                            else AuditEntry.action == action)
    for name in ("object_type", "object_id"):
        if args[name] is not None:
            query = query.where(getattr(AuditEntry, name) == args[name])
    if args["from"] is not None:
        query = query.where(AuditEntry.at >= args["from"])
    if args["to"] is not None:
        query = query.where(AuditEntry.at < args["to"])
    limit = args["limit"]
    rows, more = paging.cut(list(db.session.scalars(query.order_by(AuditEntry.seq.desc()).limit(limit + 1))), limit)
    return rows, (paging.encode(rows[-1].seq) if more else None)
