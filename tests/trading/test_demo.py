"""The demo's offers and money (``sdx run`` with SDX_DEMO_DATA): the demo products metering stores
files for are offered, the demo buyer's wallet is funded, the buyer can order all three, and a
second run adds nothing."""
from __future__ import annotations

from sqlalchemy import func, select

from auth.demo import seed_demo_accounts
from auth import service
from exchange.catalog import batches, transactions
from exchange.catalog.models import ItemStatus
from exchange.catalog.search import build_request
from exchange.catalog.service import search
from exchange.core import domains
from exchange.core.db import db
from exchange.licensing.models import Offer
from exchange.policy import ANONYMOUS, SYSTEM
from exchange.trading import ledger, quotes
from exchange.trading.demo import seed_demo_offers
from exchange.trading.models import AccountKind, Transfer
from tests.conftest import identity_for
from tests.trading.orders_world import item_doc


def demo_catalogue() -> list[int]:
    """Four published NAIP products of the demo provider, in the catalogue's order (the STAC search's,
    which the demo's data files follow)."""
    owner = service.find_org("Demo Provider").id
    transactions.create_collection(SYSTEM, {"id": "naip", "description": "NAIP"}, owner_org_id=owner)
    docs = [dict(item_doc(f"naip-{n}"), collection="naip") for n in range(4)]
    batches.bulk_write(SYSTEM, "naip", docs, method="insert", status=ItemStatus.published)
    found = search(ANONYMOUS, build_request({"collections": "naip", "limit": "4"}, from_get=True))
    return [item.key for item in found.items]


def test_the_demo_offers_three_products_funds_the_buyer_once(app, tmp_path):
    with app.app_context():
        seed_demo_accounts(str(tmp_path), "http://127.0.0.1:5000/")
        keys = demo_catalogue()
        lines = seed_demo_offers()
        assert lines[0].startswith("demo offers (per scene, per km², free) on ")
        assert "demo buyer's wallet topped up with 10,000 CNY" in lines[1]
        offered = dict(db.session.execute(select(Offer.item_key, Offer.pricing_model)).all())
        assert {key: model.value for key, model in offered.items()} == {
            keys[0]: "per_scene", keys[1]: "per_km2", keys[2]: "free"}
        buyer = service.find_user("buyer@sdx.example")
        wallet = ledger.find_account(AccountKind.wallet, "CNY", buyer.org_id)
        assert wallet.balance == 1_000_000

        # The demo buyer may license each of them.
        identity = identity_for(buyer, "orders:write")
        quote = quotes.create_quote(identity, [{"product_id": key, "offer_id": offer_id} for key, offer_id in
                                               db.session.execute(select(Offer.item_key, Offer.id)).all()])
        assert [line.reason for line in quote.lines] == [None, None, None]

        rows = (db.session.scalar(select(func.count()).select_from(Offer)),
                db.session.scalar(select(func.count()).select_from(Transfer)))
        assert seed_demo_offers() == []
        assert (db.session.scalar(select(func.count()).select_from(Offer)),
                db.session.scalar(select(func.count()).select_from(Transfer))) == rows


def test_the_demo_offers_are_seeded_by_sdx_run(app):
    assert any(seed.__module__ == "exchange.trading" for seed in domains.demo_seeders(app))
