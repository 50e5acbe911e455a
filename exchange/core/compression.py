"""Compressed answers (gzip or brotli, as the client's ``Accept-Encoding`` asks) through Flask-Compress.

A limit-10 search page is ~16 KiB of JSON and ~2 KiB gzipped: on the wire, that is most of the answer.
Only whole bodies are compressed: a streamed response (a file sent by ``send_file``, a partial 206
answer to a Range request) goes out as it is, so byte ranges and lengths keep meaning what they say.
Flask-Compress gives a strong ETag a ``:gzip``/``:br`` suffix (another body, another validator) and
answers ``If-None-Match`` with 304 for it; every response gets ``Vary: Accept-Encoding``.
"""
from __future__ import annotations

from flask import Flask
from flask_compress import Compress

from exchange.core.responses import OPENAPI_MEDIA_TYPE

#: Media types (without parameters) worth compressing: the API's JSON family, pages and their assets.
#: Flask-Compress compresses 2xx answers only, so problem details (4xx/5xx, most under 1 KiB) go plain.
COMPRESSED_TYPES = [
    "application/json", "application/geo+json", "application/schema+json",
    OPENAPI_MEDIA_TYPE.split(";")[0], "text/html", "text/css", "text/javascript", "application/javascript",
    "text/plain", "image/svg+xml",
]
#: Below this many bytes the encoding's headers and CPU cost more than they save.
MIN_SIZE = 500


def init_app(app: Flask) -> None:
    """Register last in the factory: Flask runs after-request hooks in reverse, so compression sees the
    final body first and the request metrics' latency includes it."""
    app.config.setdefault("COMPRESS_MIMETYPES", COMPRESSED_TYPES)
    app.config.setdefault("COMPRESS_MIN_SIZE", MIN_SIZE)
    # gzip when a client accepts both with the same weight, or says "*": every HTTP client decodes gzip,
    # not every one brotli (stac-api-validator sends "Accept-Encoding: *" through requests, which reads
    # br only with the brotli package installed). A client that weighs br higher gets br.
    app.config.setdefault("COMPRESS_ALGORITHM", ["gzip", "br"])
    app.config.setdefault("COMPRESS_STREAMS", False)
    Compress(app)  # one instance per app: it keeps the app's settings
