"""``GET /api/v1/admin/audit`` and ``/admin/audit/verify``: administrators with admin:audit only, every
filter, newest first with a cursor, bad filters named."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from exchange.core.db import db, unit_of_work
from exchange.sharing import audit
from exchange.sharing.models import AuditEntry
from tests.trading.money import admin_token, token

pytestmark = pytest.mark.committed  # bearer tokens are checked on a connection of their own
AUDIT = "/api/v1/admin/audit"


@pytest.fixture
def logged(live):
    """An admin token with admin:audit, and five entries by two actors (after the tokens' own)."""
    reader = admin_token(live, scopes="admin:audit")
    with live.app.app_context():
        from auth.service import find_user
        admin = find_user("admin@sdx.example")
        actors = {"admin": (admin.id, admin.org_id)}
        made = [("order.placed", "order", "o-1"), ("order.refunded", "order", "o-1"),
                ("wallet.topup", "transfer", "t-1"), ("order.placed", "order", "o-2"), ("orderly.thing", "other", "x")]
        with unit_of_work():
            for n, (action, kind, ident) in enumerate(made):
                audit.record(action, actor_user_id=admin.id if n % 2 == 0 else None,
                             actor_org_id=admin.org_id if n % 2 == 0 else None, object_type=kind, object_id=ident,
                             details={"n": n})
    return {"token": reader, "actors": actors}


def listed(live, token_string: str, **params) -> list[tuple[str, str]]:
    answer = live.api("GET", AUDIT, token_string, params=params)
    assert answer.status_code == 200, answer.text
    return [(e["action"], e["object_id"]) for e in answer.json()["items"]]


def test_filters_select_entries_newest_first(live, logged):
    reader = logged["token"]
    admin_id, admin_org = logged["actors"]["admin"]
    assert listed(live, reader, action="order.placed") == [("order.placed", "o-2"), ("order.placed", "o-1")]
    assert listed(live, reader, action="order.") == [("order.placed", "o-2"), ("order.refunded", "o-1"),
                                                     ("order.placed", "o-1")]  # a prefix ends at the dot
    assert listed(live, reader, object_type="order", object_id="o-1") == [("order.refunded", "o-1"),
                                                                          ("order.placed", "o-1")]
    by_admin = listed(live, reader, actor=str(admin_id), object_type="order")
    assert by_admin == [("order.placed", "o-1")]
    assert ("orderly.thing", "x") in listed(live, reader, org=str(admin_org))
    assert listed(live, reader, org=str(admin_org), action="wallet.topup") == [("wallet.topup", "t-1")]
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)
    assert listed(live, reader, **{"from": later.isoformat()}) == []
    assert len(listed(live, reader, to=later.isoformat(), object_type="order")) == 3
    first = live.api("GET", AUDIT, reader, params={"limit": 2}).json()
    entry = first["items"][0]
    assert set(entry) == {"seq", "at", "action", "actor_user_id", "actor_org_id", "object_type", "object_id",
                          "details", "prev_hash", "hash"}
    assert entry["action"] == "orderly.thing" and entry["details"] == {"n": 4}


def test_paging_walks_every_entry_once(live, logged):
    reader = logged["token"]
    seqs, cursor = [], None
    while True:
        params = {"limit": 2, **({"after": cursor} if cursor else {})}
        page = live.api("GET", AUDIT, reader, params=params).json()
        seqs += [e["seq"] for e in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    with live.app.app_context():
        total = audit.verify().entries
    assert seqs == list(range(total, 0, -1))


@pytest.mark.parametrize("params, fields", [
    ({"actor": "someone"}, {"actor"}),
    ({"org": "12", "from": "yesterday"}, {"org", "from"}),
    ({"limit": 0}, {"limit"}),
    ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, {"to"}),
    ({"action": "x" * 61}, {"action"}),
    ({"after": "not-a-cursor"}, {"after"}),
])
def test_bad_filters_are_named(live, logged, params, fields):
    answer = live.api("GET", AUDIT, logged["token"], params=params)
    assert answer.status_code == 422, answer.text
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert {error["field"] for error in answer.json()["errors"]} == fields


def test_only_administrators_with_admin_audit_read_the_log(live, logged):
    buyer = token(live, "buyer@audit.example", "Buyer Org", scopes="orders:read")
    provider = token(live, "provider@audit.example", "Provider Org", roles=("provider",), kind="provider",
                     scopes="catalog:write")
    admin_without = admin_token(live, scopes="admin:accounts")
    for path in (AUDIT, f"{AUDIT}/verify"):
        for refused in (buyer, provider, admin_without):
            answer = live.api("GET", path, refused)
            assert answer.status_code == 403, (path, answer.text)
            assert answer.headers["Content-Type"] == "application/problem+json"
            assert "hash" not in answer.text
        anonymous = live.api("GET", path)
        assert anonymous.status_code == 401


def test_the_chain_status_route_holds_then_names_the_tampered_entry(live, logged):
    reader = logged["token"]
    holds = live.api("GET", f"{AUDIT}/verify", reader).json()
    assert holds["holds"] is True and holds["bad_seq"] is None and holds["entries"] == holds["head_seq"] >= 5
    with live.app.app_context():
        db.session.execute(update(AuditEntry.__table__).where(AuditEntry.__table__.c.seq == 3).values(details={}))
        db.session.commit()
    broken = live.api("GET", f"{AUDIT}/verify", reader).json()
    assert broken["holds"] is False and broken["bad_seq"] == 3 and "entry 3 was altered" in broken["problem"]
    assert broken["entries"] == 2
