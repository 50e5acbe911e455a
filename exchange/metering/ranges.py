"""Which bytes of a stored file a GET answers with (RFC 9110 §13–14): ``Range``, ``If-Range`` and
``If-None-Match`` against the file's strong ETag (its SHA-256).

One range (``bytes=a-b``, ``a-``, ``-n``) is answered 206 with exactly those bytes. A request for
several ranges is answered 200 with the whole file, as RFC 9110 allows a server to ignore ``Range``:
a multipart/byteranges body would be a second wire format for what one ranged request per part
already does. A ``Range`` that is not ``bytes=…`` or does not parse is ignored the same way.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

#: One range spec: ASCII digits only (``\d`` would take other scripts' digits), at most 19 of them (a
#: 64-bit offset): a longer number is no range this server holds, and the header is ignored.
_SPEC = re.compile(r"^[ \t]*([0-9]{0,19})[ \t]*-[ \t]*([0-9]{0,19})[ \t]*$")


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``start``..``end`` (inclusive) of a file of ``size`` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end}/{self.size}"


class Unsatisfiable(Exception):
    """The range asks for no byte the file has: 416 with ``Content-Range: bytes */size``."""

    def __init__(self, size: int) -> None:
        super().__init__(f"bytes */{size}")
        self.size = size


def strong_etag(sha256: str) -> str:
    return f'"{sha256}"'


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """``If-None-Match`` names this file (weak comparison, as RFC 9110 §13.1.2 says): 304."""
    if not if_none_match:
        return False
    return any(tag == "*" or tag.removeprefix("W/") == etag for tag in _tags(if_none_match))


def requested_range(range_header: str | None, if_range: str | None, etag: str, size: int) -> ByteRange | None:
    """The one range to answer with, or None for the whole file; raises ``Unsatisfiable``.

    ``If-Range`` keeps the range only when it is this file's ETag (strong comparison); a date or any
    other tag means "the file changed, send it all"."""
    if not range_header or (if_range is not None and if_range.strip() != etag):
        return None
    unit, _, specs = range_header.partition("=")
    if unit.strip().lower() != "bytes" or "," in specs:
        return None
    match = _SPEC.match(specs)
    if match is None or match.group(0).strip() == "-":
        return None
    first, last = match.groups()
    if first == "":  # the last n bytes
        count = int(last)
        if count == 0 or size == 0:
            raise Unsatisfiable(size)
        return ByteRange(max(size - count, 0), size - 1, size)
    start = int(first)
    if last and int(last) < start:
        return None  # invalid: ignored
    if start >= size:
        raise Unsatisfiable(size)
    end = min(int(last), size - 1) if last else size - 1
    return ByteRange(start, end, size)
