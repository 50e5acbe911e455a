"""Metering's rules for the decision point: who reads usage, who asks for presigned links.

Registered when this module is imported, which the domain's ``init_app`` does.
"""
from __future__ import annotations

from auth.models import Role
from exchange.policy import Grant, Identity, Rule, register


def _admin(identity: Identity) -> bool:
    return identity.acts_as(Role.admin)


def _provider(identity: Identity) -> bool:
    return identity.acts_as(Role.provider)


# Usage (meter events and their daily roll-up, asked per row or as a filter on either table): the
# licensee organisation's own use; a provider, the use of its organisation's products; admins, all.
register("usage:read", Rule(
    scope="usage:read",
    grants=(Grant("role-admin", "administrators see all usage", who=_admin),
            Grant("provider", "the use of your organisation's products", who=_provider,
                  test=lambda i, row: row.provider_org_id == i.org_id,
                  where=lambda i, rows: rows.provider_org_id == i.org_id),
            Grant("licensee", "your organisation's own use",
                  test=lambda i, row: row.org_id == i.org_id, where=lambda i, rows: rows.org_id == i.org_id)),
    refused=("ownership", "this usage is another organisation's")))

# Presigned links draw on one licence (the resource: the entitlement): its holder organisation's
# members with data:download. Whether the licence still allows a download is asset:download's.
register("license:links", Rule(
    scope="data:download", needs_resource=True,
    grants=(Grant("licensee", "your organisation holds this licence",
                  test=lambda i, entitlement: entitlement.org_id == i.org_id),),
    refused=("ownership", "this licence belongs to another organisation")))
