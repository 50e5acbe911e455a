"""The fuzz pass's driver: a live server with real accounts, a request sender that checks every answer,
and a bounded, derandomised Hypothesis loop.

Every answer must be below 500, and every error an RFC 9457 problem (RFC 6749 JSON on /oauth/*).
Findings are collected rather than raised, so one run lists every distinct failure — route, input and
the server's traceback (taken from the log record of the request id the 500 quotes).
"""
from __future__ import annotations

import logging
import os
import re
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import requests
from flask import g
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from auth.scopes import SCOPES
from tests.fuzz.strategies import dumps

PROBLEM = "application/problem+json"
TIMEOUT = 20
#: A person's pages: their errors are HTML pages, not problem documents (they must still not be a 5xx).
HTML_ROUTES = {"/login"}

#: Every fuzz loop: the same examples on every run, no example database, no shrinking (nothing raises).
FUZZ_SETTINGS = dict(derandomize=True, database=None, deadline=None, phases=[Phase.generate],
                     suppress_health_check=list(HealthCheck), print_blob=False)


def explore(strategy: st.SearchStrategy, examples: int, action: Callable[[Any], None]) -> None:
    """Run ``action`` on ``examples`` deterministic draws of ``strategy``."""

    @settings(max_examples=examples, **FUZZ_SETTINGS)
    @given(strategy)
    def run(value):
        action(value)

    run()


class TracebackCatcher(logging.Handler):
    """Keeps the traceback of every exception the app logs, by request id."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.by_request: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            try:
                request_id = g.get("request_id", "-")
            except RuntimeError:
                request_id = "-"
            self.by_request[request_id] = "".join(traceback.format_exception(*record.exc_info))


@dataclass
class Finding:
    method: str
    route: str
    status: int | str
    what: str
    url: str
    body: str
    trace: str

    def signature(self) -> tuple:
        """Two findings are the same bug when they fail at the same line of the same route."""
        last = self.trace.strip().splitlines()[-1] if self.trace else self.what
        frames = [line for line in self.trace.splitlines() if line.strip().startswith("File ")]
        return self.method, self.route, self.status, frames[-1].strip() if frames else "", last[:120]

    def __str__(self) -> str:
        lines = self.trace.strip().splitlines()
        raised = [i for i, line in enumerate(lines) if re.match(r"[\w.]+(Error|Exception)\b", line)]
        shown = lines[max(0, raised[0] - 4):raised[0] + 2] if raised else lines[-6:]
        trace = "\n      ".join(shown)
        return (f"{self.method} {self.route} -> {self.status}: {self.what}\n    url: {self.url[:300]}\n"
                f"    body: {self.body[:300]}\n      {trace}")


@dataclass
class Fuzzer:
    """Sends requests to the live server and records what breaks the rules."""

    url: str
    catcher: TracebackCatcher
    findings: dict[tuple, Finding] = field(default_factory=dict)
    sent: int = 0

    def send(self, route: str, method: str, path: str, token: str | None = None, *, params=None,
             body: Any = None, raw: bytes | None = None, content_type: str = "application/json",
             headers: dict | None = None, session: requests.Session | None = None) -> requests.Response | None:
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = raw
        if body is not None:
            data = dumps(body).encode("utf-8", "surrogatepass")
        if data is not None:
            headers["Content-Type"] = content_type
        self.sent += 1
        shown = data.decode("utf-8", "replace") if data else ""
        try:
            response = (session or requests).request(method, f"{self.url}{path}", params=params, data=data,
                                                     headers=headers, timeout=TIMEOUT, allow_redirects=False)
        except requests.RequestException as exc:
            self._record(Finding(method, route, "no answer", repr(exc)[:200], path, shown, ""))
            return None
        self.check(route, method, response, shown)
        return response

    def check(self, route: str, method: str, response: requests.Response, body: str) -> None:
        status = response.status_code
        if status >= 500:
            request_id = response.headers.get("X-Request-ID", "")
            trace = self.catcher.by_request.get(request_id, "")
            self._record(Finding(method, route, status, "server error", response.url, body, trace))
        elif status in (414, 431) and "X-Request-ID" not in response.headers:
            return  # the HTTP server's own refusal of an oversized request line or header, before the app
        elif status >= 400 and not self._is_error_body(route, response):
            self._record(Finding(method, route, status, f"error is {response.headers.get('Content-Type')}: "
                                 f"{response.text[:120]!r}", response.url, body, ""))

    @staticmethod
    def _is_error_body(route: str, response: requests.Response) -> bool:
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        if route in HTML_ROUTES and media_type == "text/html":
            return True
        try:
            payload = response.json()
        except ValueError:
            return False
        if route.startswith("/oauth/") and media_type == "application/json":
            return isinstance(payload, dict) and "error" in payload
        return media_type == PROBLEM and isinstance(payload, dict) and payload.get("status") == response.status_code

    def _record(self, finding: Finding) -> None:
        self.findings.setdefault(finding.signature(), finding)

    def alive(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthz", timeout=TIMEOUT).status_code == 200
        except requests.RequestException:
            return False

    def report(self, findings=None) -> str:
        findings = list(self.findings.values()) if findings is None else findings
        text = f"{len(findings)} distinct failure(s) in {self.sent} requests:\n" + "\n".join(str(f) for f in findings)
        if os.environ.get("SDX_FUZZ_REPORT"):  # a developer's full listing, appended run after run
            with open(os.environ["SDX_FUZZ_REPORT"], "a", encoding="utf-8") as out:
                out.write(text + "\n")
        return text


# -- the accounts and objects the fuzzed requests act on ----------------------------------------
ITEM = {"type": "Feature", "stac_version": "1.0.0", "id": "fuzz-item", "collection": "fuzz-col",
        "geometry": {"type": "Polygon", "coordinates": [[[10, 50], [11, 50], [11, 51], [10, 51], [10, 50]]]},
        "bbox": [10, 50, 11, 51],
        "properties": {"datetime": "2024-05-01T10:00:00Z", "gsd": 0.5, "eo:cloud_cover": 3, "sdx:status": "draft"},
        "assets": {"data": {"href": "https://example.com/scene.tif", "roles": ["data"]}}, "links": []}
COLLECTION = {"type": "Collection", "id": "fuzz-col", "description": "Fuzzed", "license": "proprietary",
              "stac_version": "1.0.0", "links": [],
              "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                         "temporal": {"interval": [["2020-01-01T00:00:00Z", None]]}}}


@dataclass
class World:
    """An admin, a provider with a collection, an item and an upload, a buyer, and a victim account
    whose ids are given to the destructive routes (so the others keep working through the run)."""

    tokens: dict[str, str | None]
    ids: dict[str, list]


def token_for(live, email: str, roles: tuple, kind: str, org: str, scope: str) -> tuple[str, str]:
    live.user(email, roles=roles, kind=kind, org=org)
    client_id, _ = live.client(email, scope)
    return live.minted_token(client_id), client_id


def build_world(live) -> World:
    admin, _ = token_for(live, "admin@fuzz.example", ("admin",), "platform", "Fuzz Ops", " ".join(SCOPES))
    provider, _ = token_for(live, "prov@fuzz.example", ("provider",), "provider", "Fuzz Sat",
                                          "catalog:read catalog:write uploads:write")
    buyer, _ = token_for(live, "buyer@fuzz.example", ("buyer",), "buyer", "Fuzz Buyer", "catalog:read orders:read")
    _, victim_client = token_for(live, "victim@fuzz.example", ("provider",), "provider", "Fuzz Victim",
                                 "catalog:read")
    with live.app.app_context():
        from auth import service

        victim_org = str(service.find_org("Fuzz Victim").id)
    assert live.api("POST", "/stac/collections", provider, json=COLLECTION).status_code == 201
    created = live.api("POST", "/stac/collections/fuzz-col/items", provider, json=ITEM)
    assert created.status_code == 201, created.text
    for victim in ("fuzz-victim-1", "fuzz-victim-2"):
        assert live.api("POST", "/stac/collections/fuzz-col/items", provider,
                        json=dict(ITEM, id=victim)).status_code == 201
    product_id = created.json()["properties"]["sdx:product_id"]
    upload = live.api("POST", f"/api/v1/products/{product_id}/assets/data/uploads", provider, json={
        "filename": "scene.tif", "size": 1000, "sha256": "0" * 64, "media_type": "image/tiff", "roles": ["data"]})
    assert upload.status_code == 201, upload.text
    return World(
        tokens={"admin": admin, "provider": provider, "buyer": buyer, "anonymous": None},
        ids={"pid": [product_id], "uid": [upload.json()["id"]], "org_id": [victim_org],
             "client_id": [victim_client], "cid": ["fuzz-col"],
             "iid": ["fuzz-item", "fuzz-victim-1", "fuzz-victim-2"], "key": ["data", "thumbnail"]})
