"""Sharing's rules for the decision point: who writes and reads policies, access requests and the
audit log, and — through ``exchange.policy.restrict`` and ``extend`` — how the sharing policies
take part in other domains' decisions (discover, view a footprint, license, download).

Registered when this module is imported, which the domain's ``init_app`` does. Each part keeps its
rules in one block below.
"""
from __future__ import annotations

import exchange.catalog.policies  # noqa: F401  (registers the catalogue's actions, restricted below)
import exchange.licensing.policies  # noqa: F401  (extends asset:download, restricted below)
from sqlalchemy import exists, or_, select, true

from auth.models import Role
from exchange.catalog.models import Item, ItemStatus
from exchange.core.db import db
from exchange.policy import Grant, Identity, Rule, extend, owner_org, register, restrict
from exchange.policy.rules import Decision
from exchange.sharing import evaluation, footprints


# -- policies: writing, reading, dry-run, explanations --------------------------------------------------
# The platform's policies: administrators with admin:policies.
register("sharing-policy:administer", Rule(
    roles=frozenset({Role.admin}), roles_refused=("role-admin", "only administrators write platform policies"),
    scope="admin:policies", grants=(Grant("role-admin", "administrators write sharing policies"),)))
# A provider's own policies, asked with the policy or with each collection it targets: the provider's
# organisation's, with catalog:write (asked with none, before a new policy: the role and scope).
register("sharing-policy:write-own", Rule(
    roles=frozenset({Role.provider}), roles_refused=("role-provider", "only providers write policies on their "
                                                                      "collections"),
    scope="catalog:write",
    grants=(Grant("ownership", "providers share their organisation's collections",
                  test=lambda i, resource: owner_org(resource) == i.org_id),),
    refused=("ownership", "this belongs to another organisation")))
# Reading: administrators (admin:policies) read every policy, the platform's and providers', and
# dry-run drafts against the active set; a provider (catalog:write) reads and dry-runs its own
# organisation's policies only (lists filtered in SQL, another's reads as absent).
register("sharing-policy:read-all", Rule(
    roles=frozenset({Role.admin}), roles_refused=("role-admin", "only administrators read every policy"),
    scope="admin:policies", grants=(Grant("role-admin", "administrators read every sharing policy"),)))
register("sharing-policy:read-own", Rule(
    roles=frozenset({Role.provider}), roles_refused=("role-provider", "only providers have policies of their own"),
    scope="catalog:write",
    grants=(Grant("ownership", "providers read their organisation's policies",
                  test=lambda i, policy: policy.owner_org_id is not None and policy.owner_org_id == i.org_id,
                  where=lambda i, policies: policies.owner_org_id == i.org_id),),
    refused=("ownership", "this belongs to another organisation")))
# Explanations: any signed-in caller about its own organisation; administrators about any.
register("decision:explain", Rule(grants=(Grant("member", "anyone may ask why they may or may not do something"),)))
register("decision:explain-for-org", Rule(
    roles=frozenset({Role.admin}), roles_refused=("role-admin", "only administrators ask about another organisation"),
    grants=(Grant("role-admin", "administrators explain any organisation's decisions"),)))


# -- discover and view_footprint (catalogue reads, search, thumbnails) -----------------------------------
# "discover": an item read (and so search, item lists, counts, thumbnails, quotes of it) passes only
# what the policies let the caller discover; a collection, only if the caller may discover one of its
# published items (or owns it). Both in their per-object and their SQL form.
def _discover_refusal(identity: Identity, item) -> Decision | None:
    decision = evaluation.evaluate(identity, "discover", item)
    return None if decision.allowed else evaluation.as_decision(decision)


def _collection_refusal(identity: Identity, collection) -> Decision | None:
    if identity.is_system or identity.acts_as(Role.admin) or collection.owner_org_id == identity.org_id \
            or not evaluation.candidates(identity, "discover"):
        return None
    if db.session.scalar(select(exists().where(Item.collection_id == collection.id, Item.status == ItemStatus.published,
                                               evaluation.discoverable(identity, Item)))):
        return None
    return Decision(False, "no published item of this collection is shared with you", "policy-deny")


def _collections_discoverable(identity: Identity, collections):
    if identity.is_system or identity.acts_as(Role.admin) or not evaluation.candidates(identity, "discover"):
        return true()
    shared = exists().where(Item.collection_id == collections.id, Item.status == ItemStatus.published,
                            evaluation.discoverable(identity, Item))
    return or_(collections.owner_org_id == identity.org_id, shared) if identity.org_id is not None else shared


restrict("item:read", _discover_refusal, where=evaluation.discoverable)
restrict("collection:read", _collection_refusal, where=_collections_discoverable)
# "view_footprint": the catalogue asks, for each page or item it renders, which footprints are
# withheld (coarsened, no previews, thumbnail refused); answered for the whole page at once.
footprints.connect()


# -- license and download (quotes, orders, the gateway) ------------------------------------------------
# "license": a quote line and an order line ask item:license of their product; a policy's deny or
# require_approval refuses it. "download": asset:download (the gateway, presigned links) is refused by
# a deny or require_approval even to a licence holder; a permit with free_access grants it, without
# a licence, to a signed-in member whose token holds data:download (metered as usual, no allowance).
def _license_refusal(identity: Identity, item) -> Decision | None:
    decision = evaluation.evaluate(identity, "license", item)
    return None if decision.allowed else evaluation.as_decision(decision)


def _download_refusal(identity: Identity, item) -> Decision | None:
    decision = evaluation.evaluate(identity, "download", item)
    return None if decision.allowed else evaluation.as_decision(decision)


def _free_access(identity: Identity, item) -> bool:
    return evaluation.evaluate(identity, "download", item).free_access


restrict("item:license", _license_refusal)
restrict("asset:download", _download_refusal)
extend("asset:download",
       Grant("free-access", "a sharing policy gives your organisation free access to this product",
             who=lambda i: i.org_id is not None and i.has_scope("data:download"), test=_free_access))


# -- access requests and notifications ----------------------------------------------------------------
def _requester(identity: Identity, request) -> bool:
    return identity.org_id is not None and request.org_id == identity.org_id


def _provider_side(identity: Identity, request) -> bool:
    return identity.org_id is not None and request.provider_org_id == identity.org_id


def _is_admin(identity: Identity) -> bool:
    return identity.acts_as(Role.admin)


# Any member of an organisation asks for access (scope orders:write); the policies decide whether there
# is anything to ask (the service checks that the product is held back from the organisation).
register("access-request:create", Rule(
    scope="orders:write", grants=(Grant("member", "members ask providers for access",
                                        who=lambda i: i.org_id is not None),)))
# Reading: the requesting organisation, the provider's organisation, administrators (all).
register("access-request:read", Rule(
    scope="catalog:read", needs_resource=True,
    grants=(Grant("role-admin", "administrators see every access request", who=_is_admin),
            Grant("requester", "your organisation asked", test=_requester,
                  where=lambda i, model: model.org_id == i.org_id),
            Grant("provider", "the request is to your organisation", test=_provider_side,
                  where=lambda i, model: model.provider_org_id == i.org_id)),
    refused=("ownership", "this access request is another organisation's")))
# Approving or rejecting: the provider's organisation's providers, or administrators.
register("access-request:decide", Rule(
    roles=frozenset({Role.provider, Role.admin}),
    roles_refused=("role-provider", "only the provider's providers or administrators decide access requests"),
    scope="catalog:write", needs_resource=True,
    grants=(Grant("role-admin", "administrators decide access requests", who=_is_admin),
            Grant("provider", "providers decide requests to their organisation",
                  who=lambda i: i.acts_as(Role.provider), test=_provider_side)),
    refused=("requester-decides", "only the provider's organisation decides this request")))
# Withdrawing: the requesting organisation.
register("access-request:withdraw", Rule(
    scope="orders:write", needs_resource=True,
    grants=(Grant("requester", "your organisation asked", test=_requester),),
    refused=("not-requester", "only the requesting organisation withdraws its request")))
# Notifications: the organisation's own members.
register("notification:read", Rule(
    scope="catalog:read", needs_resource=True,
    grants=(Grant("member", "your organisation's notifications",
                  test=lambda i, n: i.org_id is not None and n.org_id == i.org_id,
                  where=lambda i, model: model.org_id == i.org_id),),
    refused=("ownership", "this notification is another organisation's")))



# -- the audit log -----------------------------------------------------------------------------------
# Reading the log and checking its chain: administrators with admin:audit.
register("audit:read", Rule(
    roles=frozenset({Role.admin}), roles_refused=("role-admin", "only administrators read the audit log"),
    scope="admin:audit", grants=(Grant("role-admin", "administrators read the audit log"),)))
