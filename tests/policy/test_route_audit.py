"""Every route that reaches domain data asks the policy first (CKAN audits that each action called
its auth function; this is the same audit over the HTTP surface).

Each route of ``app.url_map`` is called as an anonymous caller, a buyer, a provider and an admin
(bearer tokens) and as a provider signed in with a browser, on a catalogue with a collection, a
draft and a published product and an open upload. A request that read or wrote a domain table
(any table outside ``auth``: authenticating the caller is not reaching data) without ``decide`` or
``query_filter`` being asked fails the test — unless it answered 404: nothing was found, so nothing
was revealed (the lookup comes before the decision, as in Flask's tutorial ``get_post``).
"""
from __future__ import annotations

import re
import uuid
from contextlib import contextmanager

import pytest
from flask import Flask
from sqlalchemy import event, select

from auth import clients, service
from exchange.catalog import batches
from exchange.catalog.models import Item, ItemStatus
from exchange.core.db import db
from exchange.policy import SYSTEM, asked, query_filter
from exchange.trading import webhooks
from tests.conftest import PASSWORD

#: Routes that need no decision, and why. Each must exist.
EXEMPT = {
    "static": "the app's static files",
    "web.swagger_ui": "the Swagger UI's files",
    "api-docs.openapi_json": "the API's description",
    "api-docs.openapi_swagger_ui": "the API's documentation page",
    "health.healthz": "liveness: touches no data",
    "health.readyz": "readiness: probes the database and the store, reads no table",
    "prometheus_metrics": "process metrics",
    "web.static": "the pages' own CSS, scripts and world map",
    "web.leaflet_file": "the pinned Leaflet files",
    "stac.landing": "the STAC landing page: links only",
    "stac.conformance": "the conformance classes",
    "oauth.metadata": "RFC 8414 server metadata",
    "oauth.jwks": "the public signing keys",
    "oauth.login_form": "sign-in authenticates a person; it decides no access",
    "oauth.login": "sign-in authenticates a person; it decides no access",
    "oauth.logout": "ends the caller's own session",
    "oauth.issue_token": "RFC 6749 token endpoint: the server authenticates the client; what a token may hold "
                         "was decided when its client or code was made (oauth:hold-scope)",
    "oauth.revoke_token": "RFC 7009: a client revokes only tokens issued to it (checked by Authlib)",
}

ITEM = {"type": "Feature", "stac_version": "1.0.0", "bbox": [0, 0, 1, 1], "links": [],
        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]},
        "properties": {"datetime": "2026-01-01T00:00:00Z", "gsd": 10}, "assets": {}}
UPLOAD = {"filename": "scene.tif", "size": 10, "sha256": "0" * 64, "media_type": "image/tiff"}
#: Plausible bodies, so that writes get past validation to the data.
BODIES = {
    "accounts.create_client": {"name": "audit", "grant_types": ["client_credentials"], "scope": "catalog:read"},
    "accounts.signup": {"organisation": {"name": "Audit Signup", "kind": "buyer"},
                        "user": {"email": "signup@audit.example", "password": PASSWORD}},
    "stac.create_collection": {"id": "audit-new", "description": "new"},
    "stac.replace_collection": {"id": "audit", "description": "replaced"},
    "stac.create_items": {"type": "FeatureCollection", "features": [dict(ITEM, id="audit-3", collection="audit")]},
    "stac.replace_item": dict(ITEM, id="audit-1", collection="audit"),
    "stac.patch_item": {"properties": {"gsd": 20}},
    "stac.bulk_items": {"method": "upsert", "items": [dict(ITEM, id="audit-4", collection="audit")]},
    "stac.create_property_index": {"name": "eo:snow_cover", "kind": "number"},
    "stac.search": {},
    "uploads.start_upload": UPLOAD,
    "uploads.part_urls": {"part_numbers": [1]},
    "ledger.top_up": {"amount": 100, "reference": "audit"},
    "ledger.pay_out": {"amount": 100, "reference": "audit"},
    "usage.create_links": {"assets": [{"product_id": 1, "key": "data"}]},
}
#: DELETE last (the deepest path first), so that the other calls find what they look for. The
#: accounts routes reach only ``auth`` tables: their services' asking is audited in test_service_audit.
METHOD_ORDER = {"GET": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4}


def audited_tables() -> set[str]:
    """Every table outside the accounts domain (``auth``): what a route reaches as data."""
    return {mapper.local_table.name for mapper in db.Model.registry.mappers
            if not mapper.class_.__module__.startswith("auth.")}


@contextmanager
def recording(app: Flask):
    """Record, per request, the audited tables a statement named and the actions the policy was asked."""
    tables = {name: re.compile(rf"\b{name}\b") for name in audited_tables()}
    seen = {"tables": set(), "actions": []}

    def on_statement(conn, cursor, statement, parameters, context, executemany):
        seen["tables"] |= {name for name, pattern in tables.items() if pattern.search(statement)}

    def on_asked(action, **_):
        seen["actions"].append(action)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        with asked.connected_to(on_asked):
            yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)


def audit(app: Flask, callers: dict, values: dict, only: set[str] | None = None) -> tuple[list[str], set[str]]:
    """Call every route as every caller; return the findings and the endpoints that reached data."""
    adapter = app.url_map.bind("localhost")
    calls = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in EXEMPT or (only is not None and rule.endpoint not in only):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}, key=METHOD_ORDER.__getitem__):
            # Starting an upload again replaces the asset's open one: after the calls on that upload.
            calls.append((METHOD_ORDER[method], rule.endpoint == "uploads.start_upload",
                          -rule.rule.count("/") if method == "DELETE" else 0, method, rule))
    findings, reached = [], set()
    with recording(app) as seen:
        for *_, method, rule in sorted(calls, key=lambda call: call[:3]):
            path = adapter.build(rule.endpoint, {name: values[name] for name in rule.arguments}, method=method)
            for name, (client, headers) in callers.items():
                seen["tables"], seen["actions"] = set(), []
                response = client.open(path, method=method, headers=headers, json=BODIES.get(rule.endpoint))
                if seen["tables"]:
                    reached.add(rule.endpoint)
                if seen["tables"] and not seen["actions"] and response.status_code != 404:
                    findings.append(f"{method} {rule.rule} as {name} ({response.status_code}) reached "
                                    f"{', '.join(sorted(seen['tables']))} without asking the policy")
    return findings, reached




def _callers_and_values(app: Flask) -> tuple[dict, dict]:
    """A small catalogue and four callers; returns the callers and the route arguments to use."""
    tokens = {}
    with app.app_context():
        for name, roles, kind, scope in (
                ("buyer", ["buyer"], "buyer", "catalog:read orders:read usage:read data:download"),
                ("provider", ["provider"], "provider", "catalog:read catalog:write uploads:write usage:read"),
                ("admin", ["admin"], "platform", "catalog:read catalog:write admin:accounts usage:read")):
            service.create_org(SYSTEM, {"name": f"Audit {name}", "kind": kind})
            user = service.create_user(SYSTEM, {"org": f"Audit {name}", "email": f"{name}@audit.example",
                                                "password": PASSWORD, "roles": roles})
            client, secret = clients.create_client(SYSTEM, {"name": name, "grant_types": ["client_credentials"],
                                                            "scope": scope}, owner=user)
            tokens[name] = (client.client_id, secret)
        # What the admin routes suspend and disable: not the callers' own organisation and client.
        service.create_org(SYSTEM, {"name": "Audit spare", "kind": "buyer"})
        spare = service.create_user(SYSTEM, {"org": "Audit spare", "email": "spare@audit.example",
                                             "password": PASSWORD, "roles": ["buyer"]})
        spare_client = clients.create_client(SYSTEM, {"name": "spare", "grant_types": ["client_credentials"],
                                                      "scope": "catalog:read"}, owner=spare)[0].client_id
        spare_org = spare.org_id
        # A webhook of the buyer's organisation, at a public address (registering sends nothing).
        webhook = webhooks.create_endpoint(SYSTEM, {"url": "https://93.184.216.34/audit",
                                                    "org_id": service.find_org("Audit buyer").id})["id"]
    http = app.test_client()
    headers = {}
    for name, (client_id, secret) in tokens.items():
        answer = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
        assert answer.status_code == 200, answer.text
        headers[name] = {"Authorization": f"Bearer {answer.json['access_token']}"}
    provider = headers["provider"]
    assert http.post("/stac/collections", headers=provider, json={"id": "audit", "description": "A"}).status_code == 201
    assert http.post("/stac/collections/audit/items", headers=provider,
                     json=dict(ITEM, id="audit-1", collection="audit")).status_code == 201
    with app.app_context():
        batches.bulk_write(SYSTEM, "audit", [dict(ITEM, id="audit-2", collection="audit")], method="insert",
                           status=ItemStatus.published)
        product = db.session.scalar(select(Item.key).where(Item.item_id == "audit-1"))
    upload = http.post(f"/api/v1/products/{product}/assets/data/uploads", headers=provider, json=UPLOAD)
    assert upload.status_code == 201, upload.text
    assert http.post("/stac/collections/audit/property-indexes", headers=provider,
                     json={"name": "platform_x", "kind": "string"}).status_code in (201, 202)

    browser = app.test_client()
    with app.app_context():
        service.create_user(SYSTEM, {"org": "Audit provider", "email": "person@audit.example", "password": PASSWORD,
                                     "roles": ["provider"]})
    form = browser.get("/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    assert browser.post("/login", data={"email": "person@audit.example", "password": PASSWORD,
                                        "csrf_token": csrf}).status_code == 302
    callers = {"anonymous": (app.test_client(), {}), "buyer": (http, headers["buyer"]),
               "provider": (http, provider), "admin": (http, headers["admin"]), "provider's browser": (browser, {})}
    values = {"cid": "audit", "iid": "audit-1", "pid": product, "key": "data", "name": "platform_x",
              "uid": upload.json["id"], "client_id": spare_client, "org_id": spare_org,
              "filename": "swagger-ui.css",
              "code": "open-cc-by-4.0", "n": 1, "offer_id": uuid.uuid4(), "license_id": uuid.uuid4(),
              "quote_id": uuid.uuid4(), "order_id": uuid.uuid4(), "currency": "CNY",
              "policy_id": uuid.uuid4(), "product_id": product, "month": "2026-11"}
    with app.app_context():  # a ledger transfer, for the route that shows one
        from exchange.trading import wallets
        values["transfer_id"] = wallets.top_up(SYSTEM, spare_org, {"amount": 1, "currency": "CNY",
                                                                   "reference": "audit"})["id"]
    values.update(wid=webhook, did=uuid.uuid4(), request_id=uuid.uuid4(), notification_id=uuid.uuid4())
    return callers, values


@pytest.mark.committed  # bearer tokens are checked on a connection of their own
def test_every_route_that_reaches_data_asks_the_policy(app):
    callers, values = _callers_and_values(app)
    findings, reached = audit(app, callers, values)
    assert not findings, "\n".join(findings)
    # The walk reached the catalogue and the uploads, not only their refusals.
    assert {"stac.collections", "stac.item", "stac.search", "uploads.get_upload", "uploads.part_urls",
            "uploads.complete_upload", "gateway.download_asset", "stac.delete_item"} <= reached
    assert {"ledger.top_up", "ledger.get_transfer", "ledger.own_wallet", "ledger.ledger"} <= reached
    assert {"webhooks.list_webhooks", "webhooks.get_webhook", "webhooks.list_deliveries"} <= reached
    assert {"access.access_requests", "access.list_notifications"} <= reached


def test_the_exemptions_are_routes_of_the_app(app):
    assert set(EXEMPT) <= {rule.endpoint for rule in app.url_map.iter_rules()}


def test_the_audit_catches_a_route_that_does_not_ask(make_app):
    """A route that lists items without the read rule is reported; the same route asking is not."""
    app = make_app()

    @app.get("/probe/unasked")
    def unasked():
        return {"items": len(db.session.scalars(select(Item.key)).all())}

    @app.get("/probe/asked")
    def asked_route():
        return {"items": len(db.session.scalars(select(Item.key).where(
            query_filter(SYSTEM, "item:read", Item))).all())}

    callers = {"anonymous": (app.test_client(), {})}
    findings, reached = audit(app, callers, {}, only={"unasked", "asked_route"})
    assert reached == {"unasked", "asked_route"}
    assert findings == ["GET /probe/unasked as anonymous (200) reached items without asking the policy"]
