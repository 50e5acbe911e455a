"""What trading announces, for webhooks (and later the audit log) to hear without being imported.

Each is a blinker signal sent inside the unit of work that made the change (keyword ``uow``), with
the organisation the event concerns as ``org_id`` and the event's JSON-ready ``data``: a receiver
records what it needs in the same transaction and defers any I/O with ``uow.after_commit``.
"""
from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: ``order.paid``, ``order.fulfilled``, ``order.cancelled``, ``order.refunded``,
#: ``entitlement.granted``, ``entitlement.refunded``: the event type is the signal's name.
order_paid = _signals.signal("order.paid")
order_fulfilled = _signals.signal("order.fulfilled")
order_cancelled = _signals.signal("order.cancelled")
order_refunded = _signals.signal("order.refunded")
entitlement_granted = _signals.signal("entitlement.granted")
entitlement_refunded = _signals.signal("entitlement.refunded")
#: Sharing's access requests (sent by ``exchange.sharing.notifications``): a new request to the
#: provider's organisation; a decision, a withdrawal or an expiry to the side that did not make it.
access_request_created = _signals.signal("access_request.created")
access_request_approved = _signals.signal("access_request.approved")
access_request_rejected = _signals.signal("access_request.rejected")
access_request_withdrawn = _signals.signal("access_request.withdrawn")
access_request_expired = _signals.signal("access_request.expired")

EVENTS = (order_paid, order_fulfilled, order_cancelled, order_refunded, entitlement_granted, entitlement_refunded,
          access_request_created, access_request_approved, access_request_rejected, access_request_withdrawn,
          access_request_expired)


def announce(signal, *, uow, org_id, data: dict) -> None:
    """Send ``signal`` for one organisation (call it once per organisation concerned)."""
    signal.send(None, uow=uow, org_id=org_id, data=data)
