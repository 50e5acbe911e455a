"""One commit per unit of work; tasks reach the worker only after the commit, never after a rollback.
A unit of work opened inside another joins it: one commit at the end of the outermost."""
from __future__ import annotations

import threading
import uuid

import pytest
from celery import shared_task
from sqlalchemy import select

from auth import service
from auth.models import Organisation, OrgKind
from exchange.core.db import TransactionRolledBack, db, unit_of_work
from exchange.policy import SYSTEM

#: What a unit of work commits is checked from other connections, as a worker would see it.
pytestmark = pytest.mark.committed

#: What the worker saw when the task ran: org id -> org name read from the database (None: not there).
SEEN: dict[str, str | None] = {}
DONE = threading.Event()


@shared_task(name="tests.read_org_name")
def read_org_name(org_id: str) -> None:
    org = db.session.get(Organisation, uuid.UUID(org_id))
    SEEN[org_id] = org.name if org else None
    DONE.set()


def test_commit_then_after_commit_callbacks(app):
    calls = []
    with app.app_context():
        with unit_of_work() as uow:
            org = Organisation(name="UoW Org", kind=OrgKind.buyer)
            uow.add(org)
            uow.flush()
            uow.after_commit(calls.append, org.id)
            assert calls == []  # not before the commit
        assert calls == [org.id]
        db.session.expunge_all()
        assert db.session.scalar(select(Organisation.name)) == "UoW Org"


def test_exception_rolls_back_and_runs_no_callback(app):
    calls = []
    with app.app_context():
        with pytest.raises(RuntimeError):
            with unit_of_work() as uow:
                uow.add(Organisation(name="Never", kind=OrgKind.buyer))
                uow.after_commit(calls.append, "sent")
                raise RuntimeError("validation failed half-way")
        assert calls == []
        assert db.session.scalar(select(Organisation.id)) is None


def test_failing_callback_does_not_undo_the_commit(app, caplog):
    def broker_down():
        raise ConnectionError("broker unreachable")

    with app.app_context():
        with unit_of_work() as uow:
            uow.add(Organisation(name="Kept", kind=OrgKind.buyer))
            uow.after_commit(broker_down)
        assert db.session.scalar(select(Organisation.name)) == "Kept"
    assert "after-commit callback" in caplog.text


def committed_org_names() -> list[str]:
    """The organisation names another connection sees: only what has been committed."""
    with db.engine.connect() as connection:
        return sorted(connection.scalars(select(Organisation.name)))


def test_an_inner_unit_of_work_joins_the_outer_one_and_nothing_commits_before_its_end(app):
    seen_by_callbacks = []
    with app.app_context():
        with unit_of_work() as outer:
            outer.add(Organisation(name="Outer", kind=OrgKind.buyer))
            outer.after_commit(lambda: seen_by_callbacks.append(("outer", committed_org_names())))
            with unit_of_work() as inner:
                assert inner is outer
                inner.add(Organisation(name="Inner", kind=OrgKind.buyer))
                inner.after_commit(lambda: seen_by_callbacks.append(("inner", committed_org_names())))
            db.session.flush()
            assert committed_org_names() == []  # the inner one's end committed nothing
            assert seen_by_callbacks == []
        # Both callbacks, in the order they were registered, once both rows are committed together.
        assert seen_by_callbacks == [("outer", ["Inner", "Outer"]), ("inner", ["Inner", "Outer"])]


def test_a_service_called_inside_a_unit_of_work_is_undone_with_it(app):
    """A service opening its own unit of work (create_org) joins the caller's, so the caller's
    failure afterwards takes the organisation back too."""
    with app.app_context():
        with pytest.raises(RuntimeError):
            with unit_of_work():
                org = service.create_org(SYSTEM, {"name": "Joined Org", "kind": "buyer"})
                assert org.id is not None
                raise RuntimeError("the order's ledger leg failed")
        assert service.find_org("Joined Org") is None
        assert committed_org_names() == []


def test_an_exception_in_the_inner_unit_of_work_rolls_back_the_whole(app):
    calls = []
    with app.app_context():
        with pytest.raises(ValueError):
            with unit_of_work() as outer:
                outer.add(Organisation(name="Before", kind=OrgKind.buyer))
                outer.after_commit(calls.append, "outer")
                with unit_of_work() as inner:
                    inner.after_commit(calls.append, "inner")
                    raise ValueError("bad input in the inner service")
        assert calls == []
        assert committed_org_names() == []


def test_an_outer_unit_of_work_that_swallows_an_inner_failure_does_not_commit_half(app):
    calls = []
    with app.app_context():
        with pytest.raises(TransactionRolledBack):
            with unit_of_work() as outer:
                outer.add(Organisation(name="First", kind=OrgKind.buyer))
                outer.after_commit(calls.append, "sent")
                try:
                    with unit_of_work():
                        raise ValueError("refused")
                except ValueError:
                    pass
                outer.add(Organisation(name="After", kind=OrgKind.buyer))
        assert calls == []
        assert committed_org_names() == []
        with unit_of_work() as uow:  # the session is usable again: a new unit of work commits
            uow.add(Organisation(name="Next", kind=OrgKind.buyer))
        assert committed_org_names() == ["Next"]


@pytest.mark.integration
def test_real_worker_sees_the_committed_row(celery_worker):
    """Through Redis to a real Celery worker: the task runs after commit and reads the new row."""
    SEEN.clear()
    DONE.clear()
    with celery_worker.app_context():
        with unit_of_work() as uow:
            org = Organisation(name="Seen By Worker", kind=OrgKind.research)
            uow.add(org)
            uow.flush()
            org_id = str(org.id)
            uow.after_commit(read_org_name.delay, org_id)
    assert DONE.wait(20), "the worker did not run the task"
    assert SEEN == {org_id: "Seen By Worker"}


@pytest.mark.integration
def test_real_worker_gets_nothing_after_rollback(celery_worker):
    SEEN.clear()
    DONE.clear()
    with celery_worker.app_context():
        with pytest.raises(ValueError):
            with unit_of_work() as uow:
                org = Organisation(name="Rolled Back", kind=OrgKind.research)
                uow.add(org)
                uow.flush()
                uow.after_commit(read_org_name.delay, str(org.id))
                raise ValueError("abort")
        # A probe task proves the worker is consuming: it runs, while the rolled-back one never was sent.
        probe = str(uuid.uuid4())
        read_org_name.delay(probe)
    assert DONE.wait(20)
    assert SEEN == {probe: None}


@pytest.mark.integration
def test_real_worker_gets_a_task_of_an_inner_unit_of_work_after_the_outer_commit(celery_worker):
    SEEN.clear()
    DONE.clear()
    with celery_worker.app_context():
        with unit_of_work() as outer:
            with unit_of_work() as inner:
                org = Organisation(name="Nested For Worker", kind=OrgKind.research)
                inner.add(org)
                inner.flush()
                org_id = str(org.id)
                inner.after_commit(read_org_name.delay, org_id)
            outer.add(Organisation(name="Committed Alongside", kind=OrgKind.research))
    assert DONE.wait(20), "the worker did not run the task"
    assert SEEN == {org_id: "Nested For Worker"}
