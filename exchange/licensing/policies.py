"""Licensing's rules: licence templates (public to read, admins write), offers (providers on their
own products and collections, admins on any; read by whoever may read what they are on), entitlements
(their holder, the product's provider, admins), and the licence grant of ``asset:download``;
licence-scoped tokens (RFC 9396): which licences a token may name, and that it downloads nothing else.

Registered when this module is imported, which the domain's ``init_app`` does.
"""
from __future__ import annotations

from sqlalchemy import or_, select

from auth.models import Role
import exchange.catalog.policies  # noqa: F401  (registers asset:download, which is extended below)
from exchange.catalog.models import Collection, Item
from exchange.core.db import db
from exchange.licensing.entitlements import usable_entitlement
from exchange.licensing.models import Entitlement
from exchange.policy import Grant, Identity, Rule, decide, extend, owner_org, query_filter, register, restrict
from exchange.policy.rules import Decision, deny


def _admin(identity: Identity) -> bool:
    return identity.acts_as(Role.admin)


def _provider(identity: Identity) -> bool:
    return identity.acts_as(Role.provider)


register("license-template:read", Rule(
    signed_in=False, active_org=False,
    grants=(Grant("public", "licence templates are public: anyone may read the terms before buying"),)))

register("license-template:write", Rule(
    roles=frozenset({Role.admin}), roles_refused=("role-admin", "only administrators write licence templates"),
    scope="admin:policies", grants=(Grant("role-admin", "administrators write licence templates"),)))

# Selling: a provider (role and catalog:write) on a product or collection its organisation owns, or
# on an offer it made; admins on any. Asked with the product, the collection or the offer.
register("offer:write", Rule(
    roles=frozenset({Role.provider, Role.admin}), roles_refused=("role-provider", "only providers sell products"),
    scope="catalog:write", needs_resource=True,
    grants=(Grant("ownership", "providers sell their organisation's products",
                  test=lambda i, resource: owner_org(resource) == i.org_id),
            Grant("role-admin", "administrators manage every offer", who=lambda i: Role.admin in i.roles)),
    refused=("ownership", "this belongs to another organisation")))


def _target_visible(identity: Identity, offer) -> bool:
    if offer.item_key is not None:
        item = db.session.get(Item, offer.item_key)
        return item is not None and bool(decide(identity, "item:read", item))
    collection = db.session.get(Collection, offer.collection_id)
    return collection is not None and bool(decide(identity, "collection:read", collection))


def _targets_visible(identity: Identity, offers):
    return or_(offers.item_key.in_(select(Item.key).where(query_filter(identity, "item:read", Item))),
               offers.collection_id.in_(select(Collection.id).where(query_filter(identity, "collection:read",
                                                                                 Collection))))


# An offer is read by whoever may read its product or collection, unless withdrawn; its provider
# sees its withdrawn ones too, admins all.
register("offer:read", Rule(
    signed_in=False, active_org=False, needs_resource=True,
    grants=(Grant("role-admin", "administrators see every offer", who=_admin),
            Grant("ownership", "providers see their organisation's offers", who=_provider,
                  test=lambda i, offer: offer.provider_org_id == i.org_id,
                  where=lambda i, offers: offers.provider_org_id == i.org_id),
            Grant("visible", "the offer is on a product or collection you may see",
                  test=lambda i, offer: offer.withdrawn_at is None and _target_visible(i, offer),
                  where=lambda i, offers: offers.withdrawn_at.is_(None) & _targets_visible(i, offers))),
    refused=("not-visible", "this offer is withdrawn or on something you may not see")))

# Licences: the licensee organisation's members, the provider of the product, admins; licenses:read.
register("entitlement:read", Rule(
    scope="licenses:read", needs_resource=True,
    grants=(Grant("role-admin", "administrators see every licence", who=_admin),
            Grant("licensee", "your organisation holds this licence",
                  test=lambda i, e: e.org_id == i.org_id, where=lambda i, e: e.org_id == i.org_id),
            Grant("provider", "this licence was granted on your organisation's product", who=_provider,
                  test=lambda i, e: e.provider_org_id == i.org_id,
                  where=lambda i, e: e.provider_org_id == i.org_id)),
    refused=("ownership", "this licence belongs to another organisation")))

# Downloads: besides the product's own organisation, a member of an organisation holding a usable
# licence on the product (active, within its validity, bytes left), with a data:download token.
extend("asset:download",
       Grant("license", "your organisation holds a usable licence for this product",
             who=lambda i: i.org_id is not None and i.has_scope("data:download"),
             test=lambda i, item: usable_entitlement(i.org_id, item.key) is not None),
       refused=("license", "your organisation holds no usable licence for this product (none, expired, "
                           "revoked or its allowance used up), or the token lacks data:download"))


# A licence-scoped token (RFC 9396 sdx_license details) names only its organisation's licences, and
# downloads only under them: whichever grant allowed (licence, owner, admin), one of its licences
# must cover the product with allowance left.
register("license:scope-token", Rule(
    needs_resource=True,
    grants=(Grant("licensee", "your organisation holds this licence",
                  test=lambda i, license_id: db.session.scalar(
                      select(Entitlement.org_id).where(Entitlement.id == license_id)) == i.org_id),),
    refused=("ownership", "this licence is not your organisation's")))


def _within_token_licences(identity: Identity, item) -> Decision | None:
    if identity.license_ids is None or usable_entitlement(identity.org_id, item.key,
                                                          license_ids=identity.license_ids) is not None:
        return None
    return deny("license-scope", "this token is scoped to licences (authorization_details of type sdx_license) "
                                 "none of which covers this product with allowance left")


restrict("asset:download", _within_token_licences)
