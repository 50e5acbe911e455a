"""``properties["sdx:offers"]``: the offers on sale for each rendered STAC item, so that any STAC
client sees what can be bought and for how much.

The catalogue does not import licensing: it sends ``hooks.items_rendered`` once per page, and this
module answers it with one query for the whole page (``availability.offer_summaries``: the offers
``active_offers`` would choose, as light rows). An item with nothing on sale carries no ``sdx:offers``.
"""
from __future__ import annotations

from exchange.catalog import hooks
from exchange.catalog.search import SearchError
from exchange.licensing.availability import offer_summaries, on_sale_with_model
from exchange.licensing.models import PricingModel


def connect() -> None:
    """Answer the catalogue's rendering and search hooks (connecting twice is harmless)."""
    hooks.items_rendered.connect(add_offers)
    hooks.search_condition.connect(price_model_condition)


def price_model_condition(name: str, *, value: list[str]):
    """A search's ``price_model`` (one or more of free, per_scene, per_km2, per_gb): the items with
    an offer on sale priced that way, as SQL; None for a parameter licensing does not answer."""
    if name != "price_model":
        return None
    known = {model.value for model in PricingModel}
    unknown = [model for model in value if model not in known]
    if unknown:
        raise SearchError(f"price_model {unknown[0]!r} is not one of {', '.join(sorted(known))}")
    return on_sale_with_model({PricingModel(model) for model in value})


def summary(offer) -> dict:
    """An offer (a row of ``offer_summaries``) as an item carries it: enough to choose one and ask for a quote."""
    shown = {"id": str(offer.id), "license": f"{offer.code}@{offer.version}", "model": offer.pricing_model.value,
             "price": offer.price, "currency": offer.currency}
    if offer.pricing_model is PricingModel.per_km2:
        shown["min_km2"] = offer.min_km2
    elif offer.pricing_model is PricingModel.per_gb:
        shown["gb"] = offer.gb
    if offer.discounts:
        shown["discounts"] = offer.discounts
    return shown


def add_offers(rows, *, documents: list[dict]) -> None:
    offers = offer_summaries(rows)
    shown: dict = {}  # a collection's offer is on many items of a page: summarised once, copied to each
    for row, doc in zip(rows, documents):
        on_sale = offers.get(row.key)
        if on_sale:
            for offer in on_sale:
                if offer.id not in shown:
                    shown[offer.id] = summary(offer)
            doc["properties"]["sdx:offers"] = [dict(shown[offer.id]) for offer in on_sale]
