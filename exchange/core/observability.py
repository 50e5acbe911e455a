"""Request ids, logging and Prometheus metrics.

Every request gets an id (the caller's ``X-Request-ID`` when it is sane, else a new one); it is
echoed in the response header, put on every log record and on problem bodies, so one id ties a
user's report to the logs. Metrics use a registry per app, or the multiprocess collector when
``PROMETHEUS_MULTIPROC_DIR`` is set (gunicorn with several workers).
"""
from __future__ import annotations

import ipaddress
import logging
import os
import re
import sys
import time
import uuid

from flask import Flask, Response, current_app, g, has_request_context, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess
from pythonjsonlogger.json import JsonFormatter

from exchange.core.config import parse_networks
from exchange.core.problems import Problem

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def configure_logging(log_format: str, level: str) -> None:
    """Configure the root logger once per process: JSON lines in production, text otherwise."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                                           rename_fields={"asctime": "time", "levelname": "level"}))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_sdx", False)]:
        root.removeHandler(old)
    handler._sdx = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("sdx_http_requests_total", "HTTP requests by endpoint, method and status",
                                ["endpoint", "method", "status"], registry=self.registry)
        self.latency = Histogram("sdx_http_request_duration_seconds", "HTTP request latency by endpoint",
                                 ["endpoint", "method"], registry=self.registry)

    def exposition(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


def init_app(app: Flask) -> None:
    metrics = Metrics()
    app.extensions["sdx_metrics"] = metrics

    @app.before_request
    def _start_request() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish_request(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        started = g.get("request_started")
        if started is not None:
            # The route pattern, not the raw path, so ids in URLs do not explode label cardinality.
            endpoint = request.url_rule.rule if request.url_rule else "<unmatched>"
            metrics.requests.labels(endpoint, request.method, str(response.status_code)).inc()
            metrics.latency.labels(endpoint, request.method).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        """Only for the scrapers' networks (``METRICS_ALLOW``): the counters map every route and its
        traffic, which is nobody else's business."""
        if not operators_network():
            raise Problem("Metrics are served only to the networks in SDX_METRICS_ALLOW.", status=403,
                          title="Forbidden")
        # content_type, not mimetype: CONTENT_TYPE_LATEST already carries its charset.
        return Response(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)


def operators_network() -> bool:
    """Whether the caller is on one of the operators' networks (``METRICS_ALLOW``)."""
    allow = current_app.config["METRICS_ALLOW"]
    return _metrics_allowed(parse_networks(allow) if isinstance(allow, str) else allow)


def _metrics_allowed(networks) -> bool:
    """The TCP peer's address; a proxy in front must itself be the allowed scraper (no X-Forwarded-For:
    it is the caller's to forge)."""
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(address in network for network in networks if network.version == address.version)
