"""Demo accounts for the embedded default, so a newcomer can sign in right away.

Passwords and one client-credentials API client per user are generated on the first run and kept
in ``<var>/demo-accounts.json`` (mode 0600); later runs find the accounts and only print where they are.
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from auth import clients, service
from exchange.policy import SYSTEM
from auth.policies import holdable_scopes, identity_of
from auth.scopes import join_scope

DEMO_ORGS = [
    ("SDX Platform", "platform", "admin@sdx.example", ["admin"]),
    ("Demo Provider", "provider", "provider@sdx.example", ["provider"]),
    ("Demo Buyer", "buyer", "buyer@sdx.example", ["buyer"]),
]


def seed_demo_accounts(var_dir: str, base_url: str) -> list[str]:
    """Create the demo organisations and users that are missing; return lines to show the user."""
    path = Path(var_dir) / "demo-accounts.json"
    accounts = json.loads(path.read_text()) if path.exists() else {}
    created = []
    for org_name, kind, email, roles in DEMO_ORGS:
        if service.find_org(org_name) is None:
            service.create_org(SYSTEM, {"name": org_name, "kind": kind})
        if email not in accounts and service.find_user(email) is None:
            password = secrets.token_urlsafe(12)
            user = service.create_user(SYSTEM, {"org": org_name, "email": email, "password": password,
                                                "roles": roles})
            client, secret = clients.create_client(SYSTEM, {
                "name": f"demo client of {email}", "grant_types": ["client_credentials"],
                "scope": join_scope(holdable_scopes(identity_of(user)))}, owner=user)
            accounts[email] = {"password": password, "roles": roles, "organisation": org_name,
                               "client_id": client.client_id, "client_secret": secret}
            created.append(email)
    if created:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(accounts, fh, indent=2)
    lines = [f"demo account {email} ({', '.join(info['roles'])}) password {info['password']}"
             for email, info in accounts.items() if email in created]
    lines.append(f"demo accounts, passwords and API clients: {path}")
    buyer = accounts.get("buyer@sdx.example")
    if buyer and buyer.get("client_id"):
        lines.append("a token for the demo buyer: curl -s -u '{}:{}' -d grant_type=client_credentials "
                     "{}/oauth/token".format(buyer["client_id"], buyer["client_secret"], base_url))
    return lines
