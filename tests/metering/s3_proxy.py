"""A plain TCP proxy, run as a process of its own, that the fault tests put between the app and S3:
SIGKILL it and every S3 connection of the app breaks at once, as when the S3 server stops, while
the shared test S3 server goes on serving the other tests.

    python tests/metering/s3_proxy.py LISTEN_PORT TARGET_HOST:TARGET_PORT
"""
from __future__ import annotations

import socket
import sys
import threading


def pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(port: int, target: tuple[str, int]) -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    while True:
        client, _ = listener.accept()
        upstream = socket.create_connection(target)
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=pump, args=(source, sink), daemon=True).start()


if __name__ == "__main__":
    host, _, target_port = sys.argv[2].rpartition(":")
    serve(int(sys.argv[1]), (host, int(target_port)))
