"""A small market for the quote, order and cap tests: a provider with published products and offers
on them, buyers with funded wallets and tokens, and helpers that read back what a test must check
(rows and balances) so that every refusal can be shown to have written nothing.

Templates and offers are inserted directly (the licensing routes are another package's); wallets are
funded with the ledger's own ``transfer``, as an admin top-up does.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select

from auth import clients, service
from auth.models import OrgStatus
from exchange.catalog import batches, transactions
from exchange.catalog.models import Item, ItemStatus
from exchange.core.db import db, unit_of_work
from exchange.ingest.models import AssetState, ProductAsset
from exchange.licensing.models import Entitlement, LicenseTemplate, Offer, PricingModel
from exchange.policy import SYSTEM
from exchange.trading import ledger
from exchange.trading.models import (AccountKind, IdempotencyKey, LedgerAccount, Order, OrderLine, Posting, Quote,
                                     Transfer, TransferKind)
from tests.conftest import add_user, mint_token

BUYER_SCOPES = "catalog:read orders:read orders:write licenses:read"
#: A 1° × 1° square at the equator: about 12,309 km² on the WGS84 ellipsoid.
SQUARE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
#: The south-west quarter of it, about 3,077 km².
QUARTER = {"type": "Polygon", "coordinates": [[[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5], [0, 0]]]}
PRODUCT_BYTES = 1_000_000


def item_doc(item_id: str, geometry: dict = SQUARE) -> dict:
    return {"type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": "orders-test",
            "geometry": geometry, "bbox": [0, 0, 1, 1], "links": [], "assets": {},
            "properties": {"datetime": "2026-01-01T00:00:00Z"}}


@dataclass
class World:
    app: object
    http: object
    provider_org: uuid.UUID
    buyer_org: uuid.UUID
    products: list[int]
    tokens: dict[str, str] = field(default_factory=dict)
    template_id: int = 0

    def headers(self, who: str = "buyer", key: str | None = None) -> dict:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers

    def post(self, path: str, body: dict, who: str = "buyer", key: str | None = None):
        return self.http.post(path, json=body, headers=self.headers(who, key))

    def get(self, path: str, who: str = "buyer"):
        return self.http.get(path, headers=self.headers(who))

    # -- the market ------------------------------------------------------------------------------
    def template(self, code: str = "orders-test-commercial", **terms) -> int:
        with self.app.app_context(), unit_of_work():
            template = LicenseTemplate(code=code, version=terms.pop("version", 1), title=f"{code} licence",
                                       terms="You may use the data inside your organisation.",
                                       uses=["commercial"], duration_days=terms.pop("duration_days", 365),
                                       downloads_per_asset=terms.pop("downloads_per_asset", 2),
                                       bytes_multiple=terms.pop("bytes_multiple", 3), **terms)
            db.session.add(template)
            db.session.flush()
            return template.id

    def offer(self, product: int | None = None, *, model: str = "per_scene", price: int = 12_000,
              currency: str = "CNY", template_id: int | None = None, collection: str | None = None,
              **fields) -> uuid.UUID:
        with self.app.app_context(), unit_of_work():
            offer = Offer(provider_org_id=self.provider_org, item_key=product,
                          collection_id=collection, template_id=template_id or self.template_id,
                          pricing_model=PricingModel(model), price=price, currency=currency, **fields)
            db.session.add(offer)
            db.session.flush()
            return offer.id

    def change_offer(self, offer_id: uuid.UUID, **changes) -> None:
        with self.app.app_context(), unit_of_work():
            offer = db.session.get(Offer, offer_id)
            for name, value in changes.items():
                setattr(offer, name, value)
            offer.revision += 1

    def fund(self, amount: int, currency: str = "CNY", org: uuid.UUID | None = None) -> None:
        with self.app.app_context(), unit_of_work():
            ledger.transfer(TransferKind.topup, [
                ledger.Leg(ledger.account(AccountKind.external, currency), -amount),
                ledger.Leg(ledger.account(AccountKind.wallet, currency, org or self.buyer_org), amount)],
                reference="test top-up")

    def quote(self, *lines, who: str = "buyer") -> dict:
        response = self.post("/api/v1/quotes", {"items": list(lines)}, who)
        assert response.status_code == 201, response.text
        return response.json

    def order(self, quote: dict, key: str | None = None, accept: list[str] | None = None, who: str = "buyer"):
        return self.post("/api/v1/orders", {"quote_id": quote["id"], "accept_licenses":
                                            quote["licenses"] if accept is None else accept},
                         who, key or str(uuid.uuid4()))

    # -- what a test checks ----------------------------------------------------------------------
    def balance(self, kind: AccountKind, currency: str = "CNY", org: uuid.UUID | None = None) -> int:
        with self.app.app_context():
            found = ledger.find_account(kind, currency, org)
            return 0 if found is None else db.session.get(LedgerAccount, found.id).balance

    def counts(self) -> dict:
        """Rows of every table an order writes, and every account's balance. A key that recorded a
        refusal (to replay it) is not counted: it is the refusal's answer, not part of an order."""
        with self.app.app_context():
            rows = {model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
                    for model in (Quote, Order, OrderLine, Entitlement, Transfer, Posting)}
            rows["idempotency_keys"] = db.session.scalar(select(func.count()).select_from(IdempotencyKey).where(
                or_(IdempotencyKey.response_status.is_(None), IdempotencyKey.response_status < 400)))
            rows["balances"] = dict(db.session.execute(select(LedgerAccount.name, LedgerAccount.balance)).all())
            return rows

    def trial_balance(self) -> dict:
        with self.app.app_context():
            return dict(db.session.execute(select(LedgerAccount.currency, func.sum(LedgerAccount.balance))
                                           .group_by(LedgerAccount.currency)).all())


def _token(app, email: str, org: str, roles, kind: str, scopes: str, status=OrgStatus.active) -> str:
    with app.app_context():
        user = add_user(email, roles=roles, org=org, kind=kind, status=status)
        client, _ = clients.create_client(SYSTEM, {"name": f"client of {email}", "grant_types": ["client_credentials"],
                                                   "scope": scopes}, owner=user)
        client_id = client.client_id
    return mint_token(app, client_id, scopes)


def build_world(app, products: int = 3) -> World:
    """Provider "Orders Sat" with ``products`` published 1°-square products (each 1 MB of assets),
    buyers "Orders Buyer" (a company) and "Orders Lab" (a research institute), and an admin."""
    tokens = {
        "provider": _token(app, "provider@orders.example", "Orders Sat", ["provider"], "provider",
                           BUYER_SCOPES + " catalog:write"),
        "buyer": _token(app, "buyer@orders.example", "Orders Buyer", ["buyer"], "buyer", BUYER_SCOPES),
        "lab": _token(app, "lab@orders.example", "Orders Lab", ["buyer"], "research", BUYER_SCOPES),
        "admin": _token(app, "admin@orders.example", "Orders Platform", ["admin"], "platform",
                        BUYER_SCOPES + " admin:accounts"),
    }
    with app.app_context():
        provider_org, buyer_org = service.find_org("Orders Sat").id, service.find_org("Orders Buyer").id
        transactions.create_collection(SYSTEM, {"id": "orders-test", "description": "Orders test products"},
                                       owner_org_id=provider_org)
        result = batches.bulk_write(SYSTEM, "orders-test", [item_doc(f"scene-{n}") for n in range(products)],
                                    method="insert", status=ItemStatus.published)
        assert not getattr(result, "errors", None), result
        keys = list(db.session.scalars(select(Item.key).where(Item.collection_id == "orders-test")
                                       .order_by(Item.item_id)))
        with unit_of_work():
            for key in keys:
                db.session.add(ProductAsset(item_key=key, asset_key="data", state=AssetState.ready,
                                            filename="scene.tif", media_type="image/tiff", roles=["data"],
                                            size=PRODUCT_BYTES, sha256="0" * 64, object_key=f"orders-test/{key}"))
    world = World(app=app, http=app.test_client(), provider_org=provider_org, buyer_org=buyer_org, products=keys,
                  tokens=tokens)
    world.template_id = world.template()
    return world


def org_id(app, name: str) -> uuid.UUID:
    with app.app_context():
        return service.find_org(name).id
