"""The audit log: append-only entries, each chained to the one before by SHA-256.

``record`` adds an entry inside the caller's transaction, so the entry commits (or rolls back) with
the action it records. It locks the chain's head row first (``SELECT … FOR UPDATE`` on PostgreSQL,
the write lock on SQLite), so entries are numbered and chained in commit order however many
processes append. An entry's hash covers its content and the previous entry's hash: changing,
removing or inserting a row breaks every hash after it.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from sqlalchemy import select, update

from exchange.core.db import db, hold_sqlite_write_lock, utcnow
from exchange.sharing.models import AuditEntry, AuditHead

GENESIS = "0" * 64


def entry_hash(*, seq: int, at, actor_user_id, actor_org_id, action: str, object_type, object_id,
               details: dict, prev_hash: str) -> str:
    """The SHA-256 of an entry's content and its predecessor's hash (a canonical JSON rendering)."""
    content = {"seq": seq, "at": at.isoformat(), "actor_user_id": str(actor_user_id) if actor_user_id else None,
               "actor_org_id": str(actor_org_id) if actor_org_id else None, "action": action,
               "object_type": object_type, "object_id": object_id, "details": details, "prev_hash": prev_hash}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _head() -> AuditHead:
    hold_sqlite_write_lock(AuditHead.seq, AuditHead.id == 1)
    head = db.session.scalar(select(AuditHead).where(AuditHead.id == 1).with_for_update())
    if head is None:  # a database made without the migrations (which seed the head)
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        db.session.add(head)
        db.session.flush()
    return head


def record(event: str, *, actor_user_id: uuid.UUID | None = None, actor_org_id: uuid.UUID | None = None,
           object_type: str | None = None, object_id: Any = None, details: dict | None = None) -> AuditEntry:
    """Append one entry (``event``, e.g. "policy.created", stored as its ``action``) to the log in the
    current transaction (the caller commits)."""
    head = _head()
    details = json.loads(json.dumps(details or {}, default=str))  # stored exactly as hashed
    entry = AuditEntry(seq=head.seq + 1, at=utcnow(), action=event,
                       actor_user_id=actor_user_id, actor_org_id=actor_org_id, object_type=object_type,
                       object_id=str(object_id) if object_id is not None else None, details=details,
                       prev_hash=head.hash)
    entry.hash = entry_hash(seq=entry.seq, at=entry.at, actor_user_id=actor_user_id, actor_org_id=actor_org_id,
                            action=event, object_type=object_type, object_id=entry.object_id, details=details,
                            prev_hash=head.hash)
    db.session.add(entry)
    db.session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=entry.seq, hash=entry.hash))
    db.session.expire(head)
    return entry
