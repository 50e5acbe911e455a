"""Access requests: an organisation asks a provider for a product (or a collection) that a
``require_approval`` policy holds back from it; the provider approves with conditions or rejects.

States ``pending → approved | rejected | withdrawn | expired``. A pending request lapses after
``PENDING_DAYS`` (a beat task marks it; until then, reading shows it expired already). An approval
lifts the hold for the requester until its ``valid_until`` (``evaluation.approvals``) and grants
either a free entitlement on each product of the target (limits from the conditions) or a quote on
the provider's offer, which the requester orders as usual. Every change is audited, and both sides
are notified, in the transaction that makes it.
"""
from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

from sqlalchemy import and_, or_, select

from auth.models import Organisation, User
from auth.policies import identity_of
from exchange.catalog.models import Collection, Item, ItemStatus
from exchange.core import paging
from exchange.core.db import db, hold_sqlite_write_lock, unit_of_work, utcnow
from exchange.core.problems import Conflict, Problem, ValidationProblem, body_of, load_or_problem
from exchange.licensing import templates
from exchange.licensing.models import Entitlement, Offer
from exchange.policy import SYSTEM, Identity, decide, query_filter, require, require_own
from exchange.sharing import audit, evaluation
from exchange.sharing.access_schemas import AccessRequestCreateSchema, ApproveSchema, RejectSchema
from exchange.sharing.models import AccessRequest, AccessRequestState as State
from exchange.sharing.notifications import cursor, notify, page_after
from exchange.trading import fulfilment, idempotency, quotes

REQUESTS_PATH = "/api/v1/access-requests"
PENDING_DAYS = 30
#: The licence a free grant carries unless the approval names another (a seeded template).
DEFAULT_LICENSE = "research-noncommercial@1"
#: The uses a require_approval policy may hold back (discover is not: what is hidden cannot be asked for).
HELD_USES = ("view_footprint", "license", "download")
#: Products of a collection looked at to find one held back, and granted or quoted at most.
MAX_PRODUCTS = quotes.MAX_LINES


def _bad(field: str, message: str, title: str = "The access request cannot be made.") -> ValidationProblem:
    return ValidationProblem(title, errors=[{"field": field, "message": message}])


def _products(identity: Identity, collection_id: str) -> list[Item]:
    """The collection's published products the caller may discover (at most ``MAX_PRODUCTS``)."""
    return list(db.session.scalars(select(Item).where(
        Item.collection_id == collection_id, Item.status == ItemStatus.published,
        query_filter(identity, "item:read", Item)).order_by(Item.key).limit(MAX_PRODUCTS)))


def _target(identity: Identity, body: dict) -> tuple[list[Item], str, int]:
    """The products asked for, the field naming them and the provider's organisation, or 422 when the
    caller may not discover the product or collection (absent and hidden read alike)."""
    if "product_id" in body:
        item = db.session.get(Item, body["product_id"])
        if item is None or item.status is not ItemStatus.published or not decide(identity, "item:read", item):
            raise _bad("product_id", f"no product {body['product_id']} that you may see")
        return [item], "product_id", item.provider_org_id
    collection = db.session.get(Collection, body["collection_id"])
    if collection is None or not decide(identity, "collection:read", collection):
        raise _bad("collection_id", f"no collection {body['collection_id']!r} that you may see")
    return _products(identity, collection.id), "collection_id", collection.owner_org_id


def _held(identity: Identity, items: list[Item]) -> tuple[bool, bool]:
    """(held back, already approved): whether a require_approval policy refuses the caller some use of
    one of ``items``, and whether an approval of the caller's organisation already lifts such a hold."""
    approved = False
    for item in items:
        for use in HELD_USES:
            decision = evaluation.evaluate(identity, use, item)
            if decision.rule == "approval-required":
                return True, False
            approved = approved or decision.rule == "access-approved"
    return False, approved


def create_request(identity: Identity, body: object, idempotency_key: str | None = None) -> tuple[int, dict]:
    """Ask the provider for access: (status, answer). With an ``Idempotency-Key`` a repeat of the same
    request gets the first answer again (see ``exchange.trading.idempotency``)."""
    require(identity, "access-request:create")
    if idempotency_key is None:
        return 201, view(_create(identity, body, None))
    key = idempotency.parse_key(idempotency_key)
    replay = idempotency.claim(identity.org_id, key, idempotency.fingerprint("POST", REQUESTS_PATH, body))
    if replay is not None:
        return replay.status, replay.body
    try:
        return 201, view(_create(identity, body, key))
    except Problem as refusal:  # the key's answer, replayed unchanged
        idempotency.record_refusal(identity.org_id, key, refusal.status, body_of(refusal))
        raise
    except Exception:
        idempotency.release(identity.org_id, key)  # failed, not refused: no answer to keep
        raise


def _create(identity: Identity, body: object, key: str | None) -> AccessRequest:
    """A pending request; 409 when nothing holds the target back from the caller's organisation or a
    pending request for it already exists."""
    asked = load_or_problem(AccessRequestCreateSchema(), body)
    asking = dataclasses.replace(identity, extra={**identity.extra, "purpose": asked["purpose"]})
    items, field, provider = _target(asking, asked)
    if provider == identity.org_id:
        raise _bad(field, "this is your own organisation's: there is nothing to ask")
    held, approved = _held(asking, items)
    if not held:
        raise Conflict("Your organisation already has access: an approved request covers this." if approved else
                       "Nothing to ask: no sharing policy holds this back from your organisation.")
    item_key = items[0].key if field == "product_id" else None
    collection_id = asked.get("collection_id")
    now = utcnow()
    with unit_of_work() as uow:
        hold_sqlite_write_lock(Organisation.id, Organisation.id == identity.org_id)
        db.session.scalar(select(Organisation.id).where(Organisation.id == identity.org_id).with_for_update())
        if db.session.scalar(select(AccessRequest.id).where(
                AccessRequest.org_id == identity.org_id, AccessRequest.state == State.pending,
                AccessRequest.expires_at > now, AccessRequest.item_key == item_key if item_key else
                AccessRequest.collection_id == collection_id).limit(1)):
            raise Conflict("Your organisation already has a pending request for this; wait for the decision "
                           "or withdraw it.")
        request = AccessRequest(id=uuid.uuid4(), org_id=identity.org_id, requested_by=identity.user_id,
                                provider_org_id=provider, item_key=item_key, collection_id=collection_id,
                                purpose=asked["purpose"], message=asked["message"], state=State.pending,
                                created_at=now, expires_at=now + timedelta(days=PENDING_DAYS))
        db.session.add(request)
        db.session.flush()
        _changed(uow, identity, request, "created", provider,
                 f"Access request from {_org_name(identity.org_id)} for {_what(request)}")
        if key is not None:
            idempotency.record(identity.org_id, key, 201, view(request))
    return request


# -- reading ------------------------------------------------------------------------------------------
def shown_state(request: AccessRequest, now=None) -> str:
    """The state as the API shows it: an overdue pending request is expired, marked or not."""
    if request.state is State.pending and request.expires_at <= (now or utcnow()):
        return State.expired.value
    return request.state.value


def view(request: AccessRequest) -> dict:
    return {"id": str(request.id), "state": shown_state(request), "org_id": str(request.org_id),
            "provider_org_id": str(request.provider_org_id), "product_id": request.item_key,
            "collection_id": request.collection_id, "purpose": request.purpose, "message": request.message,
            "requested_by": str(request.requested_by) if request.requested_by else None,
            "created_at": request.created_at.isoformat(), "expires_at": request.expires_at.isoformat(),
            "decided_at": request.decided_at.isoformat() if request.decided_at else None,
            "reason": request.reason, "conditions": request.conditions,
            "valid_until": request.valid_until.isoformat() if request.valid_until else None,
            "entitlement_id": str(request.entitlement_id) if request.entitlement_id else None,
            "quote_id": str(request.quote_id) if request.quote_id else None}


def _state_filter(state: str, now):
    overdue = and_(AccessRequest.state == State.pending, AccessRequest.expires_at <= now)
    if state == "pending":
        return and_(AccessRequest.state == State.pending, AccessRequest.expires_at > now)
    if state == "expired":
        return or_(AccessRequest.state == State.expired, overdue)
    return AccessRequest.state == State(state)


def list_requests(identity: Identity, *, state: str | None, side: str | None, after: str | None,
                  limit: int) -> tuple[list[dict], str | None]:
    """The requests the caller may see, newest first: its organisation's own and those to it
    (``side`` narrows to one), every one for administrators."""
    query = select(AccessRequest).where(query_filter(identity, "access-request:read", AccessRequest))
    if side == "requester":
        query = query.where(AccessRequest.org_id == identity.org_id)
    elif side == "provider":
        query = query.where(AccessRequest.provider_org_id == identity.org_id)
    if state:
        query = query.where(_state_filter(state, utcnow()))
    rows, more = paging.cut(list(db.session.scalars(page_after(query, AccessRequest, after).limit(limit + 1))), limit)
    return [view(r) for r in rows], (cursor(rows[-1]) if more else None)


def get_request(identity: Identity, request_id: uuid.UUID) -> AccessRequest:
    """One request either side may read; another organisation's reads as absent (404)."""
    request = db.session.get(AccessRequest, request_id)
    require_own(identity, "access-request:read", request, "access request", request_id)
    return request


# -- decisions ----------------------------------------------------------------------------------------
def _pending(request_id: uuid.UUID) -> AccessRequest:
    """The request, locked, if it is still pending (else 409 naming its state)."""
    hold_sqlite_write_lock(AccessRequest.state, AccessRequest.id == request_id)
    request = db.session.scalar(select(AccessRequest).where(AccessRequest.id == request_id).with_for_update()
                                .execution_options(populate_existing=True))
    if shown_state(request) != State.pending.value:
        raise Conflict(f"This access request is {shown_state(request)}; only a pending one can change.")
    return request


def _granted_products(request: AccessRequest, requester: Identity) -> list[Item]:
    """What an approval grants: the products of the target the requester may discover now (a policy
    written since the request may hide some; those are never licensed)."""
    if request.item_key is not None:
        item = db.session.get(Item, request.item_key)
        products = [item] if item is not None and decide(requester, "item:read", item) else []
    else:
        products = _products(requester, request.collection_id)
    if not products:
        raise Conflict("Nothing of what was asked for may be seen by the requesting organisation any more: "
                       "reject the request.")
    return products


def _requesting_org(request: AccessRequest) -> Identity:
    """The requesting organisation as any member of it sees products (with the request's purpose)."""
    return evaluation.member_of(db.session.get(Organisation, request.org_id), request.purpose)


def _requester(request: AccessRequest) -> Identity:
    """The requesting member, as whom a priced approval is quoted (with the request's purpose)."""
    user = db.session.get(User, request.requested_by) if request.requested_by else None
    if user is None or user.org_id != request.org_id:
        raise Conflict("The member who asked is no longer in the organisation: approve it free, or reject it.")
    member = identity_of(user)
    return dataclasses.replace(member, extra={**member.extra, "purpose": request.purpose})


def _grant_free(request: AccessRequest, conditions: dict, template, now) -> None:
    products = _granted_products(request, _requesting_org(request))
    for item in products:
        entitlement = Entitlement(
            id=uuid.uuid4(), org_id=request.org_id, provider_org_id=item.provider_org_id, item_key=item.key,
            collection_id=item.collection_id, item_id=item.item_id, license=fulfilment.license_snapshot(template),
            valid_from=now, valid_until=request.valid_until, downloads_per_asset=conditions["downloads_per_asset"],
            bytes_allowed=conditions["bytes_allowed"], created_at=now)
        db.session.add(entitlement)
        request.entitlement_id = request.entitlement_id or entitlement.id


def _quote(request: AccessRequest, offer_id: uuid.UUID) -> None:
    offer = db.session.get(Offer, offer_id)
    if offer is None or offer.provider_org_id != request.provider_org_id:
        raise _bad("price.offer_id", f"no offer {offer_id} of the provider's", "The approval cannot be made.")
    requester = _requester(request)
    lines = [{"product_id": item.key, "offer_id": offer_id} for item in _granted_products(request, requester)]
    try:
        quote = quotes.create_quote(requester, lines)
    except ValidationProblem as problem:
        raise ValidationProblem("The offer cannot be quoted to the requester.", errors=[
            {"field": "price.offer_id", "message": error["message"]} for error in problem.errors or []]) from None
    request.quote_id = quote.id


def approve(identity: Identity, request_id: uuid.UUID, body: object) -> AccessRequest:
    """Approve a pending request with conditions: free (an entitlement per product) or priced (a quote
    for the requester on the provider's offer)."""
    request = get_request(identity, request_id)
    require(identity, "access-request:decide", request)
    conditions = load_or_problem(ApproveSchema(), body)
    template = None
    if conditions["price"] == "free":
        template = templates.by_ref(conditions["license"] or DEFAULT_LICENSE)
        if template is None:
            raise _bad("license", f"no licence template {conditions['license']!r} (code@version)",
                       "The approval cannot be made.")
    elif conditions["license"] is not None:
        raise _bad("license", "a priced approval carries the offer's licence", "The approval cannot be made.")
    now = utcnow()
    with unit_of_work() as uow:
        request = _pending(request.id)
        request.state, request.decided_at, request.decided_by = State.approved, now, identity.user_id
        days = conditions["duration_days"]
        request.valid_until = None if days is None else now + timedelta(days=days)
        price = conditions["price"]
        request.conditions = {**{k: v for k, v in conditions.items() if k != "license"},
                              "price": price if price == "free" else {"offer_id": str(price["offer_id"])},
                              "license": template.ref if template else None}
        db.session.flush()  # the approval lifts the hold for what follows (the quote's own checks)
        if template is not None:
            _grant_free(request, conditions, template, now)
        else:
            _quote(request, price["offer_id"])
        _changed(uow, identity, request, "approved", request.org_id,
                 f"Your access request for {_what(request)} was approved")
    return request


def reject(identity: Identity, request_id: uuid.UUID, body: object) -> AccessRequest:
    """Reject a pending request, with the reason the requester is shown."""
    request = get_request(identity, request_id)
    require(identity, "access-request:decide", request)
    reason = load_or_problem(RejectSchema(), body)["reason"]
    with unit_of_work() as uow:
        request = _pending(request.id)
        request.state, request.decided_at, request.decided_by, request.reason = State.rejected, utcnow(), \
            identity.user_id, reason
        _changed(uow, identity, request, "rejected", request.org_id,
                 f"Your access request for {_what(request)} was rejected")
    return request


def withdraw(identity: Identity, request_id: uuid.UUID) -> AccessRequest:
    """The requesting organisation takes back its pending request."""
    request = get_request(identity, request_id)
    require(identity, "access-request:withdraw", request)
    with unit_of_work() as uow:
        request = _pending(request.id)
        request.state, request.decided_at, request.decided_by = State.withdrawn, utcnow(), identity.user_id
        _changed(uow, identity, request, "withdrawn", request.provider_org_id,
                 f"{_org_name(request.org_id)} withdrew its access request for {_what(request)}")
    return request


def expire_overdue(limit: int = 500) -> int:
    """Mark the pending requests past their ``expires_at`` expired (the beat task); how many."""
    now = utcnow()
    ids = list(db.session.scalars(select(AccessRequest.id).where(
        AccessRequest.state == State.pending, AccessRequest.expires_at <= now).limit(limit)))
    db.session.rollback()
    for request_id in ids:
        with unit_of_work() as uow:
            request = db.session.scalar(select(AccessRequest).where(
                AccessRequest.id == request_id, AccessRequest.state == State.pending).with_for_update())
            if request is None:  # decided meanwhile
                continue
            request.state = State.expired
            _changed(uow, SYSTEM, request, "expired", request.org_id,
                     f"Your access request for {_what(request)} expired without a decision")
    return len(ids)


# -- recording a change -------------------------------------------------------------------------------
def _org_name(org_id) -> str:
    org = db.session.get(Organisation, org_id)
    return org.name if org else str(org_id)


def _what(request: AccessRequest) -> str:
    return f"product {request.item_key}" if request.item_key is not None else f"collection {request.collection_id!r}"


def _changed(uow, actor: Identity, request: AccessRequest, change: str, told_org, subject: str) -> None:
    """Audit the change and notify ``told_org`` (row and webhook), in the current transaction."""
    event = f"access_request.{change}"
    audit.record(event, actor_user_id=actor.user_id, actor_org_id=actor.org_id, object_type="access_request",
                 object_id=request.id, details={"state": request.state.value, "org_id": str(request.org_id),
                                                "provider_org_id": str(request.provider_org_id),
                                                "conditions": request.conditions, "reason": request.reason})
    notify(uow, told_org, event, subject, {"access_request_id": str(request.id), "state": request.state.value,
                                           "product_id": request.item_key, "collection_id": request.collection_id})
