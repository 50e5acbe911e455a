"""Where a webhook may be sent: the guard against server-side request forgery (SSRF).

A webhook makes the platform send requests to a URL a customer chose, from inside our network. So
the URL must be ``https://`` without credentials, and every address its host resolves to must be a
public one: no loopback, private, link-local, multicast, reserved or unspecified address, nor one
of those hidden in an IPv6 form (IPv4-mapped, 6to4, Teredo, NAT64). The check runs when an endpoint
is registered and again before each delivery (DNS answers change), and the delivery connects to an
address that was checked, so a second DNS answer cannot slip in between. With
``WEBHOOKS_ALLOW_PRIVATE`` (tests, closed networks) private addresses and ``http://`` are allowed.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
#: NAT64's well-known prefix (RFC 6052): the last 32 bits are an IPv4 address.
NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedURL(ValueError):
    """Not a URL a webhook may be sent to; the message says why, for the person who gave it."""


class UnresolvedHost(RefusedURL):
    """The host has no address right now (a delivery retries; a registration is refused)."""


@dataclass(frozen=True)
class Destination:
    """A checked URL: where to connect (``addresses``, in the resolver's order) and what to say to it
    (``host``, ``target``)."""

    scheme: str
    host: str  # as written, for the Host header, SNI and the certificate check
    port: int
    target: str  # path and query
    addresses: tuple[str, ...]  # the checked IP addresses the request may go to
    netloc: str


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo client, NAT64), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(ip: IPAddress) -> str | None:
    """Why a webhook may not be sent to ``ip`` (None: it is a public address)."""
    inner = _embedded_ipv4(ip)
    if inner is not None:
        reason = address_refusal(inner)
        return f"{reason} (inside the IPv6 address {ip})" if reason else None
    for test, name in (("is_unspecified", "unspecified"), ("is_loopback", "loopback"),
                       ("is_link_local", "link-local"), ("is_multicast", "multicast"),
                       ("is_private", "private"), ("is_reserved", "reserved")):
        if getattr(ip, test):
            return f"{ip} is a {name} address"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return None


def _split(url: str, allow_private: bool):
    if len(url) > MAX_URL_LENGTH:
        raise RefusedURL(f"must be at most {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 32 for c in url):  # urlsplit would drop some silently
        raise RefusedURL("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RefusedURL(f"is not a valid URL ({exc})") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme.lower() not in schemes:
        raise RefusedURL("must be an https:// URL" if not allow_private else "must be an http(s):// URL")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise RefusedURL("must not contain credentials (user:password@); authenticate with the signature")
    if not parts.hostname:
        raise RefusedURL("must name a host")
    if port == 0:
        raise RefusedURL("must not name port 0")
    return parts, port


def _addresses(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvedHost(f"the host {host} does not resolve ({exc})") from None
    # A scoped IPv6 answer ("fe80::1%eth0") is link-local anyway; its address is what counts.
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos))


def check(url: str, *, allow_private: bool) -> Destination:
    """The destination of ``url`` if a webhook may be sent there; ``RefusedURL`` saying why not.
    Every address the host resolves to must pass (an attacker may publish one good, one bad)."""
    parts, port = _split(url, allow_private)
    scheme = parts.scheme.lower()
    port = port or (443 if scheme == "https" else 80)
    host = parts.hostname
    addresses = _addresses(host, port)
    if not addresses:
        raise UnresolvedHost(f"the host {host} has no address")
    if not allow_private:
        for ip in addresses:
            reason = address_refusal(ip)
            if reason:
                raise RefusedURL(f"must not lead to a loopback, private or link-local address: {reason}")
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    return Destination(scheme=scheme, host=host, port=port, target=target, addresses=tuple(map(str, addresses)),
                       netloc=parts.netloc)
