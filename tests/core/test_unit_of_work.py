"""One commit per unit of work; tasks reach the worker only after the commit, never after a rollback."""
from __future__ import annotations

import threading
import uuid

import pytest
from celery import shared_task
from sqlalchemy import select

from auth.models import Organisation, OrgKind
from exchange.core.db import db, unit_of_work

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
