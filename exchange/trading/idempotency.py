"""``Idempotency-Key`` (IETF httpapi draft) for requests that spend money, per organisation.

``claim`` records the key with a fingerprint of the request (method, path, canonical JSON body) in
a short transaction of its own, before the work starts, so that a second request with the key
sees it: same fingerprint and answered → ``Replay`` of the first answer; answer pending → 409;
another fingerprint → 422. The work's own unit of work stores the answer with ``record`` (in the
same transaction as the order, so the answer and what it reports are committed together). A work
refused with a problem (4xx) wrote nothing; ``record_refusal`` stores that problem in a transaction
of its own, and it is replayed like any answer (a retry after topping up needs a new key). A work
that failed unexpectedly (5xx) is no answer: ``release`` drops the key and the client may repeat it.

A process that dies after ``claim`` leaves a key pending with no answer. It does not block for
ever: a pending key older than ``IN_FLIGHT_LEASE`` (longer than a request may run: gunicorn's
worker timeout is 60 s) is taken over by the next request with it. Even then nothing is done twice:
a quote is ordered at most once (``orders.quote_id`` is unique). Keys expire after 24 hours.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from exchange.core.db import db, unit_of_work, utcnow
from exchange.core.problems import Conflict, Problem, ValidationProblem
from exchange.trading.models import IdempotencyKey

KEY_LIFETIME = timedelta(hours=24)
IN_FLIGHT_LEASE = timedelta(seconds=90)
MAX_KEY_CHARS = 255


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict


def parse_key(header: str | None) -> str:
    """The key from the header (a structured-field string: quoted, or bare as many clients send it)."""
    if header is None or not header.strip():
        raise Problem("This request needs an Idempotency-Key header (a unique string, e.g. a UUID), so that "
                      "repeating it never pays twice.", status=400, title="Idempotency-Key missing",
                      errors=[{"field": "Idempotency-Key", "message": "required"}])
    key = header.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key or len(key) > MAX_KEY_CHARS or not key.isprintable() or not key.isascii():
        raise Problem(f"The Idempotency-Key must be 1 to {MAX_KEY_CHARS} printable ASCII characters.", status=400,
                      title="Idempotency-Key invalid", errors=[{"field": "Idempotency-Key", "message": "invalid"}])
    return key


def fingerprint(method: str, path: str, body: object) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _insert_if_absent(org_id: uuid.UUID, key: str, request_hash: str, now: datetime) -> bool:
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    inserted = db.session.scalar(insert(IdempotencyKey).values(org_id=org_id, key=key, request_hash=request_hash,
                                                               created_at=now)
                                 .on_conflict_do_nothing(index_elements=["org_id", "key"])
                                 .returning(IdempotencyKey.key))
    return inserted is not None


def claim(org_id: uuid.UUID, key: str, request_hash: str) -> Replay | None:
    """Take the key for this request (None: go ahead), or the first answer to replay; 409/422 else."""
    now = utcnow()
    with unit_of_work():
        if db.session.get_bind().dialect.name == "postgresql":
            # A claim lost in a crash is harmless (the order it guards was not committed either), and
            # the order's own commit makes it durable: no disk flush of its own.
            db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
        if _insert_if_absent(org_id, key, request_hash, now):
            return None
        held = db.session.scalar(select(IdempotencyKey).where(IdempotencyKey.org_id == org_id,
                                                              IdempotencyKey.key == key)
                                 .execution_options(populate_existing=True))
        if held is None or held.created_at <= now - KEY_LIFETIME:  # gone meanwhile, or a day old: forgotten
            db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.org_id == org_id,
                                                            IdempotencyKey.key == key))
            if _insert_if_absent(org_id, key, request_hash, now):
                return None
            raise Conflict("A request with this Idempotency-Key is still being processed; retry in a moment.",
                           headers={"Retry-After": "1"})
        if held.request_hash != request_hash:
            raise ValidationProblem("This Idempotency-Key was used with another request; use a new key for a new "
                                    "request.", errors=[{"field": "Idempotency-Key",
                                                         "message": "reused with a different request"}])
        if held.response_status is not None:
            return Replay(held.response_status, held.response_body)
        if held.created_at > now - IN_FLIGHT_LEASE:
            raise Conflict("A request with this Idempotency-Key is still being processed; retry in a moment.",
                           headers={"Retry-After": "1"})
        # Abandoned by a process that died: take it over, unless another request just did.
        taken = db.session.execute(update(IdempotencyKey).where(
            IdempotencyKey.org_id == org_id, IdempotencyKey.key == key, IdempotencyKey.response_status.is_(None),
            IdempotencyKey.created_at == held.created_at).values(created_at=now)
            .execution_options(synchronize_session=False))
        if taken.rowcount != 1:
            raise Conflict("A request with this Idempotency-Key is still being processed; retry in a moment.",
                           headers={"Retry-After": "1"})
    return None


def record(org_id: uuid.UUID, key: str, status: int, body: dict) -> None:
    """Store the answer, inside the unit of work of the work it answers for."""
    db.session.execute(update(IdempotencyKey).where(IdempotencyKey.org_id == org_id, IdempotencyKey.key == key)
                       .values(response_status=status, response_body=json.loads(json.dumps(body, default=str)))
                       .execution_options(synchronize_session=False))


def record_refusal(org_id: uuid.UUID, key: str, status: int, body: dict) -> None:
    """Store a refusal's problem, after the refused work rolled back (hence its own transaction)."""
    with unit_of_work():
        record(org_id, key, status, body)


def release(org_id: uuid.UUID, key: str) -> None:
    """Forget a key whose work failed unexpectedly (nothing was written; repeating it is safe)."""
    with unit_of_work():
        db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.org_id == org_id, IdempotencyKey.key == key,
                                                        IdempotencyKey.response_status.is_(None)))
