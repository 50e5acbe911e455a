"""OAuth 2.0 scopes. Which of them each role may hold is a rule of ``auth.policies``.

A token's power is the intersection of its scopes, its user's role and the platform's policies:
a scope never widens what a role may do.
"""
from __future__ import annotations

SCOPES: dict[str, str] = {
    "catalog:read": "Search and read the catalogue",
    "catalog:write": "Create and edit your organisation's products",
    "uploads:write": "Upload product files",
    "orders:read": "See your orders and quotes",
    "orders:write": "Place orders",
    "licenses:read": "See your licenses",
    "data:download": "Download licensed data",
    "usage:read": "See your usage",
    "admin:policies": "Set sharing policies, prices and quotas",
    "admin:accounts": "Approve organisations and manage users and clients",
    "admin:audit": "Read the audit log",
}


def parse_scope(scope: str | None) -> list[str]:
    """Split an RFC 6749 scope string, keeping order and dropping repeats."""
    seen: dict[str, None] = {}
    for item in (scope or "").split():
        seen.setdefault(item, None)
    return list(seen)


def join_scope(scopes) -> str:
    return " ".join(sorted(scopes))
