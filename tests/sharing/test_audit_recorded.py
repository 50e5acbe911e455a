"""What the audit log records: each kind of action, with its actor and object, in the action's own
transaction — and never a secret (password, token, client secret)."""
from __future__ import annotations

import json
import uuid

import pytest
import requests
from sqlalchemy import select

from auth import clients, service
from auth.models import OrgStatus
from exchange.core.db import db
from exchange.metering.models import MeterEvent
from exchange.policy import SYSTEM
from exchange.sharing import audit
from exchange.sharing.models import AuditEntry
from exchange.trading import wallets
from tests.auth.conftest import code_flow, sign_in
from tests.conftest import PASSWORD, add_user, identity_for
from tests.trading.orders_world import QUARTER, build_world

ADMIN_SCOPES = "admin:accounts"


def entries(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))


def the(action: str) -> AuditEntry:
    found = entries(action)
    assert len(found) == 1, [e.action for e in db.session.scalars(select(AuditEntry))]
    return found[0]


def everything_logged() -> str:
    return json.dumps([[e.action, e.object_id, e.details] for e in db.session.scalars(select(AuditEntry))])


@pytest.fixture
def admin(app):
    with app.app_context():
        user = add_user("admin@audit.example", roles=("admin",), org="Audit Platform", kind="platform")
        yield identity_for(user, ADMIN_SCOPES)


def test_organisation_approval_suspension_reactivation_and_verification(app, admin):
    with app.app_context():
        org = service.create_org(SYSTEM, {"name": "Pending Org", "kind": "research"}, status=OrgStatus.pending)
        service.approve_org(admin, org.id)
        service.verify_org(admin, org.id, True)
        service.suspend_org(admin, org.id)
        service.reactivate_org(admin, org.id)
        for action in ("org.approved", "org.verified", "org.suspended", "org.reactivated"):
            entry = the(action)
            assert (entry.actor_user_id, entry.actor_org_id) == (admin.user_id, admin.org_id)
            assert (entry.object_type, entry.object_id) == ("organisation", str(org.id))
            assert entry.details["name"] == "Pending Org"
        assert the("org.verified").details["verified"] is True
        assert [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq))][-4:] == [
            "org.approved", "org.verified", "org.suspended", "org.reactivated"]
        assert audit.verify().holds


def test_a_refused_change_records_nothing(app, admin):
    with app.app_context():
        org = add_user("active@audit.example", org="Active Org").org_id
        buyer = identity_for(add_user("buyer@audit.example", org="Buyer Org"), ADMIN_SCOPES)
        with pytest.raises(Exception):
            service.approve_org(admin, org)  # already active: 409
        with pytest.raises(Exception):
            service.suspend_org(buyer, org)  # not an administrator: 403
        assert entries("org.approved") == [] and entries("org.suspended") == []


def test_client_creation_deletion_and_disabling_without_secrets(app, admin):
    with app.app_context():
        owner = add_user("dev@audit.example", roles=("provider",), org="Dev Org", kind="provider")
        me = identity_for(owner, "catalog:read")
        body = {"name": "etl", "grant_types": ["client_credentials"], "scope": "catalog:read"}
        kept, secret = clients.create_client(me, body)
        gone, _ = clients.create_client(me, dict(body, name="gone"))
        clients.delete_client(me, gone.client_id)
        clients.disable_client(admin, kept.client_id)
        created = entries("client.created")
        assert [(e.object_id, e.actor_user_id, e.details["name"]) for e in created] == [
            (kept.client_id, owner.id, "etl"), (gone.client_id, owner.id, "gone")]
        assert created[0].details["scope"] == "catalog:read" and created[0].details["public"] is False
        assert (the("client.deleted").object_id, the("client.deleted").actor_user_id) == (gone.client_id, owner.id)
        disabled = the("client.disabled")
        assert (disabled.object_id, disabled.actor_user_id) == (kept.client_id, admin.user_id)
        assert secret not in everything_logged()


def test_top_ups_and_payouts(app, admin):
    with app.app_context():
        org = add_user("payer@audit.example", org="Paying Org").org_id
        moved = wallets.top_up(admin, org, {"amount": 5000, "currency": "CNY", "reference": "bank 42"})
        entry = the("wallet.topup")
        assert (entry.actor_user_id, entry.object_type) == (admin.user_id, "transfer")
        assert entry.object_id == str(moved["id"])
        assert entry.details == {"org_id": str(org), "amount": 5000, "currency": "CNY", "reference": "bank 42"}
        with pytest.raises(Exception):  # nothing earned: 409, and no entry
            wallets.pay_out(admin, org, {"amount": 1, "currency": "CNY", "reference": "too much"})
        assert entries("wallet.payout") == []


@pytest.mark.committed  # bearer tokens are checked on a connection of their own
def test_orders_placed_and_refunded(app):
    world = build_world(app)
    offer = world.offer(world.products[0], price=12_000)
    world.fund(50_000)
    quote = world.quote({"product_id": world.products[0], "offer_id": str(offer), "aoi": QUARTER})
    placed = world.order(quote, key="audited")
    assert placed.status_code == 201, placed.text
    refunded = world.post(f"/api/v1/orders/{placed.json['id']}/cancel", {})
    assert refunded.status_code == 200, refunded.text
    with app.app_context():
        order = the("order.placed")
        assert (order.object_type, order.object_id, order.actor_org_id) == ("order", placed.json["id"],
                                                                            world.buyer_org)
        assert order.actor_user_id is not None and order.details["totals"] == placed.json["totals"]
        refund = the("order.refunded")
        assert (refund.object_id, refund.actor_org_id) == (placed.json["id"], world.buyer_org)
        assert audit.verify().holds


@pytest.mark.committed
def test_sign_ins_and_tokens_without_passwords_or_tokens(live):
    user_id = live.user("person@audit.example", org="Person Org")
    failed = sign_in(requests.Session(), live.url, "person@audit.example", password="wrong-password-1")
    unknown = sign_in(requests.Session(), live.url, "nobody@audit.example", password="wrong-password-2")
    assert failed.status_code == unknown.status_code == 401
    assert sign_in(requests.Session(), live.url, "person@audit.example").status_code == 302
    client_id, secret = live.client("person@audit.example", "catalog:read")
    token = live.client_credentials_token(client_id, secret)
    revoked = requests.post(f"{live.url}/oauth/revoke", data={"token": token["access_token"],
                                                              "token_type_hint": "access_token"},
                            auth=(client_id, secret), timeout=10)
    assert revoked.status_code == 200
    with live.app.app_context():
        fails = entries("signin.failed")
        assert [(e.actor_user_id, e.object_id, e.details["email"]) for e in fails] == [
            (None, str(user_id), "person@audit.example"), (None, None, "nobody@audit.example")]
        assert fails[0].details["address"] == "127.0.0.1"
        success = the("signin.succeeded")
        assert (success.actor_user_id, success.object_id) == (user_id, str(user_id))
        issued = the("token.issued")
        jti = issued.object_id
        assert issued.actor_user_id == user_id and issued.details["client_id"] == client_id
        assert issued.details["grant_type"] == "client_credentials" and issued.details["scope"] == "catalog:read"
        gone = the("token.revoked")
        assert (gone.object_id, gone.actor_user_id, gone.details["kind"]) == (jti, user_id, "access_token")
        logged = everything_logged()
        for secret_text in (PASSWORD, "wrong-password-1", "wrong-password-2", token["access_token"], secret):
            assert secret_text not in logged
        assert audit.verify().holds


@pytest.fixture
def shop(live):
    from tests.metering.conftest import open_shop
    from tests.metering.meter import settled

    opened = open_shop(live)
    yield opened
    settled(opened)


@pytest.mark.committed
def test_a_download_refusal_is_audited_with_its_meter_event(shop):
    path = shop.stored_file("alice-1", 100)
    refused = shop.api("GET", path, "other")  # no licence
    assert refused.status_code == 403
    with shop.live.app.app_context():
        entry = the("download.refused")
        assert (entry.actor_user_id, entry.actor_org_id) == (shop.users["other"], shop.orgs["other"])
        assert (entry.object_type, entry.object_id) == ("product", str(shop.products["alice-1"]))
        assert entry.details["status"] == 403 and entry.details["rule"] == refused.json()["rule"]
        metered = list(db.session.scalars(select(MeterEvent).where(MeterEvent.status == 403)))
        assert len(metered) == 1 and metered[0].user_id == shop.users["other"]
        assert isinstance(entry.actor_user_id, uuid.UUID)


@pytest.mark.committed
def test_a_reused_refresh_token_revokes_its_family_on_the_record(live):
    user_id = live.user("rotate@audit.example", org="Rotating Org")
    client_id, secret = live.client("rotate@audit.example", "catalog:read")
    oauth, first = code_flow(live, "rotate@audit.example", client_id, secret, "catalog:read")
    oauth.refresh_token(f"{live.url}/oauth/token", refresh_token=first["refresh_token"])
    replay = requests.post(f"{live.url}/oauth/token", data={"grant_type": "refresh_token",
                                                            "refresh_token": first["refresh_token"]},
                           auth=(client_id, secret), timeout=10)
    assert replay.status_code == 400
    with live.app.app_context():
        issued = entries("token.issued")
        assert [e.details["grant_type"] for e in issued] == ["authorization_code", "refresh_token"]
        family = the("token.family_revoked")
        assert (family.actor_user_id, family.object_type) == (user_id, "token_family")
        assert family.object_id == issued[0].details["family_id"]
        assert family.details == {"client_id": client_id, "reason": "refresh token reused"}
        assert first["refresh_token"] not in everything_logged()
