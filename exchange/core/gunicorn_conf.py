"""Production serving: ``gunicorn -c python:exchange.core.gunicorn_conf --bind 0.0.0.0:8000 'app:create_app()'``.

- Threaded workers (gthread) with HTTP keep-alive: a client (or the proxy in front) sends request after
  request over one connection instead of paying a TCP handshake each time, as sync workers made it.
  ``keepalive`` is how long an idle connection is kept: 5 s suits a proxy that reuses its upstream
  connections; raise it past the proxy's own idle timeout if the proxy says so.
- ``WEB_CONCURRENCY`` worker processes (default: one per core the process may use), 8 threads each: a
  search waits on PostgreSQL most of its time, and the threads fill that wait.
- Once a worker has loaded the app, the objects made so far (modules, the app, SQLAlchemy's mappers:
  about 175,000) are frozen out of the cycle collector's reach (``gc.freeze``): a full
  collection then walks only what requests made, instead of taking 90-110 ms on 2 % of searches.
  ``SDX_GC_FREEZE=false`` turns that off (to measure the difference; see bench/catalog_search.py).

Any setting can still be overridden on the command line or in ``GUNICORN_CMD_ARGS``.
"""
from __future__ import annotations

import gc
import os

from exchange.core.config import parse_bool, usable_cores


def freeze_start_up_objects() -> bool:
    """Collect start-up garbage, then freeze what survives; False when ``SDX_GC_FREEZE`` turns it off."""
    if not parse_bool(os.environ.get("SDX_GC_FREEZE", "true")):
        return False
    gc.collect()
    gc.freeze()
    return True


worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY") or usable_cores())
threads = 8
keepalive = 5
timeout = 60
graceful_timeout = 30
accesslog = "-"
control_socket_disable = True  # gunicorn's runtime control socket: not used, and one path for every instance


def post_worker_init(worker) -> None:
    """The worker has just loaded the app (gunicorn loads it in each worker unless ``--preload``)."""
    freeze_start_up_objects()


def when_ready(server) -> None:
    """With ``--preload`` the app is loaded in the master: freezing there also keeps the workers' forked
    pages shared (a collection no longer writes to the frozen objects' headers)."""
    if server.cfg.preload_app:
        freeze_start_up_objects()
