"""Webhook test support: a receiver — a real HTTP server on loopback, in a thread, that checks every
request's Standard Webhooks signature with the ``standardwebhooks`` package, as a customer would —
members with tokens, events sent as the orders service sends them, and the delivery log."""
from __future__ import annotations

import ipaddress
import ssl
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standardwebhooks import Webhook, WebhookVerificationError
from werkzeug.serving import make_server

from auth import service
from exchange.core.db import unit_of_work
from exchange.policy import SYSTEM
from exchange.trading import events, webhooks
from storage.embedded import free_ports
from tests.conftest import Live


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    verified: object  # the parsed payload, or the verification error


@dataclass
class Receiver:
    url: str
    #: Status codes to answer, in turn; the last one repeats.
    answers: list[int] = field(default_factory=lambda: [204])
    secret: str | None = None
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
        headers = {k.lower(): v for k, v in handler.headers.items()}
        try:
            verified = Webhook(self.secret).verify(body, headers) if self.secret else None
        except WebhookVerificationError as exc:
            verified = exc
        with self.lock:
            self.requests.append(Received(handler.path, headers, body, verified))
            status = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        handler.send_response(status)
        if 300 <= status < 400:
            handler.send_header("Location", "/elsewhere")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} webhook requests, got {len(self.requests)}")


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for localhost (and 127.0.0.1) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "receiver.crt", folder / "receiver.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def start_receiver(tls: tuple[Path, Path] | None = None) -> tuple[Receiver, ThreadingHTTPServer]:
    """A receiver on a free loopback port; with ``tls`` (certificate, key) it speaks HTTPS as localhost."""
    receiver: Receiver | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            receiver.handle(self)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    url = f"https://localhost:{port}/hooks/sdx" if tls else f"http://127.0.0.1:{port}/hooks/sdx"
    receiver = Receiver(url=url)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return receiver, server


@pytest.fixture
def receiver():
    receiver, server = start_receiver()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def tls_receiver(tmp_path):
    """An HTTPS receiver at https://localhost:…, and the certificate that makes it trusted."""
    cert_file, key_file = self_signed_certificate(tmp_path)
    receiver, server = start_receiver((cert_file, key_file))
    yield receiver, cert_file
    server.shutdown()
    server.server_close()


def member_token(live, email: str, org: str, scopes: str = "orders:read orders:write", roles=("buyer",),
                 kind: str = "buyer") -> str:
    """A token of a (new) member of ``org`` carrying ``scopes``."""
    live.user(email, roles=roles, org=org, kind=kind)
    client_id, _ = live.client(email, scopes)
    return live.minted_token(client_id)


def org_of(app, email: str):
    with app.app_context():
        return service.find_user(email).org_id


def announce_event(app, signal, org_id, data: dict) -> None:
    """What the orders service does: send the event inside the unit of work that made the change."""
    with app.app_context(), unit_of_work() as uow:
        events.announce(signal, uow=uow, org_id=org_id, data=data)


def deliveries(app, endpoint_id) -> list[dict]:
    """The endpoint's delivery log, newest first (as the API shows it)."""
    with app.app_context():
        items, _ = webhooks.list_deliveries(SYSTEM, uuid.UUID(str(endpoint_id)), after=None, limit=200)
        return items


def wait_until(check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not reached within {timeout} s: {check}")


@contextmanager
def served(app) -> Iterator[Live]:
    """``app`` itself served on a free loopback port (the worker's app: one Celery, one queue)."""
    (port,) = free_ports(1)
    app.config["PUBLIC_BASE_URL"] = url = f"http://127.0.0.1:{port}"
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield Live(app, url)
    finally:
        server.shutdown()
        thread.join(5)
