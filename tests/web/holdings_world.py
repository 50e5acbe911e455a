"""What the holdings pages' tests set up, through the services the API calls: a provider with a
product (a stored data file) on sale, a buyer organisation that tops up, quotes and orders it (so it
holds a licence), downloads recorded by the metering gateway, and a require_approval policy."""
from __future__ import annotations

import hashlib
import io
import uuid
from dataclasses import dataclass

from sqlalchemy import select

from auth import service
from auth.models import User
from auth.policies import identity_of
from exchange.catalog import batches, transactions
from exchange.catalog.models import Item, ItemStatus
from exchange.core.db import db, unit_of_work
from exchange.ingest.models import AssetState, ProductAsset
from exchange.licensing import offers
from exchange.metering import gateway
from exchange.metering.quotas import RequestMeta
from exchange.policy import SYSTEM
from exchange.sharing import service as sharing
from exchange.trading import orders, quotes, wallets
from storage.objectstore import get_store
from tests.conftest import add_user

SCRIPT_TITLE = "<script>alert(1)</script>"
DATA = b"satellite scene bytes " * 50  # 1100 bytes


@dataclass
class World:
    provider: str
    buyer: str
    collection: str
    products: dict  # item id -> product id


def _user(email: str) -> User:
    return service.find_user(email)


def product_doc(item_id: str, collection: str, title: str) -> dict:
    return {"type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": collection,
            "geometry": {"type": "Polygon", "coordinates": [[[10, 0], [11, 0], [11, 1], [10, 1], [10, 0]]]},
            "bbox": [10, 0, 11, 1], "links": [],
            "properties": {"datetime": "2026-06-01T10:00:00Z", "gsd": 10, "title": title},
            "assets": {"data": {"href": "scene.tif", "type": "image/tiff", "roles": ["data"]},
                       "thumbnail": {"href": "thumb.png", "type": "image/png", "roles": ["thumbnail"]}}}


def build(prefix: str, buyer_email: str, titles: dict[str, str]) -> World:
    """A provider ``{prefix}-sat`` whose collection holds ``titles`` (item id → title), each published
    with a stored data file (in the real S3 store). Call inside an app context; ``buyer_email``'s
    user must exist."""
    provider_email = f"provider@{prefix}.example"
    add_user(provider_email, roles=("provider",), org=f"{prefix} Sat", kind="provider")
    provider = _user(provider_email)
    collection = f"{prefix}-scenes"
    transactions.create_collection(SYSTEM, {"id": collection, "description": "Scenes"}, owner_org_id=provider.org_id)
    docs = [product_doc(item_id, collection, title) for item_id, title in titles.items()]
    batches.bulk_write(SYSTEM, collection, docs, method="insert", status=ItemStatus.published)
    products = {}
    store = get_store()
    with unit_of_work():
        for item in db.session.scalars(select(Item).where(Item.collection_id == collection)):
            key = f"{collection}/{item.item_id}/data/scene.tif"
            store.client.put_object(store.products_bucket, key, io.BytesIO(DATA), len(DATA), content_type="image/tiff")
            db.session.add(ProductAsset(item_key=item.key, asset_key="data", state=AssetState.ready,
                                        filename="scene.tif", media_type="image/tiff", roles=["data"], size=len(DATA),
                                        sha256=hashlib.sha256(DATA).hexdigest(), object_key=key))
            products[item.item_id] = item.key
    return World(provider_email, buyer_email, collection, products)


def top_up(email: str, amount: int, currency: str = "EUR", reference: str = "bank transfer 42") -> None:
    wallets.top_up(SYSTEM, _user(email).org_id, {"amount": amount, "currency": currency, "reference": reference})


def license_product(world: World, item_id: str, price: int = 1500) -> str:
    """The provider offers the product (per scene, EUR) and the buyer quotes and orders it, as the
    API's calls do: the licence's id."""
    provider, buyer = identity_of(_user(world.provider)), identity_of(_user(world.buyer))
    offer = offers.create_offer(provider, {"product_id": world.products[item_id], "license": "commercial-single-org@1",
                                           "pricing": {"model": "per_scene", "price": price, "currency": "EUR"}})
    quote = quotes.create_quote(buyer, [{"product_id": world.products[item_id], "offer_id": offer.id}])
    accepted = sorted(quotes.licenses_of(quote))
    status, order = orders.place_order(buyer, {"quote_id": quote.id, "accept_licenses": accepted}, str(uuid.uuid4()))
    assert status == 201 and order["license_ids"], order
    return order["license_ids"][0]


def download(world: World, item_id: str, email: str | None = None) -> int:
    """One whole download of the product's data file through the metering gateway, as the buyer: the
    bytes received (the gateway records and settles it when the body ends)."""
    identity = identity_of(_user(email or world.buyer))
    meta = RequestMeta(method="GET", via="gateway", client_id=None, client_hash=None, user_agent="test")
    answer = gateway.download(identity, world.collection, item_id, "data", gateway.Wanted(meta=meta))
    return sum(len(chunk) for chunk in answer.body)


def hold_back(world: World) -> None:
    """A require_approval policy on the provider's collection (license and download)."""
    sharing.create_policy(SYSTEM, {"name": "needs approval", "target": {"collections": [world.collection]},
                                   "actions": ["license", "download"], "effect": "require_approval"}, own=False)
