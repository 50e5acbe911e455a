"""Faults of a download against real processes: gunicorn as in production (``bench/download.py``
``GatewayServer``) on the test database, the test S3 server (SeaweedFS), Redis and a Celery worker.
Each runs on SQLite and PostgreSQL.

- The client leaves after a third of a 64 MiB file: the bytes settled are the bytes the app pushed
  into the socket (what the client read plus what the kernel still held for it, measured in
  /proc/net/tcp) to within one chunk, the download counts once — resuming it with a range is the
  same download, which a one-download licence lets through — and the rest of the allowance is back.
- S3 stops mid-stream (a TCP proxy process between the app and S3, SIGKILLed): the response is cut,
  the settlement charges exactly what the client received, and nothing stays held.
- The app is SIGKILLed mid-stream: the reservation stays held until it expires, then the reaper (the
  beat task on a real Celery worker) releases it, charging what the last heartbeat observed — never
  more than the client received.

How the bytes are counted, so the bounds below are exact: the gateway counts a chunk as sent once
the server has handed it whole to the socket (``sent += len(block)`` after the ``yield``). So the
settled count never exceeds what the app pushed into the socket, and falls short of it by the part
of the one chunk the server was writing when the client left (less than ``gateway.CHUNK``).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import socket
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select

from bench.download import GatewayServer
from exchange.core.db import db, utcnow
from exchange.licensing.models import Entitlement
from exchange.metering import gateway, quotas
from exchange.metering.models import DownloadReservation, DownloadVisit, MeterEvent
from exchange.metering.tasks import reap_reservations
from storage.embedded import free_ports

MIB = 1024 * 1024
SIZE = 64 * MIB
PROXY = Path(__file__).with_name("s3_proxy.py")


# -- a client that knows to the byte what it received -------------------------------------------------
class RawGet:
    """A GET over a plain socket: what the client has read is counted exactly, and it can stop
    reading, or leave, at any byte."""

    def __init__(self, url: str, path: str, token: str, headers: dict | None = None) -> None:
        parts = urlsplit(url)
        self.sock = socket.socket()
        # A fixed receive buffer (no autotuning up to tcp_rmem's 32 MiB): what the kernels hold for
        # this client stays a few MiB, so a 64 MiB file is still being sent when the client leaves.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, MIB)
        self.sock.settimeout(30)
        self.sock.connect((parts.hostname, parts.port))
        lines = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}", f"Authorization: Bearer {token}",
                 *(f"{name}: {value}" for name, value in (headers or {}).items()), "", ""]
        self.sock.sendall("\r\n".join(lines).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            got = self.sock.recv(65536)
            assert got, f"the server closed the connection before its headers: {head!r}"
            head += got
        head, _, body = head.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1])
        self.headers = {name.lower(): value.strip() for name, _, value in (h.partition(":") for h in header_lines)}
        self.digest = hashlib.sha256(body)
        self.received = len(body)
        self.ended = False  # the server closed the connection (or reset it)

    def read(self, upto: int | None = None) -> int:
        """Read until ``upto`` bytes of body were received in all, or the connection ends."""
        while not self.ended and (upto is None or self.received < upto):
            try:
                got = self.sock.recv(min(MIB, upto - self.received) if upto else MIB)
            except ConnectionResetError:
                got = b""
            if not got:
                self.ended = True
                break
            self.digest.update(got)
            self.received += len(got)
        return self.received

    def in_flight(self) -> int:
        """Bytes pushed by the server that this client has not read yet: the server socket's send
        queue plus this socket's receive queue (both loopback, so both in /proc/net/tcp)."""
        mine, theirs = self.sock.getsockname()[1], self.sock.getpeername()[1]
        queued = 0
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)
            tx, rx = (int(n, 16) for n in fields[4].split(":"))
            if (local, remote) == (mine, theirs):
                queued += rx
            elif (local, remote) == (theirs, mine):
                queued += tx
        return queued

    def stalled(self) -> int:
        """Wait until the server can push no more (the socket buffers are full); what is in flight."""
        last, steady = -1, 0
        deadline = time.monotonic() + 20
        while steady < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.in_flight()
            steady = steady + 1 if now == last else 0
            last = now
        assert steady >= 5, "the stream did not stall"
        return last

    def leave(self) -> None:
        """Close at once with a reset (SO_LINGER 0), as a killed client does."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        self.sock.close()


# -- the servers ---------------------------------------------------------------------------------------
def s3_settings(app, endpoint: str | None = None) -> dict:
    config = app.config
    return {"S3_ENDPOINT": endpoint or config["S3_ENDPOINT"], "S3_ACCESS_KEY": config["S3_ACCESS_KEY"],
            "S3_SECRET_KEY": config["S3_SECRET_KEY"], "S3_PRODUCTS_BUCKET": config["S3_PRODUCTS_BUCKET"],
            "S3_PUBLIC_BUCKET": config["S3_PUBLIC_BUCKET"]}


def start_gateway(shop, databases, backend, tmp_path, endpoint: str | None = None, **settings) -> GatewayServer:
    (port,) = free_ports(1)
    return GatewayServer(databases.url(backend), tmp_path / "gunicorn-var", port, s3_settings(shop.live.app, endpoint),
                         workers=1, SDX_PUBLIC_BASE_URL=shop.live.url, **settings).start()


def buyer_token(shop, server: GatewayServer) -> str:
    """The buyer's token, signed by the test app's key (the server verifies it with the published
    public key; its issuer is the test app's, which the server is told to be)."""
    return shop.tokens["buyer"]


class Proxy:
    """tests/metering/s3_proxy.py in a process of its own, on a fixed port (so it can come back)."""

    def __init__(self, target: str) -> None:
        (self.port,) = free_ports(1)
        self.target, self.process = target, None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "Proxy":
        self.process = subprocess.Popen([sys.executable, str(PROXY), str(self.port), self.target])
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                assert time.monotonic() < deadline and self.process.poll() is None, "the proxy did not start"
                time.sleep(0.05)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


# -- what the database says ---------------------------------------------------------------------------
def ledger(app, entitlement_id: str) -> dict:
    """The entitlement's counters, its reservations, visits and meter events."""
    ident = uuid.UUID(entitlement_id)
    with app.app_context():
        row = db.session.get(Entitlement, ident)
        found = {
            "used": row.bytes_used, "reserved": row.bytes_reserved,
            "reservations": db.session.execute(select(
                DownloadReservation.bytes_reserved, DownloadReservation.bytes_observed, DownloadReservation.settled_at,
                DownloadReservation.expires_at).where(DownloadReservation.entitlement_id == ident)
                .order_by(DownloadReservation.created_at)).all(),
            "visits": db.session.scalars(select(DownloadVisit.id).where(DownloadVisit.entitlement_id == ident)).all(),
            "events": db.session.execute(select(
                MeterEvent.status, MeterEvent.bytes_sent, MeterEvent.counted, MeterEvent.rule, MeterEvent.range_start)
                .where(MeterEvent.entitlement_id == ident).order_by(MeterEvent.id)).all()}
        db.session.remove()
    return found


def wait_for(app, entitlement_id: str, ready, what: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = ledger(app, entitlement_id)
        if ready(state):  # read again: the rows read first may predate the commit that made it ready
            return ledger(app, entitlement_id)
        assert time.monotonic() < deadline, f"{what}: {state}"
        time.sleep(0.1)


def settled(state: dict) -> bool:
    return bool(state["reservations"]) and all(r.settled_at is not None for r in state["reservations"])


def resume(server, path: str, token: str, first: RawGet, data: bytes) -> RawGet:
    """Fetch the rest of the file from where ``first`` stopped: 206, and the whole file is right."""
    rest = RawGet(server.url, path, token, {"Range": f"bytes={first.received}-"})
    assert rest.status == 206, rest.headers
    assert rest.headers["content-range"] == f"bytes {first.received}-{SIZE - 1}/{SIZE}"
    rest.read()
    rest.close()
    assert first.digest.hexdigest() == hashlib.sha256(data[:first.received]).hexdigest()
    assert rest.received == SIZE - first.received
    assert rest.digest.hexdigest() == hashlib.sha256(data[first.received:]).hexdigest()
    return rest


# -- the faults ------------------------------------------------------------------------------------------
def test_a_client_leaving_after_a_third_is_charged_what_was_sent_and_counted_once(shop, databases, backend,
                                                                                  tmp_path):
    data = os.urandom(SIZE)
    path = shop.stored_file("alice-1", data)
    licence = shop.entitlement("buyer", "alice-1", downloads_per_asset=1, bytes_allowed=2 * SIZE)
    server = start_gateway(shop, databases, backend, tmp_path)
    try:
        token = buyer_token(shop, server)
        first = RawGet(server.url, path, token)
        assert first.status == 200 and first.headers["content-length"] == str(SIZE)
        assert first.headers["sdx-bytes-remaining"] == str(SIZE)  # 2 × SIZE allowed, SIZE held for this one
        first.read(SIZE // 3)
        queued = first.stalled()  # the server has pushed all the socket buffers take, and waits
        pushed = first.received + queued
        assert pushed < SIZE, "the whole file fit into the socket buffers: nothing to cut"
        first.leave()
        state = wait_for(shop.live.app, licence, settled, "the stream did not settle after the client left")

        (reservation,) = state["reservations"]
        (event,) = state["events"]
        sent = event.bytes_sent
        # What the app pushed into the socket, less the chunk it was writing when the client left.
        assert pushed - gateway.CHUNK < sent <= pushed, (first.received, queued, sent)
        assert state["used"] == sent == reservation.bytes_observed, state
        assert state["reserved"] == 0  # the rest of the allowance is back
        assert event.status == gateway.CLIENT_GONE and event.counted is True
        assert len(state["visits"]) == 1
        print(f"\n[{backend}] client read {first.received} B, kernel buffers held {queued} B, "
              f"settled {sent} B (pushed − settled = {pushed - sent} B, chunk {gateway.CHUNK} B)")

        # Resuming is the same download: a licence of one download per asset lets it through.
        rest = resume(server, path, token, first, data)
        state = wait_for(shop.live.app, licence, lambda s: len(s["events"]) == 2 and settled(s), "no second settle")
        assert len(state["visits"]) == 1 and [e.counted for e in state["events"]] == [True, False]
        assert state["used"] == sent + rest.received and state["reserved"] == 0
        assert state["events"][1].status == 206 and state["events"][1].range_start == first.received
    finally:
        server.stop()


def test_s3_stopping_mid_stream_cuts_the_response_and_charges_what_was_received(shop, databases, backend,
                                                                                 tmp_path):
    data = os.urandom(SIZE)
    path = shop.stored_file("alice-1", data)
    licence = shop.entitlement("buyer", "alice-1", downloads_per_asset=1, bytes_allowed=2 * SIZE)
    proxy = Proxy(shop.live.app.config["S3_ENDPOINT"]).start()
    server = start_gateway(shop, databases, backend, tmp_path, endpoint=proxy.endpoint)
    try:
        token = buyer_token(shop, server)
        cut = RawGet(server.url, path, token)
        assert cut.status == 200
        cut.read(8 * MIB)
        proxy.kill()  # S3 is gone for the app; what its sockets already hold still arrives
        cut.read()
        cut.close()
        assert cut.ended and cut.received < SIZE, "the response was not cut"
        state = wait_for(shop.live.app, licence, settled, "the stream did not settle after S3 stopped")

        (event,) = state["events"]
        assert event.bytes_sent == cut.received == state["used"]  # the client read to the end: all it was sent
        assert event.status == 502 and event.counted is True
        assert state["reserved"] == 0 and len(state["visits"]) == 1
        print(f"\n[{backend}] S3 stopped: the client received {cut.received} B of {SIZE}, settled {event.bytes_sent} B")

        # S3 back: the rest comes as the same download.
        proxy.start()
        rest = resume(server, path, token, cut, data)
        state = wait_for(shop.live.app, licence, lambda s: len(s["events"]) == 2 and settled(s), "no second settle")
        assert state["used"] == SIZE == cut.received + rest.received and len(state["visits"]) == 1
    finally:
        server.stop()
        proxy.kill()


def test_a_killed_app_leaves_its_reservation_to_the_reaper_which_charges_only_what_was_observed(
        shop, celery_worker, databases, backend, tmp_path):
    size = 2 * gateway.HEARTBEAT_BYTES  # a heartbeat half way, and half the file still to come
    path = shop.stored_file("alice-1", size)
    licence = shop.entitlement("buyer", "alice-1", downloads_per_asset=1, bytes_allowed=size)
    server = start_gateway(shop, databases, backend, tmp_path, SDX_DOWNLOAD_RESERVATION_SECONDS=4)
    try:
        stream = RawGet(server.url, path, buyer_token(shop, server))
        assert stream.status == 200
        while not ledger(shop.live.app, licence)["reservations"][0].bytes_observed:  # read on to a heartbeat
            assert stream.read(stream.received + MIB) < size, "the stream ended without a heartbeat"
        stream.stalled()
        server.kill()
        stream.read()
        stream.close()
        assert stream.ended and stream.received < size, "the kill did not cut the response"
    finally:
        server.stop()

    state = ledger(shop.live.app, licence)
    (held,) = state["reservations"]
    assert held.settled_at is None and state["reserved"] == size and state["used"] == 0 and state["events"] == []
    observed = held.bytes_observed
    assert 0 < observed <= stream.received  # a heartbeat never reports more than reached the client

    with shop.live.app.app_context():  # not before it expires
        assert quotas.reap_expired(now=held.expires_at - dt.timedelta(seconds=1)) == 0
        db.session.remove()
    while utcnow() <= held.expires_at:
        time.sleep(0.2)
    with celery_worker.app_context():
        reap_reservations.delay()  # the beat task, on a real worker
    state = wait_for(shop.live.app, licence, settled, "the reaper did not settle the reservation")
    (reaped,) = state["reservations"]
    (event,) = state["events"]
    assert reaped.settled_at is not None and state["reserved"] == 0
    assert state["used"] == observed == event.bytes_sent  # nothing that was not observed sent
    assert event.rule == "reaped" and event.status == 0 and event.counted is True
    assert len(state["visits"]) == 1
    print(f"\n[{backend}] app killed: the client received {stream.received} B, the last heartbeat observed "
          f"{observed} B, the reaper charged {state['used']} B")
