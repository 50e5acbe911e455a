"""What the catalogue asks of the domains that keep a product's files, without importing them.

The catalogue owns items; other domains (ingest, licensing, sharing) keep records and objects that
belong to an item, or rules about how it is shown. The catalogue sends these blinker signals, with the item as sender, and the domains connect
to them in their ``init_app``. With nobody connected, an item simply has no stored files.
"""
from __future__ import annotations

from typing import Any

from blinker import Namespace

_signals = Namespace()

#: An item is being deleted, inside the deletion's unit of work (keyword ``uow``): a receiver deletes
#: its rows now and registers the removal of its objects with ``uow.after_commit``.
item_deleting = _signals.signal("item-deleting")
#: Why the item cannot be published yet: each receiver returns a list of reasons (empty: none).
publish_blockers = _signals.signal("publish-blockers")
#: Which of the item's asset keys name a file the platform stores: each receiver returns a set.
stored_asset_keys = _signals.signal("stored-asset-keys")
#: The item's preview image (PNG bytes), or None.
item_preview = _signals.signal("item-preview")
#: A page of items was rendered (sender: the item rows; keyword ``documents``: their STAC dicts, in
#: the same order, before the fields extension cuts them): a receiver may add to each document's
#: ``properties`` (a copy the renderer made), in one query for the whole page.
items_rendered = _signals.signal("items-rendered")
#: Which of a page of items (sender: the rows, each already allowed by "item:read"; keyword
#: ``identity``) the caller may see only coarsened — footprint snapped to a 0.1° grid, no preview
#: assets, no thumbnail: each receiver returns ``{item key: the refusing Decision}``, in one query
#: for the whole page (the sharing policies' "view_footprint" answers it).
footprints_withheld = _signals.signal("footprints-withheld")
#: A search filters on something another domain keeps (sender: the parameter's name, e.g.
#: ``price_model``; keyword ``value``: its value as sent): the receiver that knows the name returns an
#: SQL condition on ``Item`` (part of the query, so paging and counts stay exact), others None.
search_condition = _signals.signal("search-condition")


def first_answer(signal, sender: Any, **kwargs: Any) -> Any:
    """The first answer other than None that a receiver of ``signal`` gives, else None."""
    for _receiver, answer in signal.send(sender, **kwargs):
        if answer is not None:
            return answer
    return None


def all_answers(signal, sender: Any, **kwargs: Any) -> list:
    """Every receiver's answer, in the order they connected."""
    return [answer for _receiver, answer in signal.send(sender, **kwargs)]
