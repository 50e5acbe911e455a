"""Asset hrefs the platform rendered, sent back by a client (a GET-then-PUT or PATCH round trip).

Items are served with each stored file's href rewritten to its download route. Stored as it is,
such a URL would replace the file name or object of the asset with a link to the platform itself,
and the file would be lost to the item. So a URL that the platform would route to a download is
never stored: for the same item and asset key it stands for the stored href, which is kept; for
anything else (another product's file, or an asset with nothing stored) it is refused.

A hostile provider would spell the URL so that a naive comparison misses it: another case, port or
scheme, user info, another spelling of the host, ``..`` and ``%2e`` segments, percent-encoding,
doubled slashes. So the URL is resolved as a browser would (host, dot segments) and then as the
server would (decoding, the router itself), on the platform's public host and on the host the
request came to.
"""
from __future__ import annotations

import socket
from collections.abc import Callable
from functools import lru_cache
from urllib.parse import unquote, urlsplit

from flask import current_app, has_request_context, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from exchange.catalog.stac import is_web_link, pointer

DOWNLOAD_ENDPOINT = "gateway.download_asset"  # the href the catalogue serves; metering routes it
#: Segments a browser reads as ``.`` and ``..`` (the WHATWG URL standard decodes ``%2e`` there).
DOT_SEGMENTS = {".", "%2e"}
DOUBLE_DOT_SEGMENTS = {"..", ".%2e", "%2e.", "%2e%2e"}


def _host(name: str | None) -> str:
    """A host name as a browser resolves it: percent-decoded, IDNA-normalised (full-width and
    upper-case letters), without a trailing dot, an IPv4 address in dotted decimal (``127.1``,
    ``0x7f.0.0.1`` and ``2130706433`` are ``127.0.0.1``)."""
    host = unquote(name or "").rstrip(".")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return host.lower()


def platform_roots() -> tuple[tuple[str, str], ...]:
    """(host name, path prefix) of the platform's public address and of the address of this request."""
    return _roots(current_app.config["PUBLIC_BASE_URL"], request.root_url if has_request_context() else None)


@lru_cache(maxsize=64)
def _roots(*urls: str | None) -> tuple[tuple[str, str], ...]:
    return tuple((_host(urlsplit(url).hostname), urlsplit(url).path.rstrip("/")) for url in urls if url)


def _without_dot_segments(path: str) -> str:
    """The path as a client sends it: ``.`` and ``..`` segments resolved (RFC 3986 §5.2.4)."""
    segments = path.replace("\\", "/").split("/")
    kept = [""]
    for number, segment in enumerate(segments[1:], 1):
        last = number == len(segments) - 1
        if segment.lower() in DOUBLE_DOT_SEGMENTS:
            if len(kept) > 1:
                kept.pop()
        elif segment.lower() not in DOT_SEGMENTS:
            kept.append(segment)
            continue
        if last:
            kept.append("")
    return "/".join(kept) or "/"


def _route(path: str) -> tuple[str, str, str] | None:
    """(collection, item, asset key) if the router sends this decoded path to a download."""
    adapter = current_app.url_map.bind("platform.invalid")
    for _ in range(3):  # the router redirects a path with doubled slashes to the merged one
        try:
            endpoint, values = adapter.match(path, method="GET")
        except RequestRedirect as moved:
            path = unquote(urlsplit(moved.new_url).path)
            continue
        except HTTPException:
            return None
        return (values["cid"], values["iid"], values["key"]) if endpoint == DOWNLOAD_ENDPOINT else None
    return None


def download_target(href: object, roots: tuple[tuple[str, str], ...]) -> tuple[str, str, str] | None:
    """(collection, item, asset key) if ``href`` is a URL of the platform's download route (on one
    of the ``platform_roots()``)."""
    # The route ends in "download", maybe percent-encoded: most hrefs stop at this cheap test.
    if not isinstance(href, str) or ("download" not in href and "%" not in href) or not is_web_link(href):
        return None
    parts = urlsplit(href)
    host, path = _host(parts.hostname), _without_dot_segments(parts.path)
    for root_host, prefix in roots:
        if host == root_host and path.startswith(prefix + "/"):
            target = _route(unquote(path[len(prefix):]))
            if target is not None:
                return target
    return None


def restore_stored_hrefs(doc: dict, collection_id: str, stored: Callable[[], dict] | None
                         ) -> tuple[dict, set[str], list[dict]]:
    """``doc`` with the stored href back in each asset whose href is this item's own download URL
    for the same key; the keys restored; an error for every other download URL of the platform.
    ``stored`` gives the stored item's assets (called once, only if needed); None when creating."""
    assets = doc.get("assets")
    if not isinstance(assets, dict):
        return doc, set(), []
    restored, errors, stored_assets, roots = {}, [], None, platform_roots()
    for key, asset in assets.items():
        target = download_target(asset.get("href"), roots) if isinstance(asset, dict) else None
        if target is None:
            continue
        field = pointer("assets", key, "href")
        if target != (collection_id, doc.get("id"), key):
            errors.append({"field": field, "message": "is SDX's download URL of another asset "
                           f"({'/'.join(target)}): an item may not point at another product's file"})
            continue
        if stored_assets is None:
            stored_assets = (stored() if stored is not None else {}) or {}
        kept = stored_assets.get(key)
        if not isinstance(kept, dict) or "href" not in kept:
            errors.append({"field": field, "message": "is SDX's download URL of this asset, but SDX stores no "
                           "file for it: send the name of the file to upload or an external http(s) URL"})
            continue
        restored[key] = dict(asset, href=kept["href"])
    if not restored:
        return doc, set(), errors
    return {**doc, "assets": {**assets, **restored}}, set(restored), errors
