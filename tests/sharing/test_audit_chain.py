"""The audit chain: entries commit or roll back with their action, appends from many threads make one
chain, and ``sdx audit verify`` holds on an untouched log and names the first entry after tampering
(content altered, a row deleted, a hash or a link changed) — on both backends."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import delete, func, select, update

from exchange.core.db import db, unit_of_work
from exchange.policy import SYSTEM
from exchange.sharing import audit
from exchange.sharing.models import AuditEntry, AuditHead
from auth import service
from tests.conftest import add_user

ENTRIES = AuditEntry.__table__  # written with plain SQL below, around the ORM and ``record``


@pytest.fixture
def chain(app):
    """Three entries of the log, committed, each with details."""
    with app.app_context():
        with unit_of_work():
            for n in range(1, 4):
                audit.record("test.event", object_type="thing", object_id=n, details={"n": n, "note": "é ✓"})
        yield [entry.seq for entry in db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]


def verify_cli(app):
    return app.test_cli_runner().invoke(args=["sdx", "audit", "verify"])


def test_the_untouched_chain_verifies_and_counts_its_entries(app, chain):
    result = verify_cli(app)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"the audit chain holds: {len(chain)} entries"


def test_an_empty_log_verifies(app):
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == 0
    result = verify_cli(app)
    assert result.exit_code == 0 and "holds: 0 entries" in result.output


def test_the_stored_time_hashes_as_it_was_recorded(app, chain):
    """Read back from the database (not the objects ``record`` made), every entry hashes to itself."""
    with app.app_context():
        db.session.expire_all()
        for entry in db.session.scalars(select(AuditEntry)):
            assert audit._hash_of(entry) == entry.hash
            assert entry.at.utcoffset().total_seconds() == 0


@pytest.mark.parametrize("tamper, named", [
    (lambda seqs: update(ENTRIES).where(ENTRIES.c.seq == seqs[1]).values(details={"n": 99, "note": "é ✓"}),
     "entry 2 was altered"),
    (lambda seqs: update(ENTRIES).where(ENTRIES.c.seq == seqs[1]).values(action="test.other"), "entry 2 was altered"),
    (lambda seqs: delete(ENTRIES).where(ENTRIES.c.seq == seqs[1]), "entry 2 is missing"),
    (lambda seqs: delete(ENTRIES).where(ENTRIES.c.seq == seqs[2]), "entry 3 is missing"),
    (lambda seqs: update(ENTRIES).where(ENTRIES.c.seq == seqs[0]).values(hash="f" * 64), "entry 1 was altered"),
    (lambda seqs: update(ENTRIES).where(ENTRIES.c.seq == seqs[2]).values(prev_hash="f" * 64),
     "entry 3 does not link to entry 2"),
], ids=["details", "action", "middle-row-deleted", "last-row-deleted", "hash", "link"])
def test_tampering_is_found_and_the_first_bad_entry_named(app, chain, tamper, named):
    assert chain == [1, 2, 3]
    with app.app_context():
        # A plain SQL statement around ``record``, as someone with database access would write it.
        assert db.session.execute(tamper(chain)).rowcount == 1
        db.session.commit()
    result = verify_cli(app)
    assert result.exit_code == 1
    assert named in result.output


def test_an_entry_rewritten_with_a_matching_hash_breaks_the_next_link(app, chain):
    """Recomputing the altered entry's own hash does not help: the next entry still links to the old one."""
    with app.app_context():
        second = db.session.get(AuditEntry, 2)
        second.details = {"n": 2, "note": "rewritten"}
        new_hash = audit._hash_of(second)
        db.session.rollback()
        db.session.execute(update(ENTRIES).where(ENTRIES.c.seq == 2)
                           .values(details={"n": 2, "note": "rewritten"}, hash=new_hash))
        db.session.commit()
    result = verify_cli(app)
    assert result.exit_code == 1 and "entry 3 does not link to entry 2" in result.output


def test_a_rolled_back_action_leaves_no_entry(app):
    with app.app_context():
        org = add_user("rb@audit.example", org="Rolled back").org_id
        before = db.session.scalar(select(AuditHead.seq).where(AuditHead.id == 1))
        with pytest.raises(RuntimeError):
            with unit_of_work():
                service.verify_org(SYSTEM, org, True)  # records org.verified inside this transaction
                raise RuntimeError("the action fails after its entry was written")
        db.session.expire_all()
        assert db.session.scalar(select(func.count()).where(AuditEntry.action == "org.verified")) == 0
        assert db.session.scalar(select(AuditHead.seq).where(AuditHead.id == 1)) == before
        service.verify_org(SYSTEM, org, True)
        assert db.session.scalar(select(func.count()).where(AuditEntry.action == "org.verified")) == 1
        assert audit.verify().holds


@pytest.mark.committed
def test_concurrent_appends_make_one_chain(app, backend):
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time; the row lock is PostgreSQL's")
    append_from_threads(app)


@pytest.mark.committed
def test_the_first_appends_make_the_head_when_it_is_missing(app, backend):
    """The migrations seed the head row; without it, concurrent first writers still make one chain."""
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time; the row lock is PostgreSQL's")
    with app.app_context():
        db.session.execute(delete(AuditHead))
        db.session.commit()
    append_from_threads(app)


def append_from_threads(app) -> None:
    """Eight threads append fifteen entries each, each in its own transaction: one gapless, valid chain."""
    threads, per_thread = 8, 15
    start = threading.Barrier(threads)
    failures = []

    def append(n: int) -> None:
        try:
            with app.app_context():
                start.wait()
                for i in range(per_thread):
                    with unit_of_work():
                        audit.record("test.concurrent", object_type="thread", object_id=n, details={"i": i})
        except Exception as error:  # noqa: BLE001  (reported by the assertion below)
            failures.append(repr(error))

    workers = [threading.Thread(target=append, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    with app.app_context():
        seqs = list(db.session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))
        assert seqs == list(range(1, threads * per_thread + 1))
        check = audit.verify()
        assert check.holds and check.entries == threads * per_thread, check.problem



@pytest.mark.committed
def test_an_entry_appended_while_verifying_is_not_reported_as_tampering(app, backend):
    if backend != "postgresql":
        pytest.skip("SQLite's reader sees one snapshot; the race is PostgreSQL's (read committed)")
    from sqlalchemy import event

    from exchange.sharing.models import AuditEntry

    with app.app_context(), unit_of_work():
        audit.record("test.one")

    def append():
        with app.app_context(), unit_of_work():
            audit.record("test.two")

    with app.app_context():
        appended = []

        @event.listens_for(db.session, "do_orm_execute")
        def between_head_and_entries(state):
            descriptions = getattr(state.statement, "column_descriptions", [])
            if not appended and AuditEntry in [d.get("entity") for d in descriptions]:
                appended.append(True)
                writer = threading.Thread(target=append)
                writer.start()
                writer.join()

        check = audit.verify()
        event.remove(db.session, "do_orm_execute", between_head_and_entries)
    assert appended and check.holds, check.problem
    with app.app_context():
        assert audit.verify().entries == 2
