"""The files of a catalogue item: its preview (downloads are metering's gateway).

The catalogue finds the item (404 for whoever may not see it); the domain that stores its files
(ingest) answers through the hooks in ``exchange.catalog.hooks``.
"""
from __future__ import annotations

from exchange.policy import Identity
from exchange.policy.decision_point import forbidden
from exchange.catalog import hooks
from exchange.catalog.service import get_item, withheld_footprints
from exchange.core.problems import NotFound


def thumbnail(identity: Identity, collection_id: str, item_id: str) -> bytes:
    """The preview ingest made of a product, for whoever may see the product and its footprint (else
    403 naming the rule and policy that withheld it)."""
    item = get_item(identity, collection_id, item_id)
    refusal = withheld_footprints(identity, [item]).get(item.key)
    if refusal is not None:
        raise forbidden(refusal)
    png = hooks.first_answer(hooks.item_preview, item)
    if png is None:
        raise NotFound(f"Item {item_id!r} has no preview.")
    return png
