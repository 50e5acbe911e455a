"""Demo offers and money, so that a newcomer signed in as ``buyer@sdx.example`` can find, license
and download a product on the embedded default without calling the API first.

The offers go on the demo products metering stores a data file for (the first NAIP products, found
by the same search, so the order in which the two seeders run does not matter): one per price model
a buyer meets, each under one of the licence templates every database starts with. The demo buyer's
CNY wallet gets one top-up, as an administrator's would be. Each is written once: a product that
has an offer of its own and a wallet that had the demo top-up are left as they are.
"""
from __future__ import annotations

from sqlalchemy import select

from auth import service as accounts
from exchange.catalog.search import build_request
from exchange.catalog.service import search
from exchange.core.db import db
from exchange.licensing import offers
from exchange.licensing.models import Offer
from exchange.metering.demo import DEMO_COLLECTION, DEMO_PRODUCTS
from exchange.policy import ANONYMOUS, SYSTEM
from exchange.trading import wallets
from exchange.trading.models import Transfer, TransferKind

DEMO_BUYER_ORG = "Demo Buyer"
TOP_UP_REFERENCE = "demo top-up"
TOP_UP = {"amount": 1_000_000, "currency": "CNY", "reference": TOP_UP_REFERENCE}  # 10,000.00 CNY
#: The offer of the first, second and third demo product: licence, and pricing in minor units.
DEMO_OFFERS = [
    {"license": "commercial-single-org@1", "pricing": {"model": "per_scene", "price": 12_000, "currency": "CNY"}},
    {"license": "research-noncommercial@1", "pricing": {"model": "per_km2", "price": 50, "currency": "CNY", "min_km2": 0}},
    {"license": "open-cc-by-4.0@1", "pricing": {"model": "free", "price": 0, "currency": "CNY"}},
]


def seed_demo_offers() -> list[str]:
    """Offer the demo products with files and fund the demo buyer, where not done yet; lines to show."""
    page = search(ANONYMOUS, build_request({"collections": DEMO_COLLECTION, "limit": str(DEMO_PRODUCTS)},
                                           from_get=True))
    offered = []
    for item, terms in zip(page.items, DEMO_OFFERS):
        if db.session.scalar(select(Offer.id).where(Offer.item_key == item.key).limit(1)) is None:
            offers.create_offer(SYSTEM, {"product_id": item.key, **terms})
            offered.append(item.item_id)
    lines = [f"demo offers (per scene, per km², free) on {', '.join(offered)}"] if offered else []
    buyer = accounts.find_org(DEMO_BUYER_ORG)
    funded = db.session.scalar(select(Transfer.id).where(Transfer.kind == TransferKind.topup,
                                                         Transfer.reference == TOP_UP_REFERENCE).limit(1))
    if buyer is not None and funded is None:
        wallets.top_up(SYSTEM, buyer.id, TOP_UP)
        lines.append(f"demo buyer's wallet topped up with {TOP_UP['amount'] // 100:,} {TOP_UP['currency']}")
    return lines
