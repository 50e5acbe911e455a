"""Ingest's rules: who sends a product's files, and who cleans up after abandoned uploads.

Registered when this module is imported, which the domain's ``init_app`` does.
"""
from __future__ import annotations

from auth.models import Role
from exchange.policy import Grant, Rule, owner_org, register



# A product's bytes (and its upload sessions): its own organisation's providers, with uploads:write.
register("product:upload", Rule(
    roles=frozenset({Role.provider}), roles_refused=("role-provider", "only providers upload products"),
    scope="uploads:write",
    grants=(Grant("provider", "providers upload their organisation's products",
                  test=lambda i, resource: owner_org(resource) == i.org_id),),
    refused=("ownership", "this product belongs to another organisation")))

# Aborting every organisation's stale uploads: the console operator (and the beat task acting as it).
register("uploads:housekeeping", Rule(grants=(), refused=("console", "only the console operator cleans up uploads")))
