"""The catalogue's rules: who discovers and reads items and collections, and who writes them.

Reading has both forms: ``decide(identity, "item:read", item)`` for one item and
``query_filter(identity, "item:read", Item)`` for search and lists (likewise "collection:read").
Registered when this module is imported, which the domain's ``init_app`` does.
"""
from __future__ import annotations

from sqlalchemy import exists, select

from auth.models import Role
from exchange.catalog.models import Item, ItemStatus
from exchange.core.db import db
from exchange.policy import Grant, Identity, Rule, owner_org, register


def _admin(identity: Identity) -> bool:
    return identity.acts_as(Role.admin)


def _provider(identity: Identity) -> bool:
    return identity.acts_as(Role.provider)



def _holds_published(collection) -> bool:
    return bool(db.session.scalar(select(exists().where(Item.collection_id == collection.id,
                                                        Item.status == ItemStatus.published))))


def _published_item_in(collections):
    """EXISTS a published item of the collection: stops at the first row on ix_items_collection_dt."""
    return exists().where(Item.collection_id == collections.id, Item.status == ItemStatus.published)


# Published items are public metadata; providers also see their own organisation's, admins all.
register("item:read", Rule(
    signed_in=False, active_org=False, needs_resource=True,
    grants=(Grant("published", "published items are public metadata",
                  test=lambda i, item: item.status is ItemStatus.published,
                  where=lambda i, items: items.status == ItemStatus.published),
            Grant("role-admin", "administrators see every item", who=_admin),
            Grant("ownership", "providers see their own unpublished items", who=_provider,
                  test=lambda i, item: item.provider_org_id == i.org_id,
                  where=lambda i, items: items.provider_org_id == i.org_id)),
    refused=("unpublished", "this item is not published")))

# A collection is discovered through its published items; a provider also sees its own, admins all.
register("collection:read", Rule(
    signed_in=False, active_org=False, needs_resource=True,
    grants=(Grant("role-admin", "administrators see every collection", who=_admin),
            Grant("ownership", "providers see their own collections", who=_provider,
                  test=lambda i, collection: collection.owner_org_id == i.org_id,
                  where=lambda i, collections: collections.owner_org_id == i.org_id),
            Grant("published", "the collection holds published items",
                  test=lambda i, collection: _holds_published(collection),
                  where=lambda i, collections: _published_item_in(collections))),
    refused=("unpublished", "this collection holds no published item")))


def _write(scope: str = "catalog:write") -> Rule:
    """Catalogue writes: a provider (role and scope) on what their organisation owns; admins on any."""
    return Rule(roles=frozenset({Role.provider, Role.admin}),
                roles_refused=("role-provider", "only providers publish to the catalogue"), scope=scope,
                grants=(Grant("provider", "providers manage their organisation's catalogue",
                              test=lambda i, resource: owner_org(resource) == i.org_id),
                        Grant("provider", "administrators manage every catalogue",
                              who=lambda i: Role.admin in i.roles)),
                refused=("ownership", "this belongs to another organisation"))


for _action in ("catalog:create-collection", "catalog:write-collection", "catalog:write-item"):
    register(_action, _write())


def _downloader(role: Role):
    """``role`` with a token for downloading: data:download (catalog:write, which manages the files, too)."""
    return lambda i: role in i.roles and (i.has_scope("data:download") or i.has_scope("catalog:write"))


# A product's data files go to its own organisation's providers and to admins.
# The roles and scope are the grants' own, not the rule's, so that licensing can add "your
# organisation holds a licence for this product" (exchange.policy.extend) for buyers.
register("asset:download", Rule(
    needs_resource=True,
    grants=(Grant("provider", "providers download their organisation's products", who=_downloader(Role.provider),
                  test=lambda i, item: owner_org(item) == i.org_id),
            Grant("provider", "administrators download every product", who=_downloader(Role.admin))),
    refused=("ownership", "this belongs to another organisation")))

# Importing items with a status other than the importer's default: the console operator only.
register("catalog:set-status", Rule(grants=(), refused=("console", "only the console operator sets item statuses")))
